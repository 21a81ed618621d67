package edgecache

import (
	"fmt"
	"math"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Evictor is the recency/frequency structure of one disk: it decides which
// entries leave when the disk's bytes exceed its budget. It is not safe for
// concurrent use; the Cache guards each one with its index lock.
type Evictor interface {
	// Add records a new entry and returns the keys to evict so the total stays
	// within budget. The new key itself is only evicted when it alone exceeds the
	// budget. Adding a key that is present updates its size.
	Add(key string, size int64) (evicted []string)
	// Hit records an access.
	Hit(key string)
	// Remove forgets key (purge, replace, disk going offline).
	Remove(key string)
	// Len and Bytes are the entries and bytes held.
	Len() int
	Bytes() int64
}

// NewEvictor returns the policy p over a budget in bytes.
func NewEvictor(p Policy, budget int64) (Evictor, error) {
	switch p {
	case PolicyLRU:
		return newLRU(budget), nil
	case PolicyS3FIFO:
		return newS3FIFO(budget), nil
	}
	return nil, fmt.Errorf("new evictor: unknown policy %q", p)
}

// lruEvictor is golang-lru/v2's simplelru, used for recency only: it is given an
// unreachable entry count and evicted by bytes here, because the library counts
// entries and our budget is in bytes.
type lruEvictor struct {
	l      *simplelru.LRU[string, int64]
	budget int64
	bytes  int64
}

func newLRU(budget int64) *lruEvictor {
	l, err := simplelru.NewLRU[string, int64](math.MaxInt32, nil)
	if err != nil { // only for a size <= 0
		panic(err)
	}
	return &lruEvictor{l: l, budget: budget}
}

func (e *lruEvictor) Add(key string, size int64) []string {
	if old, ok := e.l.Peek(key); ok {
		e.bytes -= old
	}
	e.l.Add(key, size)
	e.bytes += size
	var out []string
	for e.bytes > e.budget {
		k, v, ok := e.l.GetOldest()
		if !ok {
			break
		}
		if k == key && e.l.Len() > 1 {
			// Cannot happen with Add moving key to the front; kept for safety.
			break
		}
		e.l.Remove(k)
		e.bytes -= v
		out = append(out, k)
	}
	return out
}

func (e *lruEvictor) Hit(key string) { e.l.Get(key) }

func (e *lruEvictor) Remove(key string) {
	if v, ok := e.l.Peek(key); ok {
		e.l.Remove(key)
		e.bytes -= v
	}
}

func (e *lruEvictor) Len() int     { return e.l.Len() }
func (e *lruEvictor) Bytes() int64 { return e.bytes }
