// Package ratelimit is keyed token buckets for the social services: one
// bucket per key (an account, a client address, a sender) in a bounded
// LRU, so a flood of new keys costs memory up to the bound and no more.
// Keyed's buckets are golang.org/x/time/rate's; this package only adds the
// keying and the bound. Refundable's can give an attempt back (logins
// count only failures), which x/time/rate cannot do after the fact.
package ratelimit

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/time/rate"
)

// Limit is a token bucket: Burst attempts at once, refilled at Every.
type Limit struct {
	Every time.Duration // one attempt is regained each Every
	Burst int
}

// Valid reports whether the limit can be used: a positive interval and a
// burst of at least one.
func (l Limit) Valid() bool { return l.Every > 0 && l.Burst >= 1 }

// Refill is how long an emptied bucket takes to fill again: an idle
// limiter older than that is the same as a new one.
func (l Limit) Refill() time.Duration { return time.Duration(l.Burst) * l.Every }

// Keyed is one bucket per key, at most size keys remembered. An entry
// expires after its bucket's refill time without use: by then it would be
// full again, so forgetting it changes nothing.
type Keyed struct {
	lim Limit
	mu  sync.Mutex // guards get-or-create in lru, so one key never gets two buckets
	lru *expirable.LRU[string, *rate.Limiter]
}

// New returns buckets of l for up to size keys.
func New(l Limit, size int) *Keyed {
	ttl := max(l.Refill(), time.Minute)
	// The expirable LRU runs one cleanup goroutine for its life (v2.0.7
	// has no way to stop it): build one Keyed per process and limit.
	return &Keyed{lim: l, lru: expirable.NewLRU[string, *rate.Limiter](size, nil, ttl)}
}

// Take spends one attempt of key at now. It returns 0 when allowed, else
// how long until an attempt is allowed again (nothing is spent then).
func (s *Keyed) Take(key string, now time.Time) time.Duration {
	s.mu.Lock()
	l, ok := s.lru.Get(key)
	if !ok {
		l = rate.NewLimiter(rate.Every(s.lim.Every), s.lim.Burst)
	}
	s.lru.Add(key, l) // (re)starts the entry's expiry: it lapses only when idle
	s.mu.Unlock()
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}
