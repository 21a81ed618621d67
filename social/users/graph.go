package users

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/jsonapi"
)

// graphWrite is one of the store's graph writes.
type graphWrite func(ctx context.Context, op GraphOp) (bool, error)

// edgeState is the answer of a graph write: the state after it.
type edgeState struct {
	UserID    int64 `json:"user_id,string"`
	Following *bool `json:"following,omitempty"`
	Blocked   *bool `json:"blocked,omitempty"`
}

// relate runs a graph write by the authenticated user on {id}. kind names
// the event; the followee is told of a follow (To), nobody of the others:
// an unfollow or a block is not news its target should be pushed.
func (h *Handler) relate(w http.ResponseWriter, r *http.Request, kind string, write graphWrite, answer edgeState) error {
	me, err := h.Authenticate(r.Context(), r)
	if err != nil {
		return err
	}
	target, err := h.targetUser(r)
	if err != nil {
		return err
	}
	if target.ID == me {
		return httperr.BadParam("id", "you cannot "+kind+" yourself")
	}
	now := h.clock()
	var to []int64
	if kind == "follow" {
		to = []int64{target.ID}
	}
	ev, err := h.event(kind, me, to, map[string]string{"user_id": strconv.FormatInt(target.ID, 10)}, now)
	if err != nil {
		return err
	}
	op := GraphOp{Actor: me, Target: target.ID, At: now, Event: ev, MaxFollowing: h.cfg.MaxFollowing}
	changed, err := write(r.Context(), op)
	if changed {
		h.notify()
	}
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	answer.UserID = target.ID
	return jsonapi.Write(w, http.StatusOK, answer)
}

var yes, no = true, false

// follow is PUT /v1/users/{id}/follow (idempotent: following an already
// followed user writes and emits nothing).
func (h *Handler) follow(w http.ResponseWriter, r *http.Request) error {
	return h.relate(w, r, "follow", h.store.Follow, edgeState{Following: &yes})
}

// unfollow is DELETE /v1/users/{id}/follow.
func (h *Handler) unfollow(w http.ResponseWriter, r *http.Request) error {
	return h.relate(w, r, "unfollow", h.store.Unfollow, edgeState{Following: &no})
}

// block is PUT /v1/users/{id}/block: it removes the follows between the
// two both ways and refuses new ones (403 blocked) until unblocked.
func (h *Handler) block(w http.ResponseWriter, r *http.Request) error {
	return h.relate(w, r, "block", h.store.Block, edgeState{Blocked: &yes})
}

// unblock is DELETE /v1/users/{id}/block.
func (h *Handler) unblock(w http.ResponseWriter, r *http.Request) error {
	return h.relate(w, r, "unblock", h.store.Unblock, edgeState{Blocked: &no})
}

// edgeJSON is one entry of a followers or following page.
type edgeJSON struct {
	ID          int64     `json:"id,string"`
	Username    string    `json:"username"`
	DisplayName string    `json:"display_name"`
	Avatar      string    `json:"avatar"`
	Since       time.Time `json:"since"`
}

type pageJSON struct {
	Items      []edgeJSON `json:"items"`
	NextCursor string     `json:"next_cursor"` // "" on the last page
}

func (h *Handler) listFollowers(w http.ResponseWriter, r *http.Request) error {
	return h.list(w, r, Followers)
}

func (h *Handler) listFollowing(w http.ResponseWriter, r *http.Request) error {
	return h.list(w, r, Following)
}

// list is GET /v1/users/{id}/followers|following?limit=1..100&cursor=,
// in increasing user id order (stable while follows come and go: a page
// never repeats or skips a user who stays).
func (h *Handler) list(w http.ResponseWriter, r *http.Request, dir Direction) error {
	q := r.URL.Query()
	limit := defaultLimit
	if s := q.Get("limit"); s != "" || q.Has("limit") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return httperr.BadParam("limit", "limit must be 1 to 100")
		}
		limit = n
	}
	var after int64
	if s := q.Get("cursor"); s != "" || q.Has("cursor") {
		c, err := decodeCursor(s)
		if err != nil {
			return err
		}
		after = c
	}
	id, u, err := h.target(r)
	if err != nil {
		return err
	}
	if u == nil { // a numeric id: say 404 for an unknown user, not an empty list
		if _, err := h.store.GetUser(r.Context(), id); err != nil {
			return jsonapi.StoreFault(err)
		}
	}
	edges, err := h.store.ListEdges(r.Context(), id, dir, after, limit+1)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	page := pageJSON{Items: []edgeJSON{}}
	if len(edges) > limit {
		edges = edges[:limit]
		page.NextCursor = encodeCursor(edges[limit-1].UserID)
	}
	ids := make([]int64, len(edges))
	for i, e := range edges {
		ids[i] = e.UserID
	}
	users, err := h.store.GetUsers(r.Context(), ids)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	byID := make(map[int64]User, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	for _, e := range edges {
		u, ok := byID[e.UserID]
		if !ok {
			continue // an account gone since: the edge outlived it
		}
		page.Items = append(page.Items, edgeJSON{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Avatar: u.Avatar, Since: e.Since.UTC()})
	}
	return jsonapi.Write(w, http.StatusOK, page)
}
