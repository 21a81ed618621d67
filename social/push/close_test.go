package push

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"
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

// TestCloseUser: after a user's sessions are revoked, CloseUser ends every
// socket of theirs with 1008 "sessions revoked" and no other user's; an
// update before it closes nothing, and one after it still reaches the
// other user. The Closer the accounts service holds does the same.
func TestCloseUser(t *testing.T) {
	e := newEnv(t, nil)
	const u, v, actor = 71, 72, 9
	u1, u2, vc := e.dial(u, 0), e.dial(u, 0), e.dial(v, 0)
	for _, c := range []*client{u1, u2, vc} {
		c.expect("ready")
	}
	e.publish("follow", actor, u, v)
	for _, c := range []*client{u1, u2, vc} {
		c.expect("update") // an update is never a close
	}

	if err := e.h.CloseUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	for i, c := range []*client{u1, u2} {
		if code, reason := c.closedFor(); code != websocket.StatusPolicyViolation || reason != "sessions revoked" {
			t.Fatalf("U's socket %d closed with %d %q, want 1008 \"sessions revoked\"", i, code, reason)
		}
	}
	waitFor(t, "U's sockets to leave the hub", func() bool {
		st := e.h.Stats()
		return st.Users == 1 && st.Sockets == 1
	})
	ev := e.publish("comment", actor, u, v)
	if f := vc.expect("update"); f.Event != strconv.FormatInt(ev.ID, 10) || f.Seq == 0 {
		t.Fatalf("V got %+v, want the update of event %d", f, ev.ID)
	}

	if err := NewCloser(e.bus, e.h.cfg.SubjectPrefix).CloseUser(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	if code, reason := vc.closedFor(); code != websocket.StatusPolicyViolation || reason != "sessions revoked" {
		t.Fatalf("V's socket closed with %d %q, want 1008 \"sessions revoked\"", code, reason)
	}
}
