package push

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
)

// closedFor reads until the socket closes and returns the close frame's
// code and reason.
func (c *client) closedFor() (websocket.StatusCode, string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		_, _, err := c.ws.Read(ctx)
		if err == nil {
			continue
		}
		if errors.Is(err, context.DeadlineExceeded) {
			c.t.Fatal("the socket stayed open")
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("closed without a close frame: %v", err)
		}
		return ce.Code, ce.Reason
	}
}

// open dials with ticket and says hello; the socket is then ready.
func (e *env) open(ticket string) *client {
	e.t.Helper()
	c := e.dialTicket(ticket)
	c.send(`{"type":"hello"}`)
	c.expect("ready")
	return c
}

// refusedWith redeems ticket over plain HTTP and returns the status and
// error code of the refusal.
func (e *env) refusedWith(ticket string) (int, string) {
	e.t.Helper()
	resp, err := http.Get(e.srv.URL + "/v1/ws?ticket=" + ticket)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Error struct{ Code string } }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error.Code
}

// TestCloseUser: after a user's sessions are revoked, CloseUser ends every
// socket of theirs but the kept login's with 1008 "sessions revoked", and no
// other user's; an update before it closes nothing, and one after it still
// reaches the kept socket and the other user. The Closer the accounts
// service holds does the same. A ticket of an ended login issued before the
// revocation opens nothing; a ticket issued after it does.
func TestCloseUser(t *testing.T) {
	e := newEnv(t, nil)
	const u, v, actor = 71, 72, 9
	u1, u2 := e.open(e.ticketAs("Bearer user-71-s1")), e.open(e.ticketAs("Bearer user-71-s2"))
	old := e.open(e.ticket(u)) // a login of unknown session: ends with any CloseUser
	kept := e.open(e.ticketAs("Bearer user-71-s3"))
	vc := e.open(e.ticket(v))
	pending1, pending3 := e.ticketAs("Bearer user-71-s1"), e.ticketAs("Bearer user-71-s3")
	e.publish("follow", actor, u, v)
	for _, c := range []*client{u1, u2, old, kept, vc} {
		c.expect("update") // an update is never a close
	}

	if err := e.h.CloseUser(context.Background(), u, 3); err != nil {
		t.Fatal(err)
	}
	for i, c := range []*client{u1, u2, old} {
		if code, reason := c.closedFor(); code != websocket.StatusPolicyViolation || reason != "sessions revoked" {
			t.Fatalf("U's socket %d closed with %d %q, want 1008 \"sessions revoked\"", i, code, reason)
		}
	}
	waitFor(t, "U's ended sockets to leave the hub", func() bool {
		st := e.h.Stats()
		return st.Users == 2 && st.Sockets == 2
	})
	if st, code := e.refusedWith(pending1); st != 401 || code != "session_revoked" {
		t.Fatalf("a ticket of an ended login: %d %q, want 401 session_revoked", st, code)
	}
	e.open(pending3) // the kept login's ticket still opens
	time.Sleep(2 * time.Millisecond)
	e.open(e.ticketAs("Bearer user-71-s4")) // a login made after: its ticket opens
	ev := e.publish("comment", actor, u, v)
	for _, c := range []*client{kept, vc} {
		if f := c.expect("update"); f.Event != strconv.FormatInt(ev.ID, 10) || f.Seq == 0 {
			t.Fatalf("got %+v, want the update of event %d", f, ev.ID)
		}
	}

	if err := NewCloser(e.bus, e.h.cfg.SubjectPrefix).CloseUser(context.Background(), v, 0); err != nil {
		t.Fatal(err)
	}
	if code, reason := vc.closedFor(); code != websocket.StatusPolicyViolation || reason != "sessions revoked" {
		t.Fatalf("V's socket closed with %d %q, want 1008 \"sessions revoked\"", code, reason)
	}
}

// TestCloseSession: a logout ends the sockets of that login only, on every
// edge (1008 "session ended"), and its tickets not yet used; the user's
// other devices keep theirs and still get updates.
func TestCloseSession(t *testing.T) {
	e := newEnv(t, nil)
	const u, v, actor = 81, 82, 9
	a1, a2 := e.open(e.ticketAs("Bearer user-81-s10")), e.open(e.ticketAs("Bearer user-81-s10"))
	b := e.open(e.ticketAs("Bearer user-81-s11"))
	untagged := e.open(e.ticket(u))
	pendingA, pendingB := e.ticketAs("Bearer user-81-s10"), e.ticketAs("Bearer user-81-s11")

	if err := NewCloser(e.bus, e.h.cfg.SubjectPrefix).CloseSession(context.Background(), u, 10); err != nil {
		t.Fatal(err)
	}
	for i, c := range []*client{a1, a2} {
		if code, reason := c.closedFor(); code != websocket.StatusPolicyViolation || reason != "session ended" {
			t.Fatalf("the ended login's socket %d closed with %d %q, want 1008 \"session ended\"", i, code, reason)
		}
	}
	if st, code := e.refusedWith(pendingA); st != 401 || code != "session_revoked" {
		t.Fatalf("a ticket of the ended login: %d %q, want 401 session_revoked", st, code)
	}
	e.open(pendingB)
	ev := e.publish("comment", actor, u, v)
	for _, c := range []*client{b, untagged} {
		if f := c.expect("update"); f.Event != strconv.FormatInt(ev.ID, 10) {
			t.Fatalf("a socket of another login got %+v, want the update of event %d", f, ev.ID)
		}
	}
}

// TestRevocationsBounded: past Max users remembered, a revocation raises a
// floor instead: every ticket issued before it is refused, whoever's (fail
// closed), and everything is forgotten one TicketTTL on.
func TestRevocationsBounded(t *testing.T) {
	clk := &clock{time.Unix(1_700_000_000, 0)}
	rv := newRevocations(30*time.Second, 1, clk.now)
	at := clk.t.UnixMilli()
	rv.add(revocation{User: 1, Session: 5, At: at})
	rv.add(revocation{User: 2, All: true, At: at})
	before := clk.t.Add(-time.Second)
	for _, c := range []claims{{uid: 1, session: 5, issued: before}, {uid: 2, session: 7, issued: before}, {uid: 3, issued: before}} {
		if !rv.refuses(c) {
			t.Errorf("%+v: not refused", c)
		}
	}
	if !rv.refuses(claims{uid: 3, issued: clk.t}) {
		t.Error("a ticket issued at the floor's millisecond was not refused")
	}
	after := clk.t.Add(time.Millisecond)
	if rv.refuses(claims{uid: 3, issued: after}) {
		t.Error("a ticket issued after the floor was refused")
	}
	if !rv.refuses(claims{uid: 1, session: 5, issued: clk.t}) {
		t.Error("a ticket of user 1's ended login, issued at the floor, was not refused")
	}
	if rv.refuses(claims{uid: 1, session: 6, issued: after}) {
		t.Error("another login of user 1 was refused")
	}
	clk.t = clk.t.Add(30 * time.Second)
	rv.sweep()
	if rv.refuses(claims{uid: 1, session: 5, issued: clk.t}) {
		t.Error("a revocation was remembered past the ticket TTL")
	}
}

// TestLegacyCloseObeyed: during a rolling upgrade, an edge of the version
// before revocations had their own subject closes a user's sockets with a
// message on the user's live subject; this version takes it as every
// session of the user revoked.
func TestLegacyCloseObeyed(t *testing.T) {
	e := newEnv(t, nil)
	const u = 91
	c := e.open(e.ticketAs("Bearer user-91-s7"))
	pending := e.ticketAs("Bearer user-91-s7")
	m := &nats.Msg{Subject: liveSubject(e.h.cfg.SubjectPrefix, u), Header: nats.Header{legacyCloseHeader: {legacyCloseAll}}}
	nc := e.bus.JetStream().Conn()
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if code, reason := c.closedFor(); code != websocket.StatusPolicyViolation || reason != "sessions revoked" {
		t.Fatalf("closed with %d %q, want 1008 \"sessions revoked\"", code, reason)
	}
	if st, code := e.refusedWith(pending); st != 401 || code != "session_revoked" {
		t.Fatalf("a ticket issued before the close: %d %q, want 401 session_revoked", st, code)
	}
}
