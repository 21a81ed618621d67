package ratelimit

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
)

// Refundable is one token bucket per key, at most size keys, whose attempts
// can be given back: a caller takes one before the work, and returns it
// when the attempt should not count (a login whose password was right).
// Taking first and giving back, rather than checking first and charging
// afterwards, keeps the limit exact under concurrency: N attempts in
// flight hold N tokens, where N checks of one remaining token would all
// pass.
//
// Not x/time/rate, as Keyed is: a rate.Reservation's CancelAt restores its
// token only when cancelled at the time it acted, and the work between the
// take and the give-back (an argon2 hash) takes time.
//
// An entry expires after its bucket's refill time without a take: by then
// it would be full again, so forgetting it changes nothing; evicting one
// early only ever gives a full bucket.
type Refundable[K comparable] struct {
	lim Limit
	mu  sync.Mutex // guards the lru's get-or-create and every bucket in it
	lru *expirable.LRU[K, *bucket]
}

// bucket holds tokens attempts as of at; it refills by one each Every, up
// to Burst.
type bucket struct {
	tokens float64
	at     time.Time
}

// NewRefundable returns buckets of l for up to size keys. As with New, the
// expirable LRU runs one cleanup goroutine for its life: build these once.
func NewRefundable[K comparable](l Limit, size int) *Refundable[K] {
	return &Refundable[K]{lim: l, lru: expirable.NewLRU[K, *bucket](size, nil, max(l.Refill(), time.Minute))}
}

// Take spends one attempt of key at now. It returns 0 when allowed, else
// how long until an attempt is allowed again (nothing is spent then).
func (f *Refundable[K]) Take(key K, now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.lru.Get(key)
	if !ok {
		b = &bucket{tokens: float64(f.lim.Burst), at: now}
	}
	f.lru.Add(key, b) // (re)starts the entry's expiry: it lapses only when idle
	if now.After(b.at) {
		b.tokens = min(float64(f.lim.Burst), b.tokens+float64(now.Sub(b.at))/float64(f.lim.Every))
		b.at = now
	}
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) * float64(f.lim.Every))
	}
	b.tokens--
	return 0
}

// GiveBack returns one attempt to key's bucket. An entry gone meanwhile
// needs nothing: a new one starts full.
func (f *Refundable[K]) GiveBack(key K) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.lru.Peek(key); ok {
		b.tokens = min(float64(f.lim.Burst), b.tokens+1)
	}
}
