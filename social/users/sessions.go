package users

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/jsonapi"
)

// A user's sessions, to see where they are logged in and end one:
//
//	GET    /v1/sessions       -> 200 {"sessions":[{"id","created_at","expires_at","current"}]}, newest first
//	DELETE /v1/sessions/{id}  -> 204; that session ends, and its sockets close
//
// A session is named by its tag (sessionTag, 16 hex digits), never by its
// token or the hash it is stored under: the id is shown to the user and
// may be logged. Sessions made before the per-user index existed are not
// listed (they end at their own logout or expiry).

var errNoSuchSession = httperr.New(http.StatusNotFound, "not_found", "no such session of yours")

type sessionInfo struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Current   bool      `json:"current"`
}

func sessionID(tag uint64) string { return fmt.Sprintf("%016x", tag) }

// listSessions is GET /v1/sessions: the requester's live sessions.
func (h *Handler) listSessions(w http.ResponseWriter, r *http.Request) error {
	sum, s, err := h.session(r.Context(), r)
	if err != nil {
		return err
	}
	all, err := h.store.ListUserSessions(r.Context(), s.UserID)
	if err != nil {
		return jsonapi.StoreFault(fmt.Errorf("list sessions of user %d: %w", s.UserID, err))
	}
	now, mine := h.now(), sessionTag(sum)
	out := make([]sessionInfo, 0, len(all))
	for _, x := range all {
		if !now.Before(x.ExpiresAt) {
			continue // expired, not yet swept
		}
		tag := sessionTag(x.TokenHash)
		out = append(out, sessionInfo{ID: sessionID(tag), CreatedAt: x.CreatedAt.UTC(), ExpiresAt: x.ExpiresAt.UTC(), Current: tag == mine})
	}
	slices.SortFunc(out, func(a, b sessionInfo) int { return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(a.ID, b.ID)) })
	w.Header().Set("Cache-Control", "no-store")
	return jsonapi.Write(w, http.StatusOK, struct {
		Sessions []sessionInfo `json:"sessions"`
	}{out})
}

// endSession is DELETE /v1/sessions/{id}: one of the requester's sessions
// ends (the requester's own too, as a logout), with its live sockets. An
// id that is not a session of the requester is a 404, whoever's it is.
func (h *Handler) endSession(w http.ResponseWriter, r *http.Request) error {
	_, s, err := h.session(r.Context(), r)
	if err != nil {
		return err
	}
	tag, perr := strconv.ParseUint(r.PathValue("id"), 16, 64)
	if perr != nil || len(r.PathValue("id")) != 16 {
		return httperr.BadParam("id", "a session id is 16 hex digits, as GET /v1/sessions lists them")
	}
	all, err := h.store.ListUserSessions(r.Context(), s.UserID)
	if err != nil {
		return jsonapi.StoreFault(fmt.Errorf("list sessions of user %d: %w", s.UserID, err))
	}
	i := slices.IndexFunc(all, func(x Session) bool { return sessionTag(x.TokenHash) == tag })
	if i < 0 {
		return errNoSuchSession
	}
	if err := h.store.DeleteSession(r.Context(), all[i].TokenHash); err != nil {
		return jsonapi.StoreFault(fmt.Errorf("end session of user %d: %w", s.UserID, err))
	}
	h.closeSession(r.Context(), s.UserID, tag)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
