package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/mediaedge/mediaedge/internal/cassandratest"
	"github.com/mediaedge/mediaedge/internal/testenv"
)

// TestChatEndToEnd is issue #11's property test on the real binary: three
// senders send 1,000 messages each into one group, with random retries of
// the same client_msg_id; one edge is killed with SIGKILL half-way and
// restarted. Every member's socket must then have seen seqs 1..3000
// exactly once and in order (reconnecting with the last update seq it
// saw), and history paging must return the same 3000 messages, each
// client message id once.
//
// On the embedded store there is one edge (Pebble is one process's); on
// Cassandra two edges share the keyspace and an external nats-server, and
// the senders are spread over both.
func TestChatEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	common := []string{"--push-key", hex.EncodeToString(key), "--chat-send-rate", "100000"}
	t.Run("embedded", func(t *testing.T) {
		e := newChatEdge(t, bin, common...)
		chatProperty(t, []*chatEdge{e}, 1000)
	})
	t.Run("cassandra", func(t *testing.T) {
		hosts := cassandratest.Hosts(t)
		ks := cassandratest.Keyspace(t, hosts)
		nats := startNATS(t)
		args := append([]string{"--store", "cassandra", "--cassandra-hosts", strings.Join(hosts, ","),
			"--cassandra-keyspace", ks, "--nats-url", nats, "--nats-replicas", "1"}, common...)
		a := newChatEdge(t, bin, append(args, "--node-id", "1")...)
		b := newChatEdge(t, bin, append(args, "--node-id", "2")...)
		chatProperty(t, []*chatEdge{a, b}, 1000)
	})
}

// chatEdge is one serve process that can be killed and restarted on the
// same data folder (at a new port).
type chatEdge struct {
	t    *testing.T
	bin  string
	dir  string
	args []string
	mu   sync.Mutex
	s    *served
}

func newChatEdge(t *testing.T, bin string, args ...string) *chatEdge {
	e := &chatEdge{t: t, bin: bin, dir: t.TempDir(), args: args}
	e.s = startServe(t, bin, e.dir, args...)
	return e
}

func (e *chatEdge) base() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.s.base
}

// crash kills the process with SIGKILL and starts it again.
func (e *chatEdge) crash() {
	e.mu.Lock()
	old := e.s
	e.mu.Unlock()
	_ = old.cmd.Process.Signal(os.Kill)
	<-old.exited
	s := startServe(e.t, e.bin, e.dir, e.args...)
	e.mu.Lock()
	e.s = s
	e.mu.Unlock()
}

// startNATS runs a nats-server with JetStream on a free loopback port,
// built from the module go.mod already requires.
func startNATS(t *testing.T) string {
	t.Helper()
	goBin := testenv.Tool(t, "go")
	bin := filepath.Join(t.TempDir(), "nats-server")
	if out, err := exec.Command(goBin, "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
		t.Fatalf("build nats-server: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", t.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server did not listen: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// call is one JSON request that reports failures instead of failing the
// test: senders run on their own goroutines and retry.
func call(ctx context.Context, method, url, token string, in any) (int, []byte, error) {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// memberSocket records, for one member, the conversation seqs its socket
// delivered, reconnecting (to any edge, with the last update seq it saw)
// whenever the socket breaks.
type memberSocket struct {
	c       *socialClient
	conv    string
	edges   []*chatEdge
	mu      sync.Mutex
	seqs    []int64
	resyncs int
	last    int64 // the user's update stream position
}

func (m *memberSocket) got() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int64(nil), m.seqs...)
}

func (m *memberSocket) run(ctx context.Context, start int) {
	for attempt := start; ctx.Err() == nil; attempt++ {
		m.session(ctx, m.edges[attempt%len(m.edges)].base())
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// session is one socket's life: ticket, hello with since, frames until it
// breaks.
func (m *memberSocket) session(ctx context.Context, base string) {
	st, b, err := call(ctx, "POST", base+"/v1/ws/ticket", m.c.token, nil)
	if err != nil || st != 201 {
		return
	}
	var tk struct{ Ticket string }
	_ = json.Unmarshal(b, &tk)
	ws, _, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/v1/ws?ticket="+tk.Ticket, nil)
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	m.mu.Lock()
	hello := map[string]any{"type": "hello", "since": m.last}
	m.mu.Unlock()
	if err := wsjson.Write(ctx, ws, hello); err != nil {
		return
	}
	for {
		var f struct {
			Type string
			Seq  int64
			Kind string
			Data struct {
				Conv string `json:"conversation_id"`
				Seq  int64  `json:"seq"`
			}
		}
		if err := wsjson.Read(ctx, ws, &f); err != nil {
			return
		}
		m.mu.Lock()
		switch {
		case f.Type == "resync":
			m.resyncs++
		case f.Type == "update" && f.Seq > 0:
			m.last = f.Seq
			if f.Kind == "message" && f.Data.Conv == m.conv {
				m.seqs = append(m.seqs, f.Data.Seq)
			}
		}
		m.mu.Unlock()
	}
}

func chatProperty(t *testing.T, edges []*chatEdge, perSender int) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	base := edges[0].base()
	senders := []*socialClient{signUp(t, base, "sender1"), signUp(t, base, "sender2"), signUp(t, base, "sender3")}
	reader := signUp(t, base, "reader")
	members := append(append([]*socialClient{}, senders...), reader)
	var ids []string
	for _, m := range members[1:] {
		ids = append(ids, m.id)
	}
	st, conv := jsonCall(t, "POST", base+"/v1/conversations", senders[0].token, map[string]any{"member_ids": ids, "title": "property"})
	if st != 201 {
		t.Fatalf("create group: %d %v", st, conv)
	}
	convID := conv["id"].(string)

	sctx, stopSockets := context.WithCancel(ctx)
	defer stopSockets()
	var wg sync.WaitGroup
	socks := make([]*memberSocket, len(members))
	for i, m := range members {
		socks[i] = &memberSocket{c: m, conv: convID, edges: edges}
		wg.Add(1)
		go func() { defer wg.Done(); socks[i].run(sctx, i) }()
	}
	time.Sleep(500 * time.Millisecond) // let the sockets register; a late one replays from since 0 anyway

	total := len(senders) * perSender
	var acked atomic.Int64
	crashAt := int64(total / 2)
	crashed := make(chan struct{})
	type result struct {
		seq int64
		id  string
	}
	results := make([]map[string]result, len(senders))
	errs := make(chan error, len(senders))
	for si, snd := range senders {
		results[si] = make(map[string]result, perSender)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(si), 7))
			for i := range perSender {
				cmid := fmt.Sprintf("%s-%d", snd.id, i)
				body := map[string]any{"client_msg_id": cmid, "text": fmt.Sprintf("message %d of sender %d", i, si)}
				tries := 1
				if rng.IntN(10) == 0 {
					tries = 2 // a client that retries after a lost answer
				}
				for n := 0; n < tries; {
					edge := edges[(si+i+n)%len(edges)]
					st, b, err := call(ctx, "POST", edge.base()+"/v1/conversations/"+convID+"/messages", snd.token, body)
					if ctx.Err() != nil {
						errs <- fmt.Errorf("sender %d: %v", si, ctx.Err())
						return
					}
					if err != nil || st >= 500 || st == 409 || st == 429 {
						time.Sleep(50 * time.Millisecond) // edge down or busy: the same send again
						continue
					}
					var msg struct {
						Seq int64
						ID  string
					}
					if st/100 != 2 || json.Unmarshal(b, &msg) != nil || msg.Seq < 1 {
						errs <- fmt.Errorf("sender %d message %d: %d %s", si, i, st, b)
						return
					}
					if prev, ok := results[si][cmid]; ok && prev != (result{msg.Seq, msg.ID}) {
						errs <- fmt.Errorf("retry of %s answered seq %d id %s, first %d %s", cmid, msg.Seq, msg.ID, prev.seq, prev.id)
						return
					} else if !ok {
						results[si][cmid] = result{msg.Seq, msg.ID}
						if acked.Add(1) == crashAt {
							close(crashed)
						}
					}
					n++
				}
			}
		}()
	}
	start := time.Now()
	select {
	case <-crashed:
		edges[len(edges)-1].crash()
		t.Logf("edge %d killed with SIGKILL and restarted after %d acknowledged sends (%.1fs)", len(edges)-1, crashAt, time.Since(start).Seconds())
	case <-ctx.Done():
	}
	// Wait for the senders (not the sockets: they run until stopped).
	sendersDone := make(chan struct{})
	go func() {
		for acked.Load() < int64(total) && ctx.Err() == nil && len(errs) == 0 {
			time.Sleep(50 * time.Millisecond)
		}
		close(sendersDone)
	}()
	<-sendersDone
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	seen := map[int64]string{}
	for si := range senders {
		for cmid, r := range results[si] {
			if other, dup := seen[r.seq]; dup {
				t.Fatalf("seq %d answered for %s and %s", r.seq, other, cmid)
			}
			seen[r.seq] = cmid
		}
	}
	for seq := int64(1); seq <= int64(total); seq++ {
		if _, ok := seen[seq]; !ok {
			t.Fatalf("no send was answered seq %d (of %d)", seq, total)
		}
	}

	// Every socket: 1..total, once each, in order.
	deadline := time.Now().Add(3 * time.Minute)
	for i, s := range socks {
		for len(s.got()) < total && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		got := s.got()
		for j, seq := range got {
			if seq != int64(j+1) {
				t.Fatalf("member %d's socket: delivery %d was seq %d (want %d); %d delivered, %d resyncs", i, j, seq, j+1, len(got), s.resyncs)
			}
		}
		if len(got) != total {
			t.Fatalf("member %d's socket saw %d of %d messages (%d resyncs)", i, len(got), total, s.resyncs)
		}
	}
	stopSockets()
	t.Logf("%d sends acknowledged, each socket saw 1..%d in order (%.1fs)", total, total, time.Since(start).Seconds())

	// History, paged forwards 200 at a time from the other edge.
	hbase := edges[len(edges)-1].base()
	var after int64
	cmids := map[string]bool{}
	for after < int64(total) {
		st, b, err := call(ctx, "GET", fmt.Sprintf("%s/v1/conversations/%s/messages?after_seq=%d&limit=200", hbase, convID, after), reader.token, nil)
		if err != nil || st != 200 {
			t.Fatalf("history after %d: %d %v %s", after, st, err, b)
		}
		var page struct {
			Items []struct {
				Seq         int64
				ClientMsgID string `json:"client_msg_id"`
			}
		}
		if err := json.Unmarshal(b, &page); err != nil || len(page.Items) == 0 {
			t.Fatalf("history after %d: %v %s", after, err, b)
		}
		for _, it := range page.Items {
			if it.Seq != after+1 {
				t.Fatalf("history: seq %d after %d", it.Seq, after)
			}
			if cmids[it.ClientMsgID] || seen[it.Seq] != it.ClientMsgID {
				t.Fatalf("history seq %d is %s, answered to %s", it.Seq, it.ClientMsgID, seen[it.Seq])
			}
			cmids[it.ClientMsgID] = true
			after = it.Seq
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("ran out of time")
	}
	cancel()
	wg.Wait()
}
