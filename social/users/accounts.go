package users

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/jsonapi"
)

// tokenBytes is the entropy of a session token: 256 bits, base64url in
// the API (43 characters).
const tokenBytes = 32

// createUser is POST /v1/users {username, password, display_name}.
func (h *Handler) createUser(w http.ResponseWriter, r *http.Request) error {
	f, err := jsonapi.ReadBody(w, r, h.cfg.MaxBody, "username", "password", "display_name")
	if err != nil {
		return err
	}
	rawName, err := f.Required("username")
	if err != nil {
		return err
	}
	username, err := checkUsername(rawName)
	if err != nil {
		return err
	}
	password, err := f.Required("password")
	if err != nil {
		return err
	}
	if err := checkPassword("password", password); err != nil {
		return err
	}
	display, ok, err := f.Str("display_name")
	if err != nil {
		return err
	}
	if !ok {
		display = username
	}
	if display, err = checkDisplayName(display); err != nil {
		return err
	}
	idem := ""
	if ks := r.Header.Values("Idempotency-Key"); len(ks) > 0 {
		if err := jsonapi.CheckIdempotencyKey(ks[0]); err != nil {
			return err
		}
		sum := sha256.Sum256([]byte(ks[0]))
		idem = hex.EncodeToString(sum[:])
	}
	// A sign-up hashes a password: it spends the address's login budget.
	now := h.clock()
	if wait := h.perAddr.Take(h.addr(r), now); wait > 0 {
		return tooMany(wait)
	}
	var hash string
	if err := h.hash(r.Context(), func() (err error) { hash, err = h.hasher.Hash(password); return err }); err != nil {
		return err
	}
	u := User{ID: h.cfg.IDs.Next(), Username: username, DisplayName: display, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	ev, err := h.event("user.created", u.ID, nil, map[string]string{"username": username, "display_name": display}, now)
	if err != nil {
		return err
	}
	stored, created, err := h.store.CreateUser(r.Context(), u, idem, ev)
	if err != nil {
		if errors.Is(err, ErrUsernameTaken) || errors.Is(err, ErrBusy) {
			return err
		}
		return jsonapi.StoreFault(err)
	}
	if !created {
		w.Header().Set("Idempotent-Replayed", "true")
	} else {
		h.notify()
	}
	w.Header().Set("Location", "/v1/users/"+strconv.FormatInt(stored.ID, 10))
	c := Counts{}
	if !created {
		if c, err = h.store.CountEdges(r.Context(), stored.ID); err != nil {
			return jsonapi.StoreFault(err)
		}
	}
	return jsonapi.Write(w, http.StatusCreated, toJSON(stored, c))
}

// tooMany is the 429 of a spent rate limit, with Retry-After in whole
// seconds rounded up.
func tooMany(wait time.Duration) error {
	return &httperr.Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
		Message:    "too many login attempts, try again later",
		RetryAfter: int(math.Ceil(wait.Seconds()))}
}

type sessionJSON struct {
	Token     string    `json:"token"`
	UserID    int64     `json:"user_id,string"`
	ExpiresAt time.Time `json:"expires_at"`
}

// login is POST /v1/sessions {username, password}. The rate limits come
// before anything that costs: a flood is answered 429 without a hash. The
// per-account limits count failures only (see loginLimits): the attempt
// taken here is given back unless the password was checked and wrong. An
// unknown user and a wrong password get the same answer after the same
// work (a hash checked against dummyHash), so neither the answer nor its
// time says which usernames exist.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) error {
	f, err := jsonapi.ReadBody(w, r, h.cfg.MaxBody, "username", "password")
	if err != nil {
		return err
	}
	name, err := f.Required("username")
	if err != nil {
		return err
	}
	password, err := f.Required("password")
	if err != nil {
		return err
	}
	now, addr, acct := h.clock(), h.addr(r), accountKey(name)
	if wait := h.perAddr.Take(addr, now); wait > 0 {
		return tooMany(wait)
	}
	if wait := h.perAcct.take(acct, addr, now); wait > 0 {
		return tooMany(wait)
	}
	failed := false // the password was checked and wrong: the attempt stays spent
	defer func() {
		if !failed {
			h.perAcct.giveBack(acct, addr)
		}
	}()
	u, lookupErr := User{}, ErrNotFound
	if username, err := checkUsername(name); err == nil && len(password) <= maxPassword {
		u, lookupErr = h.store.GetUserByName(r.Context(), username)
		if lookupErr != nil && !errors.Is(lookupErr, ErrNotFound) {
			return jsonapi.StoreFault(lookupErr)
		}
	}
	hash := u.PasswordHash
	if lookupErr != nil {
		hash = h.dummyHash
	}
	var match bool
	if err := h.hash(r.Context(), func() (err error) { match, err = h.hasher.Verify(password, hash); return err }); err != nil {
		if errors.Is(err, ErrBusy) || errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("verify the password of %q: %w", u.Username, err)
	}
	if lookupErr != nil || !match {
		failed = true
		return errBadCredentials
	}
	var raw [tokenBytes]byte
	_, _ = rand.Read(raw[:]) // never fails (crypto/rand)
	sum := sha256.Sum256(raw[:])
	s := Session{TokenHash: sum[:], UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(h.cfg.SessionTTL)}
	if err := h.store.CreateSession(r.Context(), s); err != nil {
		return jsonapi.StoreFault(err)
	}
	return jsonapi.Write(w, http.StatusCreated, sessionJSON{Token: base64.RawURLEncoding.EncodeToString(raw[:]), UserID: u.ID, ExpiresAt: s.ExpiresAt.UTC()})
}

// logout is DELETE /v1/sessions: the request's bearer token stops working
// at once, on every edge (the store's delete is read back at quorum), and
// the live sockets opened with its tickets close (Config.Sockets); the
// user's other devices keep theirs. With ?all=1 (or true) every session of
// the user ends, the request's own included: log out everywhere, which
// closes every live socket of the user.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) error {
	sum, s, err := h.session(r.Context(), r)
	if err != nil {
		return err
	}
	all := false
	if r.URL.Query().Has("all") {
		switch r.URL.Query().Get("all") {
		case "1", "true":
			all = true
		case "0", "false":
		default:
			return httperr.BadParam("all", "all must be 1 (every session of the user) or 0")
		}
	}
	if all {
		if _, err := h.store.DeleteUserSessions(r.Context(), s.UserID, nil); err != nil {
			return jsonapi.StoreFault(fmt.Errorf("log out user %d everywhere: %w", s.UserID, err))
		}
	}
	// Also with all: a session made before the per-user index existed is
	// not in it, and the request's own must end in any case.
	if err := h.store.DeleteSession(r.Context(), sum); err != nil {
		return jsonapi.StoreFault(fmt.Errorf("log out user %d: %w", s.UserID, err))
	}
	if all {
		h.closeSockets(r.Context(), s.UserID, 0)
	} else {
		h.closeSession(r.Context(), s.UserID, sessionTag(sum))
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Authenticate returns the user whose session token the request carries in
// "Authorization: Bearer <token>". Its errors are *httperr.Error: 401
// unauthenticated (with WWW-Authenticate) when there is no valid, unexpired,
// unrevoked token, 503 when the store cannot answer. The edge calls it to
// authorize uploads by user.
func (h *Handler) Authenticate(ctx context.Context, r *http.Request) (userID int64, err error) {
	_, s, err := h.session(ctx, r)
	if err != nil {
		return 0, errorTable.Map(err)
	}
	return s.UserID, nil
}

// AuthenticateSession is Authenticate that also names the request's login
// by its tag (never 0): the push gateway puts it in the socket tickets it
// issues, so this login's end closes those sockets (Config.Sockets).
func (h *Handler) AuthenticateSession(ctx context.Context, r *http.Request) (userID int64, session uint64, err error) {
	sum, s, err := h.session(ctx, r)
	if err != nil {
		return 0, 0, errorTable.Map(err)
	}
	return s.UserID, sessionTag(sum), nil
}

// sessionTag names a login to the push gateway: 64 bits of a hash of the
// stored token hash, never 0. It travels in socket URLs (tickets), so it
// is neither the token nor the key the session is stored under.
func sessionTag(tokenHash []byte) uint64 {
	m := sha256.New()
	m.Write([]byte("mediaedge socket session\x00"))
	m.Write(tokenHash)
	return max(1, binary.BigEndian.Uint64(m.Sum(nil)))
}

// session finds the request's session and the hash it is stored under.
func (h *Handler) session(ctx context.Context, r *http.Request) ([]byte, Session, error) {
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, Session{}, errUnauthenticated
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(tok))
	if err != nil || len(raw) != tokenBytes {
		return nil, Session{}, errInvalidToken
	}
	sum := sha256.Sum256(raw)
	s, err := h.store.GetSession(ctx, sum[:])
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, Session{}, errInvalidToken
	case err != nil:
		return nil, Session{}, jsonapi.StoreFault(err)
	case !h.now().Before(s.ExpiresAt):
		return nil, Session{}, errInvalidToken
	}
	return sum[:], s, nil
}

// RunSweeper deletes expired sessions every interval until ctx ends, when
// the store needs it (SessionSweeper: the Pebble store; Cassandra expires
// them by TTL, and RunSweeper then returns at once).
func (h *Handler) RunSweeper(ctx context.Context, every time.Duration) {
	sw, ok := h.store.(SessionSweeper)
	if !ok {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := sw.SweepSessions(ctx, h.now()); err != nil && ctx.Err() == nil {
			h.log.Warn("sweep expired sessions", "err", err)
		} else if n > 0 {
			h.log.Debug("swept expired sessions", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
