package stories

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/jsonapi"
)

// Event kinds this service writes to the outbox.
const (
	// KindCreated {story_id, likers}: To is empty; likers are the users who
	// liked an earlier story of the author (at most MaxLikers), whom
	// notify tells about the new one; never the owner nor anyone in the
	// story's hide_from.
	KindCreated = "story.created"
	// KindLike {story_id, owner}: To is the owner, unless they liked their
	// own story (then empty).
	KindLike = "story.like"
)

type createdData struct {
	StoryID int64       `json:"story_id,string"`
	Likers  jsonapi.IDs `json:"likers"`
}

type likeData struct {
	StoryID int64 `json:"story_id,string"`
	Owner   int64 `json:"owner,string"`
}

// StoryJSON is a story as the API shows it to one viewer.
type StoryJSON struct {
	ID        int64     `json:"id,string"`
	Owner     int64     `json:"owner,string"`
	Media     any       `json:"media"`
	Caption   string    `json:"caption"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// Views and HideFrom are shown to the owner only.
	Views    *int        `json:"views,omitempty"`
	HideFrom jsonapi.IDs `json:"hide_from,omitempty"`
	// Seen: the viewer viewed it; LikedByMe: the viewer likes it.
	Seen      bool `json:"seen"`
	LikedByMe bool `json:"liked_by_me"`
}

// storyJSON shows st to viewer; views is used only when viewer owns it.
func storyJSON(st Story, viewer int64, state ViewerState, views int) StoryJSON {
	j := StoryJSON{ID: st.ID, Owner: st.Owner, Media: mediaJSON(st.Media, st.MediaType), Caption: st.Caption,
		CreatedAt: st.CreatedAt.UTC(), ExpiresAt: st.ExpiresAt.UTC(), Seen: state.Viewed, LikedByMe: state.Liked}
	if viewer == st.Owner {
		j.Views = &views
		j.HideFrom = jsonapi.IDs(st.HideFrom)
	}
	return j
}

// create: POST /v1/stories {media_id, caption?, hide_from?} -> 201 story.
// A retry with the same Idempotency-Key answers the same story and writes
// nothing.
func (s *Service) create(w http.ResponseWriter, r *http.Request, uid int64) error {
	ctx := r.Context()
	key := ""
	if vs, ok := r.Header["Idempotency-Key"]; ok {
		key = strings.Join(vs, ",")
		if err := jsonapi.CheckIdempotencyKey(key); err != nil {
			return err
		}
	}
	f, err := jsonapi.ReadBody(w, r, s.cfg.MaxBody, "media_id", "caption", "hide_from")
	if err != nil {
		return err
	}
	media, err := f.Required("media_id")
	if err != nil {
		return err
	}
	if media == "" || len(media) > 128 {
		return httperr.BadParam("media_id", "media_id must be a media id")
	}
	caption, _, err := f.Str("caption")
	if err != nil {
		return err
	}
	if len(caption) > s.cfg.MaxCaption {
		return &httperr.Error{Status: http.StatusRequestEntityTooLarge, Code: "caption_too_long",
			Message: "caption must be at most " + strconv.Itoa(s.cfg.MaxCaption) + " bytes", Param: "caption"}
	}
	if !utf8.ValidString(caption) {
		return httperr.BadParam("caption", "caption must be valid UTF-8")
	}
	hide, err := s.hideFrom(f, uid)
	if err != nil {
		return err
	}
	info, err := s.cfg.MediaInfo(ctx, media)
	if errors.Is(err, ErrNoMedia) {
		return httperr.BadParam("media_id", "media_id names no uploaded media")
	}
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	if info.Owner != "user:"+strconv.FormatInt(uid, 10) {
		return errForeignMedia
	}
	if !strings.HasPrefix(info.Type, "image/") && !strings.HasPrefix(info.Type, "video/") {
		return httperr.BadParam("media_id", "a story's media must be an image or a video")
	}
	// The likers told of the story are the owner's earlier likers but the
	// owner and the users it is hidden from: notify tells everyone the
	// event names, and a notification of a story one may not see would
	// reveal it. Read as many more as may be dropped, so the list still
	// holds MaxLikers when there are that many others.
	likers, err := s.store.Likers(ctx, uid, s.cfg.MaxLikers+1+len(hide))
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	likers = slices.DeleteFunc(likers, func(u int64) bool { return u == uid || slices.Contains(hide, u) })
	likers = likers[:min(len(likers), s.cfg.MaxLikers)]
	now := s.clock()
	st := Story{ID: s.cfg.IDs.Next(), Owner: uid, Media: media, MediaType: info.Type, Caption: caption,
		HideFrom: hide, Key: key, CreatedAt: now, ExpiresAt: now.Add(s.cfg.TTL)}
	ev, err := s.event(KindCreated, uid, nil, createdData{StoryID: st.ID, Likers: jsonapi.IDs(likers)}, now)
	if err != nil {
		return err
	}
	stored, created, err := s.store.Create(ctx, st, ev)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	views := 0
	var state ViewerState
	if created {
		s.notify()
	} else {
		// A replay: answer the stored story as it is now.
		if views, err = s.store.ViewCount(ctx, stored.ID); err != nil {
			return jsonapi.StoreFault(err)
		}
		m, err := s.store.ViewerState(ctx, uid, []int64{stored.ID})
		if err != nil {
			return jsonapi.StoreFault(err)
		}
		state = m[stored.ID]
	}
	return jsonapi.Write(w, http.StatusCreated, storyJSON(stored, uid, state, views))
}

// hideFrom reads hide_from: user ids as strings, without the poster and
// duplicates, at most MaxHideFrom.
func (s *Service) hideFrom(f jsonapi.Fields, uid int64) ([]int64, error) {
	raw, ok := f["hide_from"]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	var ss []string
	if err := json.Unmarshal(raw, &ss); err != nil {
		return nil, httperr.BadParam("hide_from", "hide_from must be a list of user id strings")
	}
	out := make([]int64, 0, len(ss))
	for _, v := range ss {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n <= 0 {
			return nil, httperr.BadParam("hide_from", "hide_from: "+strconv.Quote(v)+" is not a user id")
		}
		if n != uid && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(out) > s.cfg.MaxHideFrom {
		return nil, httperr.BadParam("hide_from", "hide_from names more than "+strconv.Itoa(s.cfg.MaxHideFrom)+" users")
	}
	slices.Sort(out)
	return out, nil
}

// story reads the {id} story as uid may see it: ErrExpired for one whose
// lifetime is over, ErrNotFound for a missing one or one hidden from uid.
func (s *Service) story(r *http.Request, uid int64) (Story, error) {
	id, err := jsonapi.PathID(r, "id")
	if err != nil {
		return Story{}, err
	}
	st, err := s.store.Get(r.Context(), id)
	if err != nil {
		return Story{}, s.goneErr(id, err)
	}
	if !st.Live(s.now()) {
		return Story{}, ErrExpired
	}
	if st.HiddenFrom(uid) {
		return Story{}, ErrNotFound
	}
	return st, nil
}

// goneErr turns a store's ErrNotFound for story id into ErrExpired when the
// id is older than the lifetime, and other errors into store faults.
func (s *Service) goneErr(id int64, err error) error {
	if errors.Is(err, ErrNotFound) && !errors.Is(err, ErrExpired) && s.expiredID(id) {
		return ErrExpired
	}
	return jsonapi.StoreFault(err)
}

// get: GET /v1/stories/{id}.
func (s *Service) get(w http.ResponseWriter, r *http.Request, uid int64) error {
	st, err := s.story(r, uid)
	if err != nil {
		return err
	}
	out, err := s.render(r.Context(), uid, []Story{st})
	if err != nil {
		return err
	}
	return jsonapi.Write(w, http.StatusOK, out[0])
}

// render shows stories to viewer: their viewer state, and the view counts
// of the viewer's own.
func (s *Service) render(ctx context.Context, viewer int64, sts []Story) ([]StoryJSON, error) {
	ids := make([]int64, len(sts))
	for i, st := range sts {
		ids[i] = st.ID
	}
	state, err := s.store.ViewerState(ctx, viewer, ids)
	if err != nil {
		return nil, jsonapi.StoreFault(err)
	}
	out := make([]StoryJSON, len(sts))
	for i, st := range sts {
		views := 0
		if st.Owner == viewer {
			if views, err = s.store.ViewCount(ctx, st.ID); err != nil {
				return nil, jsonapi.StoreFault(err)
			}
		}
		out[i] = storyJSON(st, viewer, state[st.ID], views)
	}
	return out, nil
}

// view: POST /v1/stories/{id}/view -> 204. Only the first view's time is
// kept; the owner's own views are not counted.
func (s *Service) view(w http.ResponseWriter, r *http.Request, uid int64) error {
	st, err := s.story(r, uid)
	if err != nil {
		return err
	}
	if uid != st.Owner {
		if err := s.store.View(r.Context(), st, uid, s.clock()); err != nil {
			return s.goneErr(st.ID, err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type viewJSON struct {
	UserID   int64     `json:"user_id,string"`
	ViewedAt time.Time `json:"viewed_at"`
}

type viewersPage struct {
	Items      []viewJSON `json:"items"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// viewers: GET /v1/stories/{id}/viewers?limit=&cursor=, owner only, in
// user id order.
func (s *Service) viewers(w http.ResponseWriter, r *http.Request, uid int64) error {
	st, err := s.story(r, uid)
	if err != nil {
		return err
	}
	if st.Owner != uid {
		return errNotOwner
	}
	limit, err := jsonapi.Limit(r, s.cfg.PageLimit, s.cfg.MaxPageLimit)
	if err != nil {
		return err
	}
	after, err := cursor(r)
	if err != nil {
		return err
	}
	vs, err := s.store.Viewers(r.Context(), st.ID, after, limit+1)
	if err != nil {
		return s.goneErr(st.ID, err)
	}
	page := viewersPage{Items: []viewJSON{}}
	for i, v := range vs {
		if i == limit {
			page.NextCursor = strconv.FormatInt(vs[i-1].User, 10)
			break
		}
		page.Items = append(page.Items, viewJSON{UserID: v.User, ViewedAt: v.At.UTC()})
	}
	return jsonapi.Write(w, http.StatusOK, page)
}

// like: PUT /v1/stories/{id}/like -> 204, idempotent; a new like tells the
// owner (story.like), unless it is their own story.
func (s *Service) like(w http.ResponseWriter, r *http.Request, uid int64) error {
	st, err := s.story(r, uid)
	if err != nil {
		return err
	}
	var to []int64
	if st.Owner != uid {
		to = []int64{st.Owner}
	}
	now := s.clock()
	ev, err := s.event(KindLike, uid, to, likeData{StoryID: st.ID, Owner: st.Owner}, now)
	if err != nil {
		return err
	}
	changed, err := s.store.Like(r.Context(), st, uid, now, ev)
	if err != nil {
		return s.goneErr(st.ID, err)
	}
	if changed {
		s.notify()
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// unlike: DELETE /v1/stories/{id}/like -> 204, idempotent, no event.
func (s *Service) unlike(w http.ResponseWriter, r *http.Request, uid int64) error {
	st, err := s.story(r, uid)
	if err != nil {
		return err
	}
	if _, err := s.store.Unlike(r.Context(), st, uid); err != nil {
		return s.goneErr(st.ID, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type storyList struct {
	Items []StoryJSON `json:"items"`
}

// userStories: GET /v1/users/{id}/stories: the user's live stories the
// caller may see, oldest first.
func (s *Service) userStories(w http.ResponseWriter, r *http.Request, uid int64) error {
	author, err := s.resolveUser(r)
	if err != nil {
		return err
	}
	sts, err := s.visibleStories(r.Context(), author, uid)
	if err != nil {
		return err
	}
	out, err := s.render(r.Context(), uid, sts)
	if err != nil {
		return err
	}
	return jsonapi.Write(w, http.StatusOK, storyList{Items: out})
}

// visibleStories are author's live stories viewer may see, oldest first.
func (s *Service) visibleStories(ctx context.Context, author, viewer int64) ([]Story, error) {
	sts, err := s.store.OwnerStories(ctx, author)
	if err != nil {
		return nil, jsonapi.StoreFault(err)
	}
	now := s.now()
	return slices.DeleteFunc(sts, func(st Story) bool { return !st.Live(now) || st.HiddenFrom(viewer) }), nil
}
