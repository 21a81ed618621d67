package users

import (
	"time"

	"github.com/mediaedge/mediaedge/social/ratelimit"
)

// loginLimits are the two per-account buckets of a login: one per account
// and client address (LoginPerAccountAddress, tight) and one per account
// from every address together (LoginPerAccount, ten times looser).
//
// A login takes one attempt from both before anything costs, and gives
// both back when the password was right (or never checked), so only
// failures drain them (ratelimit.Refundable says why take-then-give-back).
//
// The tight bucket is keyed by address too, so failures from one address
// never lock the account for another: that lockout was a denial of service
// anyone could aim at any user. The loose one still bounds a guesser
// spread over many addresses.
type loginLimits struct {
	fromAddr, all *ratelimit.Refundable[loginKey]
}

func newLoginLimits(perAccountAddress, perAccount Limit, size int) *loginLimits {
	return &loginLimits{fromAddr: ratelimit.NewRefundable[loginKey](perAccountAddress, size), all: ratelimit.NewRefundable[loginKey](perAccount, size)}
}

// take takes one attempt at account from addr out of both buckets, or out
// of neither: it returns 0 when taken, else how long until the bucket that
// refused has one again.
func (l *loginLimits) take(account, addr string, now time.Time) time.Duration {
	pair, acct := loginKey{account, addr}, loginKey{account: account}
	if wait := l.fromAddr.Take(pair, now); wait > 0 {
		return wait
	}
	if wait := l.all.Take(acct, now); wait > 0 {
		l.fromAddr.GiveBack(pair)
		return wait
	}
	return 0
}

// giveBack returns what take took, for an attempt that did not fail.
func (l *loginLimits) giveBack(account, addr string) {
	l.fromAddr.GiveBack(loginKey{account, addr})
	l.all.GiveBack(loginKey{account: account})
}

// loginKey is an account (accountKey) and a client address, empty in the
// account-wide bucket; a struct, so no name and address run into each other.
type loginKey struct{ account, addr string }
