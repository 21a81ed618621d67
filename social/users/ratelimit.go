package users

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/time/rate"
)

// limiters is one token bucket per key (an account or a client address) in
// a bounded LRU, so a flood of new keys costs memory up to the bound and no
// more. An entry expires after its bucket's refill time without use: by
// then it would be full again, so forgetting it changes nothing.
type limiters struct {
	lim Limit
	mu  sync.Mutex // guards get-or-create in lru, so one key never gets two buckets
	lru *expirable.LRU[string, *rate.Limiter]
}

func newLimiters(l Limit, size int) *limiters {
	ttl := max(l.refill(), time.Minute)
	// The expirable LRU runs one cleanup goroutine for its life (v2.0.7
	// has no way to stop it): two per Handler, built once per process.
	return &limiters{lim: l, lru: expirable.NewLRU[string, *rate.Limiter](size, nil, ttl)}
}

// take spends one attempt of key at now. It returns 0 when allowed, else
// how long until an attempt is allowed again (nothing is spent then).
func (s *limiters) take(key string, now time.Time) time.Duration {
	s.mu.Lock()
	l, ok := s.lru.Get(key)
	if !ok {
		l = rate.NewLimiter(s.lim.rate(), s.lim.Burst)
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

// clientAddr is the default Config.ClientAddr: RemoteAddr's host, an IPv6
// address cut to its /64 (one subscriber usually has a whole /64, so
// limiting single addresses would give an attacker 2^64 of them).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}

// accountKey is the per-account limiter key of a login name as typed:
// normalised like usernames, and bounded, so that names that cannot exist
// are limited too (a limit only on real accounts would tell which exist).
func accountKey(name string) string {
	k := normaliseUsername(name)
	if len(k) > 64 {
		k = k[:64]
	}
	return k
}
