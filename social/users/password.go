package users

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/jsonapi"
)

var errForbiddenPassword = httperr.New(http.StatusForbidden, "forbidden", "you may change only your own password")

// changePassword is PUT /v1/users/{id}/password {current_password,
// new_password} by the user themself ({id} is "me", their id or their
// @username). It checks current_password under the login limits (the same
// buckets, keyed by the account's name and the client's address, so a
// stolen session cannot guess the password faster than a login could),
// validates new_password as sign-up does, stores its hash and revokes every
// other session of the user: the one making the request stays valid.
//
// The hash is stored before the other sessions are revoked. If the
// revocation fails (503), the new password is already the password: a
// retry sends it as current_password too, and revokes.
//
// Then every live socket of the user is closed (Config.Sockets) but those
// opened with the requester's session, which stays valid.
func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	sum, s, err := h.session(ctx, r)
	if err != nil {
		return err
	}
	id := s.UserID
	if r.PathValue("id") != "me" {
		if id, _, err = h.target(r); err != nil {
			return err
		}
	}
	if id != s.UserID {
		return errForbiddenPassword
	}
	f, err := jsonapi.ReadBody(w, r, h.cfg.MaxBody, "current_password", "new_password")
	if err != nil {
		return err
	}
	current, err := f.Required("current_password")
	if err != nil {
		return err
	}
	next, err := f.Required("new_password")
	if err != nil {
		return err
	}
	if err := checkPassword("new_password", next); err != nil {
		return err
	}
	u, err := h.store.GetUser(ctx, id)
	if err != nil {
		return jsonapi.StoreFault(err) // the session's user exists: not found is a fault
	}
	if err := h.verifyLimited(r, u, current); err != nil {
		return err
	}
	var hash string
	if err := h.hash(ctx, func() (err error) { hash, err = h.hasher.Hash(next); return err }); err != nil {
		return err
	}
	if err := h.store.SetPassword(ctx, id, hash); err != nil {
		return jsonapi.StoreFault(err)
	}
	if _, err := h.store.DeleteUserSessions(ctx, id, sum); err != nil {
		return jsonapi.StoreFault(fmt.Errorf("change password of user %d: revoke the other sessions: %w", id, err))
	}
	h.closeSockets(ctx, id, sessionTag(sum))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// closeSockets closes every live socket of a user whose sessions were
// just revoked, but the sockets of the login except (0: none kept);
// closeSession those of one login that ended. They run past the request's
// end (the revocation is done, and a client hanging up must not leave a
// thief's socket open); a failure is logged, not answered.
func (h *Handler) closeSockets(ctx context.Context, id int64, except uint64) {
	h.sockets(ctx, id, "close the live sockets of a user whose sessions were revoked", func(ctx context.Context, sk Sockets) error {
		return sk.CloseUser(ctx, id, except)
	})
}

func (h *Handler) closeSession(ctx context.Context, id int64, session uint64) {
	h.sockets(ctx, id, "close the live sockets of a session that ended", func(ctx context.Context, sk Sockets) error {
		return sk.CloseSession(ctx, id, session)
	})
}

func (h *Handler) sockets(ctx context.Context, id int64, what string, close func(context.Context, Sockets) error) {
	if h.cfg.Sockets == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := close(ctx, h.cfg.Sockets); err != nil {
		h.log.Warn(what, "user", id, "err", err)
	}
}

// verifyLimited checks password against u's hash as a login does: the
// address's bucket and the account's failure buckets first (429 before
// any hash), the attempt given back unless the password was wrong.
func (h *Handler) verifyLimited(r *http.Request, u User, password string) error {
	now, addr, acct := h.clock(), h.addr(r), accountKey(u.Username)
	if wait := h.perAddr.Take(addr, now); wait > 0 {
		return tooMany(wait)
	}
	if wait := h.perAcct.take(acct, addr, now); wait > 0 {
		return tooMany(wait)
	}
	failed := false
	defer func() {
		if !failed {
			h.perAcct.giveBack(acct, addr)
		}
	}()
	if len(password) > maxPassword { // no password is that long: wrong, without a hash
		failed = true
		return errWrongPassword
	}
	var match bool
	if err := h.hash(r.Context(), func() (err error) { match, err = h.hasher.Verify(password, u.PasswordHash); return err }); err != nil {
		if errors.Is(err, ErrBusy) || errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("verify the password of %q: %w", u.Username, err)
	}
	if !match {
		failed = true
		return errWrongPassword
	}
	return nil
}
