package ratelimit

import (
	"testing"
	"time"
)

// TestLimiters: a burst, then one per interval; a refused attempt spends
// nothing; an idle key is forgotten only when it would be full again.
func TestLimiters(t *testing.T) {
	l := New(Limit{Every: 10 * time.Second, Burst: 3}, 2)
	now := time.Unix(1000, 0)
	for i := range 3 {
		if d := l.Take("a", now); d != 0 {
			t.Fatalf("attempt %d refused (%v)", i, d)
		}
	}
	if d := l.Take("a", now); d != 10*time.Second {
		t.Fatalf("4th attempt: wait %v, want 10s", d)
	}
	if d := l.Take("a", now.Add(5*time.Second)); d != 5*time.Second {
		t.Fatalf("refusals must not spend: wait %v, want 5s", d)
	}
	if d := l.Take("a", now.Add(10*time.Second)); d != 0 {
		t.Fatalf("after the interval: wait %v", d)
	}
	// Other keys have their own buckets; the LRU holds 2, so "a" may go,
	// which only ever gives it a full bucket: the bound on memory.
	if d := l.Take("b", now); d != 0 {
		t.Fatal("b refused")
	}
	if l.lru.Len() > 2 {
		t.Fatalf("%d limiters kept, bound 2", l.lru.Len())
	}
}

// TestRefundable: a burst, then one per interval; a refused attempt spends
// nothing; an attempt given back is there again, never past the burst.
func TestRefundable(t *testing.T) {
	l := NewRefundable[string](Limit{Every: 10 * time.Second, Burst: 2}, 2)
	now := time.Unix(1000, 0)
	if l.Take("a", now) != 0 || l.Take("a", now) != 0 {
		t.Fatal("burst refused")
	}
	if d := l.Take("a", now); d != 10*time.Second {
		t.Fatalf("3rd attempt: wait %v, want 10s", d)
	}
	l.GiveBack("a")
	if d := l.Take("a", now); d != 0 {
		t.Fatalf("after a give-back: wait %v", d)
	}
	l.GiveBack("b") // unknown: nothing to do, and b starts full
	l.GiveBack("a")
	l.GiveBack("a")
	l.GiveBack("a")
	for i := range 2 {
		if d := l.Take("a", now); d != 0 {
			t.Fatalf("attempt %d after give-backs refused (%v)", i, d)
		}
	}
	if d := l.Take("a", now.Add(5*time.Second)); d != 5*time.Second {
		t.Fatalf("give-backs went past the burst, or refill is wrong: wait %v, want 5s", d)
	}
	l.Take("b", now)
	l.Take("c", now)
	if l.lru.Len() > 2 {
		t.Fatalf("%d buckets kept, bound 2", l.lru.Len())
	}
}
