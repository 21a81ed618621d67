package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediaedge/mediaedge/social/events"
)

// A revocation is the accounts service telling every edge that logins
// ended: one session (a logout), or every session of a user but one (a
// password change keeps the session that made it; a log-out-everywhere
// keeps none). It travels on one fleet-wide core-NATS subject,
// SubjectPrefix.revoke, that every gateway subscribes to: a user's live
// subject would reach only the edges holding a socket of theirs, and a
// ticket issued before the revocation may still be redeemed on any edge.
// Each edge then
//   - closes the matching sockets it holds (1008), and
//   - refuses, for one TicketTTL, the matching tickets issued before it
//     (401 session_revoked), so no socket opens after a revocation from a
//     ticket of a login that ended.
//
// Logouts are rare next to updates, so every edge hearing every one costs
// little. Core NATS is at most once: a revocation lost on the way leaves
// that edge's sockets open until they end otherwise (see the package doc).
type revocation struct {
	User int64 `json:"user"`
	// Session, when not 0, is the one login that ended.
	Session uint64 `json:"session,omitempty"`
	// All: every login of User ended but Except's (0: none kept).
	All    bool   `json:"all,omitempty"`
	Except uint64 `json:"except,omitempty"`
	// At is when the accounts service revoked (unix ms): All refuses the
	// tickets issued before it.
	At int64 `json:"at"`
}

// matches says whether a socket or ticket of the given login ends with r.
// A login of unknown tag (0: a ticket of the first format) ends only with
// All.
func (r revocation) matches(session uint64) bool {
	if r.All {
		return session == 0 || session != r.Except
	}
	return session != 0 && session == r.Session
}

func revokeSubject(prefix string) string { return prefix + ".revoke" }

// legacyCloseHeader marked a close on a user's live subject before
// revocations had a subject of their own; the version that sent it sent
// only legacyCloseAll (a password change or a log-out-everywhere).
const (
	legacyCloseHeader = "Mediaedge-Close"
	legacyCloseAll    = "sessions-revoked"
)

// legacyClose takes a close published on a user's live subject by an edge
// of the version before revocations had their own subject (a rolling
// upgrade): it meant every session of the user, and is obeyed as a
// revocation of them all, so a thief's socket here does not outlive a
// password change made through an old edge. A stored update is never one
// (it carries Nats-Sequence). It reports whether m was such a close.
func (h *Handler) legacyClose(m *nats.Msg, prefix string) bool {
	if m.Header.Get(legacyCloseHeader) != legacyCloseAll || m.Header.Get(jetstream.SequenceHeader) != "" {
		return false
	}
	uid, err := strconv.ParseInt(strings.TrimPrefix(m.Subject, prefix), 10, 64)
	if err != nil || uid == 0 {
		return true
	}
	r := revocation{User: uid, All: true, At: h.cfg.Now().UnixMilli()}
	h.revoked.add(r)
	h.hub.closeMatching(uid, r.matches, errRevoked)
	return true
}

// ErrSessionRevoked answers a ticket whose login ended after it was issued.
var ErrSessionRevoked = errors.New("push: the ticket's session was revoked")

var errSessionEnded = &closeError{websocket.StatusPolicyViolation, "session ended"}

// Closer publishes revocations; it needs only the bus, so the accounts
// service, which the gateway authenticates tickets with and is therefore
// built before it, can hold one. Its methods are the users.Sockets
// interface.
type Closer struct {
	nc     *nats.Conn
	prefix string
	now    func() time.Time
}

// NewCloser publishes on the bus's own connection; subjectPrefix must be
// the gateways' Config.SubjectPrefix.
func NewCloser(bus *events.Bus, subjectPrefix string) *Closer {
	return &Closer{nc: bus.JetStream().Conn(), prefix: subjectPrefix, now: time.Now}
}

// CloseSession ends the sockets opened with tickets of one login of uid,
// on every edge, and its tickets not yet used.
func (c *Closer) CloseSession(ctx context.Context, uid int64, session uint64) error {
	if session == 0 {
		return nil // a login without a tag has no ticket of its own to end
	}
	return c.publish(ctx, revocation{User: uid, Session: session, At: c.now().UnixMilli()})
}

// CloseUser ends every socket and unused ticket of uid on every edge but
// those of the login except (0: all of them): once a password change or a
// log-out-everywhere has revoked the user's sessions, a stolen token's
// socket ends with them.
func (c *Closer) CloseUser(ctx context.Context, uid int64, except uint64) error {
	return c.publish(ctx, revocation{User: uid, All: true, Except: except, At: c.now().UnixMilli()})
}

func (c *Closer) publish(ctx context.Context, r revocation) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("push: encode revocation: %w", err)
	}
	if err := c.nc.Publish(revokeSubject(c.prefix), data); err != nil {
		return fmt.Errorf("push: revoke the sockets of %d: %w", r.User, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second) // FlushWithContext wants a deadline
	defer cancel()
	if err := c.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("push: revoke the sockets of %d: flush: %w", r.User, err)
	}
	return nil
}

// CloseSession is Closer.CloseSession on the gateway's connection.
func (h *Handler) CloseSession(ctx context.Context, uid int64, session uint64) error {
	return h.closer().CloseSession(ctx, uid, session)
}

// CloseUser is Closer.CloseUser on the gateway's connection.
func (h *Handler) CloseUser(ctx context.Context, uid int64, except uint64) error {
	return h.closer().CloseUser(ctx, uid, except)
}

func (h *Handler) closer() *Closer {
	return &Closer{nc: h.nc, prefix: h.cfg.SubjectPrefix, now: h.cfg.Now}
}

// onRevoke is the revocation subscription's handler: remember, then close.
// Remembering first means a socket racing its own ticket's redemption is
// either refused at the upgrade or registered in the hub before the close
// looks there (serveWS checks the revocations after hub.add).
func (h *Handler) onRevoke(m *nats.Msg) {
	var r revocation
	if err := json.Unmarshal(m.Data, &r); err != nil || r.User == 0 || (!r.All && r.Session == 0) {
		h.log.Warn("revocation ignored: malformed", "err", err)
		return
	}
	h.revoked.add(r)
	cause := errSessionEnded
	if r.All {
		cause = errRevoked
	}
	h.hub.closeMatching(r.User, r.matches, cause)
}

// revocations are the ones heard in the last TicketTTL, by user: a ticket
// issued before one of them (issued + TicketTTL > now) may still be
// redeemed, and must not be.
type revocations struct {
	ttl time.Duration
	max int // bound on the users remembered
	now func() time.Time

	mu    sync.Mutex               // guards users and floor
	users map[int64][]timedRevoked // user -> revocations younger than ttl
	// floor: when the map was full, every ticket issued before it is
	// refused, whoever's (fail closed; the clients ask for a new ticket).
	floor time.Time
}

type timedRevoked struct {
	r    revocation
	seen time.Time // when this process heard it: forgotten at seen + ttl
}

func newRevocations(ttl time.Duration, max int, now func() time.Time) *revocations {
	return &revocations{ttl: ttl, max: max, now: now, users: make(map[int64][]timedRevoked)}
}

func (rv *revocations) add(r revocation) {
	now := rv.now()
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if _, ok := rv.users[r.User]; !ok && len(rv.users) >= rv.max {
		rv.sweepLocked(now)
		if len(rv.users) >= rv.max {
			if at := time.UnixMilli(r.At); at.After(rv.floor) {
				rv.floor = at
			}
			return
		}
	}
	rv.users[r.User] = append(rv.users[r.User], timedRevoked{r: r, seen: now})
}

// refuses says whether a redeemed ticket's login ended after it was issued.
// The issue time comes from the ticket's expiry and this process's
// TicketTTL; the fleet shares that setting and its clocks (NTP).
func (rv *revocations) refuses(c claims) bool {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	// "Issued before" includes the revocation's own millisecond (tickets
	// carry milliseconds): a ticket of that instant is refused, and its
	// client asks for another.
	if !rv.floor.IsZero() && !c.issued.After(rv.floor) {
		return true
	}
	for _, t := range rv.users[c.uid] {
		if t.r.matches(c.session) && (!t.r.All || !c.issued.After(time.UnixMilli(t.r.At))) {
			return true
		}
	}
	return false
}

// sweep forgets the revocations older than a ticket's life.
func (rv *revocations) sweep() {
	now := rv.now()
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.sweepLocked(now)
}

func (rv *revocations) sweepLocked(now time.Time) {
	for uid, ts := range rv.users {
		kept := ts[:0]
		for _, t := range ts {
			if now.Sub(t.seen) < rv.ttl {
				kept = append(kept, t)
			}
		}
		if len(kept) == 0 {
			delete(rv.users, uid)
		} else {
			rv.users[uid] = kept
		}
	}
}
