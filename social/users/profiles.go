package users

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/jsonapi"
)

// target reads the {id} of a route: a decimal user id, "@username", or
// "me" (the authenticated user). It returns the id without reading the
// user when the path gives it; user is set when a lookup by name read it.
func (h *Handler) target(r *http.Request) (id int64, user *User, err error) {
	raw := r.PathValue("id")
	switch {
	case raw == "me":
		id, err := h.Authenticate(r.Context(), r)
		return id, nil, err
	case strings.HasPrefix(raw, "@"):
		name, err := checkUsername(raw[1:])
		if err != nil {
			return 0, nil, fmt.Errorf("user %s: %w", raw, ErrNotFound)
		}
		u, err := h.store.GetUserByName(r.Context(), name)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return 0, nil, err
			}
			return 0, nil, jsonapi.StoreFault(err)
		}
		return u.ID, &u, nil
	}
	id, err = strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return 0, nil, httperr.BadParam("id", "id must be a user id, @username or me")
	}
	return id, nil, nil
}

// targetUser is target, with the user read.
func (h *Handler) targetUser(r *http.Request) (User, error) {
	id, u, err := h.target(r)
	if err != nil {
		return User{}, err
	}
	if u != nil {
		return *u, nil
	}
	got, err := h.store.GetUser(r.Context(), id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return User{}, jsonapi.StoreFault(err)
	}
	return got, err
}

// getProfile is GET /v1/users/{id}: the public profile and exact counts.
func (h *Handler) getProfile(w http.ResponseWriter, r *http.Request) error {
	u, err := h.targetUser(r)
	if err != nil {
		return err
	}
	c, err := h.store.CountEdges(r.Context(), u.ID)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	return jsonapi.Write(w, http.StatusOK, toJSON(u, c))
}

// patchProfile is PATCH /v1/users/{id} {display_name?, bio?, avatar?} by
// the user themself. Absent fields stay; null or "" clears bio and avatar.
func (h *Handler) patchProfile(w http.ResponseWriter, r *http.Request) error {
	me, err := h.Authenticate(r.Context(), r)
	if err != nil {
		return err
	}
	id, _, err := h.target(r)
	if err != nil {
		return err
	}
	if id != me {
		return errForbidden
	}
	f, err := jsonapi.ReadBody(w, r, h.cfg.MaxBody, "display_name", "bio", "avatar")
	if err != nil {
		return err
	}
	var p ProfilePatch
	if f.Has("display_name") {
		s, _, err := f.Str("display_name") // null is refused by checkDisplayName as empty
		if err != nil {
			return err
		}
		if s, err = checkDisplayName(s); err != nil {
			return err
		}
		p.DisplayName = &s
	}
	if f.Has("bio") {
		s, _, err := f.Str("bio")
		if err != nil {
			return err
		}
		if err := checkBio(s); err != nil {
			return err
		}
		p.Bio = &s
	}
	if f.Has("avatar") {
		s, _, err := f.Str("avatar")
		if err != nil {
			return err
		}
		if err := h.checkAvatar(r.Context(), s); err != nil {
			return err
		}
		p.Avatar = &s
	}
	var u User
	if p.Empty() {
		if u, err = h.store.GetUser(r.Context(), id); err != nil {
			return jsonapi.StoreFault(err)
		}
	} else {
		now := h.clock()
		ev, err := h.event("profile.updated", id, nil, patchData(p), now)
		if err != nil {
			return err
		}
		if u, err = h.store.UpdateProfile(r.Context(), id, p, now, ev); err != nil {
			if errors.Is(err, ErrNotFound) {
				return err
			}
			return jsonapi.StoreFault(err)
		}
		h.notify()
	}
	c, err := h.store.CountEdges(r.Context(), id)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	return jsonapi.Write(w, http.StatusOK, toJSON(u, c))
}

// patchData is a profile.updated event's payload: the fields set.
func patchData(p ProfilePatch) map[string]string {
	d := map[string]string{}
	if p.DisplayName != nil {
		d["display_name"] = *p.DisplayName
	}
	if p.Bio != nil {
		d["bio"] = *p.Bio
	}
	if p.Avatar != nil {
		d["avatar"] = *p.Avatar
	}
	return d
}

// checkAvatar checks the form of an avatar id and, when the handler can
// ask (Config.MediaExists), that it names stored media.
func (h *Handler) checkAvatar(ctx context.Context, id string) error {
	if err := checkAvatarForm(id); err != nil || id == "" || h.cfg.MediaExists == nil {
		return err
	}
	ok, err := h.cfg.MediaExists(ctx, id)
	if err != nil {
		return jsonapi.Mark(fmt.Errorf("check avatar %s: %w", id, err), errMedia)
	}
	if !ok {
		return httperr.BadParam("avatar", "avatar names no stored media")
	}
	return nil
}
