package cassandrastore

import (
	"context"
	"sync"
	"time"
)

// countTimeout bounds one COUNT(*) flight, which runs detached from the
// request that started it (others wait on it).
const countTimeout = 10 * time.Second

// flights coalesces exact counts of one key (a post's likes or comments)
// without ever answering from the past: a caller never joins a count that
// is already running (it may have read the shards before the caller's own
// write landed), only the next one, which starts after the running one
// ends and so after every waiting caller arrived. Under 10,000 likes a
// second on one post, an edge runs at most one COUNT(*) of it at a time
// plus one queued, instead of one per request, and every answer counts
// every write acknowledged before its request asked. Nothing is kept once
// a count has been handed out: this is not a cache.
type flights struct {
	mu sync.Mutex            // guards m and the states in it
	m  map[countKey]*flState // the keys with a count running
}

type countKey struct {
	kind byte // 'l' likes, 'c' comments
	post int64
}

type flState struct {
	running *flight // the count in progress (joined by no one)
	next    *flight // the count that starts when running ends, or nil
}

type flight struct {
	done chan struct{}
	n    int64
	err  error
}

// do returns fn's count as of a moment after the call: its own flight's,
// or the queued one it joins.
func (g *flights) do(ctx context.Context, k countKey, fn func(context.Context) (int64, error)) (int64, error) {
	g.mu.Lock()
	if g.m == nil {
		g.m = map[countKey]*flState{}
	}
	st := g.m[k]
	if st == nil {
		st = &flState{}
		g.m[k] = st
	}
	var wait *flight
	c, lead := st.next, false
	switch {
	case st.running == nil:
		c, lead = &flight{done: make(chan struct{})}, true
		st.running = c
	case st.next == nil:
		c, lead, wait = &flight{done: make(chan struct{})}, true, st.running
		st.next = c
	}
	g.mu.Unlock()

	if !lead {
		select {
		case <-c.done:
			return c.n, c.err
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if wait != nil {
		// Joiners depend on this flight: it waits for its turn even if its
		// own request goes away.
		<-wait.done
		g.mu.Lock()
		if st.next == c {
			st.next = nil
		}
		st.running = c
		g.mu.Unlock()
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), countTimeout)
	c.n, c.err = fn(fctx)
	cancel()
	g.mu.Lock()
	if st.running == c {
		st.running = nil
	}
	if st.running == nil && st.next == nil && g.m[k] == st {
		delete(g.m, k)
	}
	g.mu.Unlock()
	close(c.done)
	if c.err == nil {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
	}
	return c.n, c.err
}
