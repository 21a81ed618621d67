package users

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
)

// loginLimits are the two per-account buckets of a login: one per account
// and client address (LoginPerAccountAddress, tight) and one per account
// from every address together (LoginPerAccount, ten times looser).
//
// A login takes one attempt from both before anything costs, and gives
// both back when the password was right (or never checked), so only
// failures drain them. Taking first and giving back, rather than checking
// first and charging a failure after the hash, keeps the limit exact under
// concurrency: N guesses in flight at once hold N attempts, where N checks
// of one remaining attempt would all pass.
//
// The tight bucket is keyed by address too, so failures from one address
// never lock the account for another: that lockout was a denial of service
// anyone could aim at any user. The loose one still bounds a guesser
// spread over many addresses.
//
// social/ratelimit cannot give an attempt back, and chat uses it, so these
// buckets are their own, bounded the same way.
type loginLimits struct {
	fromAddr, all *failBuckets
}

func newLoginLimits(perAccountAddress, perAccount Limit, size int) *loginLimits {
	return &loginLimits{fromAddr: newFailBuckets(perAccountAddress, size), all: newFailBuckets(perAccount, size)}
}

// take takes one attempt at account from addr out of both buckets, or out
// of neither: it returns 0 when taken, else how long until the bucket that
// refused has one again.
func (l *loginLimits) take(account, addr string, now time.Time) time.Duration {
	pair, acct := loginKey{account, addr}, loginKey{account: account}
	if wait := l.fromAddr.take(pair, now); wait > 0 {
		return wait
	}
	if wait := l.all.take(acct, now); wait > 0 {
		l.fromAddr.giveBack(pair)
		return wait
	}
	return 0
}

// giveBack returns what take took, for an attempt that did not fail.
func (l *loginLimits) giveBack(account, addr string) {
	l.fromAddr.giveBack(loginKey{account, addr})
	l.all.giveBack(loginKey{account: account})
}

// loginKey is an account (accountKey) and a client address, empty in the
// account-wide bucket; a struct, so no name and address run into each other.
type loginKey struct{ account, addr string }

// failBuckets is one token bucket per key, at most size keys, whose
// attempts can be given back. An entry expires after its bucket's refill
// time without a take: by then it would be full again, so forgetting it
// changes nothing; evicting an entry early only ever gives a full bucket.
type failBuckets struct {
	lim Limit
	mu  sync.Mutex // guards the lru's get-or-create and every bucket in it
	lru *expirable.LRU[loginKey, *bucket]
}

// bucket holds tokens attempts as of at; it refills by one each Every, up
// to Burst.
type bucket struct {
	tokens float64
	at     time.Time
}

func newFailBuckets(l Limit, size int) *failBuckets {
	// As in social/ratelimit: the expirable LRU runs one cleanup goroutine
	// for its life, so build these once per handler.
	return &failBuckets{lim: l, lru: expirable.NewLRU[loginKey, *bucket](size, nil, max(l.Refill(), time.Minute))}
}

// take spends one attempt of key at now. It returns 0 when allowed, else
// how long until an attempt is allowed again (nothing is spent then).
func (f *failBuckets) take(key loginKey, now time.Time) time.Duration {
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

// giveBack returns one attempt to key's bucket. An entry gone meanwhile
// needs nothing: a new one starts full.
func (f *failBuckets) giveBack(key loginKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.lru.Peek(key); ok {
		b.tokens = min(float64(f.lim.Burst), b.tokens+1)
	}
}
