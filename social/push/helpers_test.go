package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/events"
)

// TestMain fails the package if a goroutine outlives the tests: the
// gateway, its sockets and the bus must end all of theirs on Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeAuth takes "Bearer user-<id>" as user id, with no session tag, and
// "Bearer user-<id>-s<tag>" as that user's login <tag>.
type fakeAuth struct{}

func (f fakeAuth) Authenticate(ctx context.Context, r *http.Request) (int64, error) {
	uid, _, err := f.AuthenticateSession(ctx, r)
	return uid, err
}

func (fakeAuth) AuthenticateSession(_ context.Context, r *http.Request) (int64, uint64, error) {
	id, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer user-")
	id, tag, tagged := strings.Cut(id, "-s")
	uid, err := strconv.ParseInt(id, 10, 64)
	var session uint64
	if tagged && err == nil {
		session, err = strconv.ParseUint(tag, 10, 64)
	}
	if !ok || err != nil {
		return 0, 0, &httperr.Error{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "no session"}
	}
	return uid, session, nil
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

// env is a bus, a gateway and an HTTP server in front of it.
type env struct {
	t   *testing.T
	bus *events.Bus
	h   *Handler
	srv *httptest.Server
	ids atomic.Int64
}

func newEnv(t *testing.T, mutate func(*Config)) *env {
	t.Helper()
	bc := events.DefaultConfig()
	bc.Dir = t.TempDir()
	bus, err := events.Open(context.Background(), bc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Bus, cfg.Auth, cfg.TicketKey = bus, fakeAuth{}, testKey
	cfg.Fanout.Backoff = []time.Duration{20 * time.Millisecond}
	cfg.Fanout.AckWait = 5 * time.Second
	cfg.HelloWait = 5 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	h, err := New(context.Background(), cfg)
	if err != nil {
		bus.Close()
		t.Fatal(err)
	}
	e := &env{t: t, bus: bus, h: h, srv: httptest.NewServer(h)}
	e.ids.Store(1000)
	t.Cleanup(e.close)
	return e
}

// close ends everything in order; a second call does nothing.
func (e *env) close() {
	if e.srv == nil {
		return
	}
	e.srv.Close()
	e.h.Close()
	e.bus.Close()
	e.srv = nil
}

// ticket asks for a ticket as uid.
func (e *env) ticket(uid int64) string {
	e.t.Helper()
	return e.ticketAs(fmt.Sprintf("Bearer user-%d", uid))
}

// ticketAs asks for a ticket with the given Authorization.
func (e *env) ticketAs(auth string) string {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/ws/ticket", nil)
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Ticket string }
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&body) != nil || body.Ticket == "" {
		e.t.Fatalf("ticket: status %d", resp.StatusCode)
	}
	return body.Ticket
}

// dial opens a socket as uid and sends hello (since 0: without since).
func (e *env) dial(uid int64, since uint64) *client {
	e.t.Helper()
	c := e.dialTicket(e.ticket(uid))
	hello := `{"type":"hello"}`
	if since > 0 {
		hello = fmt.Sprintf(`{"type":"hello","since":%d}`, since)
	}
	c.send(hello)
	return c
}

// dialTicket opens a socket with ticket and sends nothing.
func (e *env) dialTicket(ticket string) *client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/v1/ws?ticket=" + ticket
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	e.t.Cleanup(func() { ws.CloseNow() })
	return &client{t: e.t, ws: ws}
}

// frame is any server frame.
type frame struct {
	Type  string          `json:"type"`
	Seq   uint64          `json:"seq"`
	Kind  string          `json:"kind"`
	Event string          `json:"event"`
	Actor string          `json:"actor"`
	Data  json.RawMessage `json:"data"`
}

type client struct {
	t  *testing.T
	ws *websocket.Conn
}

func (c *client) send(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// next reads one frame, failing after 10s.
func (c *client) next() frame {
	c.t.Helper()
	f, err := c.read(10 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

func (c *client) read(d time.Duration) (frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return frame{}, err
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		return frame{}, fmt.Errorf("frame %q: %w", b, err)
	}
	return f, nil
}

// expect reads the next frame and checks its type.
func (c *client) expect(typ string) frame {
	c.t.Helper()
	f := c.next()
	if f.Type != typ {
		c.t.Fatalf("got frame %+v, want type %q", f, typ)
	}
	return f
}

// closedWith reads until the socket closes and returns its close code.
func (c *client) closedWith() websocket.StatusCode {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		_, _, err := c.ws.Read(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				c.t.Fatal("the socket stayed open")
			}
			return websocket.CloseStatus(err)
		}
	}
}

// publish puts an event on the bus as the relay would (Nats-Msg-Id = id).
func (e *env) publish(kind string, actor int64, to ...int64) events.Event {
	e.t.Helper()
	ev := events.Event{ID: e.ids.Add(1), Kind: kind, Actor: actor, To: to,
		Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, e.ids.Load())), At: time.Now().UTC()}
	b, err := events.Encode(ev)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.bus.JetStream().Publish(ctx, e.bus.Subject(kind), b, jetstream.WithMsgID(ev.MsgID())); err != nil {
		e.t.Fatal(err)
	}
	return ev
}

// stored waits until the update stream holds n updates for uid and
// returns their sequences.
func (e *env) stored(uid int64, n int) []uint64 {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var seqs []uint64
		for next := uint64(1); ; {
			m, err := e.h.stream.GetMsg(context.Background(), next, jetstream.WithGetMsgSubject(e.h.updSubject(uid)))
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				break
			}
			if err != nil {
				e.t.Fatal(err)
			}
			seqs = append(seqs, m.Sequence)
			next = m.Sequence + 1
		}
		if len(seqs) >= n {
			return seqs
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("user %d has %d updates, want %d", uid, len(seqs), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
