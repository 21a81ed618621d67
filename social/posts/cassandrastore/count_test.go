package cassandrastore

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFlightsNeverStale: callers that wrote before asking always get a
// count that includes their write, though they share flights.
func TestFlightsNeverStale(t *testing.T) {
	var g flights
	var written, runs atomic.Int64
	count := func(context.Context) (int64, error) {
		runs.Add(1)
		n := written.Load() // the "read" happens at the flight's start
		time.Sleep(time.Millisecond)
		return n, nil
	}
	k := countKey{'l', 1}
	var wg sync.WaitGroup
	const callers = 64
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				mine := written.Add(1)
				n, err := g.do(context.Background(), k, count)
				if err != nil || n < mine {
					t.Errorf("count %d %v after write number %d", n, err, mine)
					return
				}
			}
		}()
	}
	wg.Wait()
	if r := runs.Load(); r >= callers*20 {
		t.Errorf("%d flights for %d counts: nothing coalesced", r, callers*20)
	}
	if len(g.m) != 0 {
		t.Errorf("%d flight states left", len(g.m))
	}
}
