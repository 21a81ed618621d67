package users

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoginLimits: the pair bucket and the account bucket are taken
// together or not at all; a given-back attempt is usable again, never
// beyond the burst; guesses in flight at once cannot overdraw a bucket.
func TestLoginLimits(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLoginLimits(Limit{Every: 30 * time.Second, Burst: 2}, Limit{Every: 3 * time.Second, Burst: 3}, 100)
	for i := range 2 {
		if d := l.take("alice", "x", now); d != 0 {
			t.Fatalf("attempt %d from x refused (%v)", i, d)
		}
	}
	if d := l.take("alice", "x", now); d != 30*time.Second {
		t.Fatalf("3rd attempt from x: wait %v, want 30s", d)
	}
	if d := l.take("alice", "y", now); d != 0 {
		t.Fatalf("y refused (%v): x's failures locked it out", d)
	}
	// The account bucket is empty now: z's own bucket must not be spent.
	if d := l.take("alice", "z", now); d != 3*time.Second {
		t.Fatalf("4th attempt at alice: wait %v, want 3s", d)
	}
	l.giveBack("alice", "y") // y's password was right
	if d := l.take("alice", "z", now); d != 0 {
		t.Fatalf("z after y's give-back refused (%v)", d)
	}
	if d := l.take("alice", "z", now); d != 3*time.Second {
		t.Fatalf("z again: wait %v, want 3s", d)
	}
	for range 5 {
		l.giveBack("bob", "x")
	}
	if d := l.take("bob", "x", now); d != 0 {
		t.Fatal("bob refused")
	}
	l.giveBack("bob", "x")
	for range 5 {
		l.giveBack("bob", "x") // capped at the burst
	}
	var ok atomic.Int64
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if l.take("bob", fmt.Sprint("w", i), now) == 0 {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 3 {
		t.Fatalf("%d of 50 concurrent attempts at bob allowed, want the account's burst of 3", ok.Load())
	}
}
