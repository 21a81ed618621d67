package users

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/mediaedge/mediaedge/social/ids"
	"github.com/mediaedge/mediaedge/social/ratelimit"
)

// Config is everything the handler needs; the composition root fills it.
type Config struct {
	// Store holds accounts, sessions and the graph (required).
	Store Store
	// IDs makes user and event ids (required; one per process, its node
	// unique in the fleet).
	IDs *ids.Generator
	// MediaExists, when set, is asked whether an avatar's media id names a
	// stored file before a profile takes it; nil accepts any well-formed id.
	MediaExists func(ctx context.Context, id string) (bool, error)
	// Hasher hashes and checks passwords; nil is Argon2{DefaultArgon2Params()}.
	Hasher Hasher
	// HashConcurrency bounds the password hashes computed at once (each
	// takes the hasher's memory, 64 MiB by default); 0 is the number of CPUs.
	HashConcurrency int
	// HashWait is how long a login or sign-up waits for a hashing slot
	// before it is answered 503 with Retry-After.
	HashWait time.Duration
	// SessionTTL is how long a session token stays valid (not sliding).
	SessionTTL time.Duration
	// MaxBody caps a JSON request body; larger ones are answered 413.
	MaxBody int64
	// MaxFollowing caps the users one account may follow (0: no cap). It
	// also bounds the size of a user's "following" partition.
	MaxFollowing int
	// LoginPerAddress limits login attempts per client address, right or
	// wrong; it also covers sign-ups, which hash a password too.
	// LoginPerAccountAddress limits failed logins per username (existing
	// or not) from one client address, and LoginPerAccount failed logins
	// per username from all addresses together. Keying the tight limit by
	// address too means one address's failures never lock the account for
	// its owner elsewhere (a lockout anyone could trigger); the looser
	// account-wide one still bounds a guesser spread over many addresses.
	// All three are checked before any hash; a login whose password was
	// right gives its attempt back to both per-account limits.
	LoginPerAddress, LoginPerAccountAddress, LoginPerAccount Limit
	// Limiters caps the number of accounts, addresses and (account,
	// address) pairs whose limiter is remembered, each (an LRU; idle
	// entries expire once full again).
	Limiters int
	// ClientAddr returns the client address a request is limited by; nil
	// takes RemoteAddr's host (an IPv6 address by its /64). Set it when a
	// trusted proxy in front sets the real address in a header.
	ClientAddr func(r *http.Request) string `json:"-"`
	// Now is the clock; nil is time.Now. Tests move it.
	Now func() time.Time `json:"-"`
	// Notify, when set, is called after every write that put an event in
	// the outbox (the relay's Notify), so the event is published at once
	// instead of at the relay's next poll.
	Notify func() `json:"-"`
	// Sockets, when set, closes live sockets on every edge (push.Closer or
	// push.Handler): a logout's, by the session's tag; and all of a
	// user's once a password change (but the requester's) or a
	// log-out-everywhere has revoked their sessions, so an open socket of
	// a stolen token ends with them. A failure is logged, not answered:
	// the sessions are revoked already. nil closes none.
	Sockets Sockets `json:"-"`
	// Logger receives request failures; nil is slog.Default().
	Logger *slog.Logger `json:"-"`
}

// Sockets ends a user's live sockets: the part of the push gateway this
// service uses.
type Sockets interface {
	// CloseSession closes the sockets opened with tickets of one login
	// (the tag AuthenticateSession gave).
	CloseSession(ctx context.Context, userID int64, session uint64) error
	// CloseUser closes every socket of userID but those of the login
	// except (0: all).
	CloseUser(ctx context.Context, userID int64, except uint64) error
}

// Limit is a token bucket: Burst attempts at once, refilled at Every.
type Limit = ratelimit.Limit

// DefaultConfig has the defaults of everything but Store and IDs.
func DefaultConfig() Config {
	return Config{
		HashConcurrency: runtime.NumCPU(),
		HashWait:        5 * time.Second,
		SessionTTL:      30 * 24 * time.Hour,
		MaxBody:         64 << 10,
		MaxFollowing:    7500,
		// An office or carrier NAT shares an address: 30 at once, then one
		// a second. 1000 a second from one address hash 30 times, not 1000.
		LoginPerAddress: Limit{Every: time.Second, Burst: 30},
		// 10 failures at once, then one every 30 s (120 an hour), per
		// account and address: plenty for a person who mistypes, nothing
		// for guessing one account's password from one address.
		LoginPerAccountAddress: Limit{Every: 30 * time.Second, Burst: 10},
		// Ten times that for the account from everywhere (100, then one
		// every 3 s): a guesser on many addresses gets 100 tries, then 1200
		// an hour, and keeping the owner out takes 10 or more addresses
		// failing without pause, each held to one try per 30 s.
		LoginPerAccount: Limit{Every: 3 * time.Second, Burst: 100},
		Limiters:        100_000,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("users: a store is required"))
	}
	if c.IDs == nil {
		errs = append(errs, errors.New("users: an id generator is required"))
	}
	if c.HashConcurrency < 0 {
		errs = append(errs, fmt.Errorf("users: hash concurrency %d: want 0 (the CPUs) or more", c.HashConcurrency))
	}
	if c.HashWait <= 0 {
		errs = append(errs, fmt.Errorf("users: hash wait %v: want a positive duration", c.HashWait))
	}
	if c.SessionTTL < time.Minute {
		errs = append(errs, fmt.Errorf("users: session ttl %v: want a minute or more", c.SessionTTL))
	}
	if c.MaxBody < 1<<10 {
		errs = append(errs, fmt.Errorf("users: max body %d: want at least 1024 bytes", c.MaxBody))
	}
	if c.MaxFollowing < 0 {
		errs = append(errs, fmt.Errorf("users: max following %d: want 0 (no cap) or more", c.MaxFollowing))
	}
	for name, l := range map[string]Limit{"login per account": c.LoginPerAccount, "login per account and address": c.LoginPerAccountAddress, "login per address": c.LoginPerAddress} {
		if !l.Valid() {
			errs = append(errs, fmt.Errorf("users: %s limit %v/%d: want a positive interval and a burst of 1 or more", name, l.Every, l.Burst))
		}
	}
	if c.Limiters < 1 {
		errs = append(errs, fmt.Errorf("users: limiters %d: want 1 or more", c.Limiters))
	}
	if a, ok := c.Hasher.(Argon2); ok {
		if err := a.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Hasher turns passwords into stored hashes and checks them. The handler
// calls it only after the rate limits and within HashConcurrency.
type Hasher interface {
	Hash(password string) (string, error)
	Verify(password, hash string) (bool, error)
}

// Argon2 is the Hasher of argon2id (github.com/alexedwards/argon2id). The
// hash string records its parameters, so raising them later keeps old
// hashes verifiable.
type Argon2 struct{ Params argon2id.Params }

// DefaultArgon2Params are RFC 9106's second recommended option (64 MiB,
// 3 passes, 4 lanes): the library's DefaultParams' memory with three times
// its passes, and a fixed lane count instead of the host's CPU count, so a
// hash costs the same on every edge. See doc.go for why.
func DefaultArgon2Params() argon2id.Params {
	return argon2id.Params{Memory: 64 << 10, Iterations: 3, Parallelism: 4, SaltLength: 16, KeyLength: 32}
}

// Hash hashes a password with a fresh random salt.
func (a Argon2) Hash(password string) (string, error) {
	p := a.Params
	return argon2id.CreateHash(password, &p)
}

// Verify checks a password against a hash in constant time.
func (a Argon2) Verify(password, hash string) (bool, error) {
	return argon2id.ComparePasswordAndHash(password, hash)
}

func (a Argon2) validate() error {
	p := a.Params
	if p.Iterations < 1 || p.Parallelism < 1 || p.SaltLength < 16 || p.KeyLength < 16 || p.Memory < 8*uint32(p.Parallelism) {
		return fmt.Errorf("users: argon2id parameters %+v: want at least 1 pass and 1 lane, 8 KiB of memory per lane, a 16-byte salt and key", p)
	}
	return nil
}
