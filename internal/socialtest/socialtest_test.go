package socialtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/social/events"
)

// probe is a testing.TB that records failures instead of reporting them,
// so the helpers' own failures can be checked.
type probe struct {
	testing.TB
	mu     sync.Mutex // guards failed, msgs
	failed bool
	msgs   []string
}

func (p *probe) Helper() {}
func (p *probe) Failed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}
func (p *probe) Errorf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failed = true
	p.msgs = append(p.msgs, fmt.Sprintf(format, args...))
}
func (p *probe) Fatalf(format string, args ...any) { p.Errorf(format, args...); runtime.Goexit() }
func (p *probe) Fatal(args ...any)                 { p.Errorf("%s", fmt.Sprint(args...)); runtime.Goexit() }

// run runs f with a probe on its own goroutine (Fatal ends it) and
// returns the probe.
func run(t *testing.T, f func(p *probe)) *probe {
	p := &probe{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(p)
	}()
	<-done
	return p
}

func outboxOf(evs ...events.Event) OutboxFunc {
	return func(context.Context) ([]events.Event, error) { return evs, nil }
}

func TestLedger(t *testing.T) {
	mine := []events.Event{{ID: 3, Kind: "a"}, {ID: 1, Kind: "b"}}
	other := events.Event{ID: 2, Kind: "someone else's"}
	for _, c := range []struct {
		name   string
		expect []int64
		outbox []events.Event
		fails  string
	}{
		{"exactly the expected, other events ignored", []int64{1, 3}, append(mine, other), ""},
		{"a missing event", []int64{1, 3, 5}, append(mine, other), "missing: [5]"},
		{"an unexpected event", []int64{1}, append(mine, other), "unexpected: [a 3"},
		{"an event twice", []int64{1, 3}, append(mine, mine[0]), "outbox holds 3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := run(t, func(p *probe) {
				l := NewLedger()
				for _, id := range []int64{1, 3, 5} {
					l.Made(id)
				}
				l.Expect(c.expect...)
				l.Check(p, outboxOf(c.outbox...))
			})
			if got := strings.Join(p.msgs, "\n"); (c.fails == "") != !p.failed || !strings.Contains(got, c.fails) {
				t.Fatalf("failed %v %q, want failure %q", p.failed, got, c.fails)
			}
		})
	}
	// Check says nothing more once the case failed.
	p := run(t, func(p *probe) {
		p.Errorf("earlier")
		l := NewLedger()
		l.Expect(9)
		l.Check(p, outboxOf())
	})
	if len(p.msgs) != 1 {
		t.Fatalf("Check after a failure: %q", p.msgs)
	}
}

func TestPebbleOutbox(t *testing.T) {
	db := Pebble(t)
	put := func(k []byte, e events.Event) {
		raw, err := events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Set(k, raw, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	put(events.OutboxKey(7), events.Event{ID: 7, Kind: "x"})
	put(events.OutboxKey(5), events.Event{ID: 5, Kind: "y"})
	if err := db.Set([]byte("outbox0"), []byte("not an event"), pebble.Sync); err != nil { // past the outbox
		t.Fatal(err)
	}
	evs := ReadOutbox(t, PebbleOutbox(t, db))
	if len(evs) != 2 || evs[0].ID != 5 || evs[1].ID != 7 {
		t.Fatalf("outbox %+v, want 5 and 7 in order", evs)
	}
	put(events.OutboxKey(8), events.Event{ID: 9, Kind: "misplaced"})
	p := run(t, func(p *probe) { ReadOutbox(p, PebbleOutbox(p, db)) })
	if !p.failed || !strings.Contains(strings.Join(p.msgs, ""), "event 9 under key") {
		t.Fatalf("a misplaced event passed: %q", p.msgs)
	}
}

func TestHeaderAuthAndDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uid, err := HeaderAuth{}.Authenticate(r.Context(), r)
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("X-Seen", r.Header.Get("X-Extra")+" "+r.Header.Get("Content-Type"))
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		fmt.Fprintf(w, `{"uid":%d,"body":%q}`, uid, body)
	}))
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		name   string
		uid    int64
		body   any
		status int
		want   string
	}{
		{"no user", 0, nil, 401, ""},
		{"json body", 4, map[string]int{"a": 1}, 200, `{"a":1}`},
		{"raw body", 4, "{not json", 200, "{not json"},
		{"no body", 4, nil, 200, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, m, h := Do(t, "POST", srv.URL, c.uid, c.body, "X-Extra", "x")
			if st != c.status {
				t.Fatalf("status %d, want %d", st, c.status)
			}
			if st == 200 && (m["uid"] != float64(c.uid) || m["body"] != c.want || h.Get("X-Seen") != "x application/json") {
				t.Fatalf("got %v %v", m, h)
			}
		})
	}
	req := httptest.NewRequest("GET", "/", nil)
	for _, v := range []string{"", "0", "-1", "x"} {
		req.Header.Set(UserHeader, v)
		if _, err := (HeaderAuth{}).Authenticate(context.Background(), req); err == nil {
			t.Errorf("user %q authenticated", v)
		}
	}
}
