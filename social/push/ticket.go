package push

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"sync"
	"time"
)

// Ticket errors. All but errTicketsFull are the client's: a 401.
var (
	ErrTicketInvalid = errors.New("push: ticket is malformed or not signed by this fleet")
	ErrTicketExpired = errors.New("push: ticket expired")
	ErrTicketUsed    = errors.New("push: ticket already used")
	errTicketsFull   = errors.New("push: too many tickets in use")
)

// A ticket is base64url(uid 8 | expiry unix ms 8 | nonce 16 | session 8 |
// HMAC-SHA256 of the first 40 bytes). It verifies itself on any edge
// holding the key. The session is the tag of the login the ticket was
// issued to (0: unknown), so that login's end can close its sockets and
// refuse its tickets still unused. A ticket of the first format (no session
// field, 32 bytes signed) is still taken, as session 0, so tickets issued
// by an edge not yet upgraded keep working through a rolling upgrade.
const (
	ticketBodyV1 = 8 + 8 + 16
	ticketBody   = ticketBodyV1 + 8
	ticketLenV1  = ticketBodyV1 + sha256.Size
	ticketLen    = ticketBody + sha256.Size
)

// claims is what a redeemed ticket says.
type claims struct {
	uid     int64
	session uint64    // the login's tag; 0 when unknown
	issued  time.Time // its expiry less this process's TicketTTL
}

// tickets issues and redeems socket tickets.
type tickets struct {
	keys [][]byte // keys[0] signs; every key verifies
	ttl  time.Duration
	now  func() time.Time

	mu        sync.Mutex         // guards used and lastSweep
	used      map[[16]byte]int64 // nonce -> expiry (unix ms) of redeemed tickets
	max       int                // bound on len(used)
	lastSweep time.Time          // when used was last swept of expired nonces
}

func newTickets(key []byte, old [][]byte, ttl time.Duration, max int, now func() time.Time) *tickets {
	keys := append([][]byte{key}, old...)
	return &tickets{keys: keys, ttl: ttl, now: now, used: make(map[[16]byte]int64), max: max}
}

// issue returns a fresh ticket for uid's login session (0: unknown) and
// its expiry.
func (t *tickets) issue(uid int64, session uint64) (string, time.Time) {
	exp := t.now().Add(t.ttl)
	var b [ticketLen]byte
	binary.BigEndian.PutUint64(b[0:], uint64(uid))
	binary.BigEndian.PutUint64(b[8:], uint64(exp.UnixMilli()))
	_, _ = rand.Read(b[16:ticketBodyV1]) // never fails (crypto/rand)
	binary.BigEndian.PutUint64(b[ticketBodyV1:], session)
	copy(b[ticketBody:], sign(t.keys[0], b[:ticketBody]))
	return base64.RawURLEncoding.EncodeToString(b[:]), exp
}

func sign(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)
}

// redeem checks s and marks it used: it returns the ticket's claims once.
func (t *tickets) redeem(s string) (claims, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return claims{}, ErrTicketInvalid
	}
	var body int
	switch len(b) {
	case ticketLen:
		body = ticketBody
	case ticketLenV1:
		body = ticketBodyV1
	default:
		return claims{}, ErrTicketInvalid
	}
	ok := false
	for _, k := range t.keys {
		if hmac.Equal(sign(k, b[:body]), b[body:]) {
			ok = true
			break
		}
	}
	if !ok {
		return claims{}, ErrTicketInvalid
	}
	c := claims{uid: int64(binary.BigEndian.Uint64(b[0:]))}
	if body == ticketBody {
		c.session = binary.BigEndian.Uint64(b[ticketBodyV1:])
	}
	exp := int64(binary.BigEndian.Uint64(b[8:]))
	c.issued = time.UnixMilli(exp).Add(-t.ttl)
	now := t.now()
	if now.UnixMilli() >= exp {
		return claims{}, ErrTicketExpired
	}
	var nonce [16]byte
	copy(nonce[:], b[16:ticketBodyV1])

	t.mu.Lock()
	defer t.mu.Unlock()
	if _, dup := t.used[nonce]; dup {
		return claims{}, ErrTicketUsed
	}
	if len(t.used) >= t.max {
		// Sweep at most once a second: a set full of live nonces must not
		// turn every upgrade into a scan of it.
		if now.Sub(t.lastSweep) >= time.Second || now.Before(t.lastSweep) {
			t.lastSweep = now
			for n, e := range t.used {
				if now.UnixMilli() >= e {
					delete(t.used, n)
				}
			}
		}
		if len(t.used) >= t.max {
			return claims{}, errTicketsFull
		}
	}
	t.used[nonce] = exp
	return c, nil
}

// sweep forgets the nonces of expired tickets; the handler calls it every
// TicketTTL so the set holds one TTL's worth of redemptions.
func (t *tickets) sweep() {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastSweep = now
	for n, e := range t.used {
		if now.UnixMilli() >= e {
			delete(t.used, n)
		}
	}
}

// inUse is the number of remembered nonces.
func (t *tickets) inUse() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.used)
}
