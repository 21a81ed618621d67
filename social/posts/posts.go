package posts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/jsonapi"
)

// PostJSON is a post as the API (and the feed) answers it. Likes and
// Comments are exact counts read with the post; LikedByMe is the viewer's.
type PostJSON struct {
	ID        int64       `json:"id,string"`
	Author    int64       `json:"author,string"`
	Text      string      `json:"text"`
	Media     []MediaView `json:"media"`
	Likes     int64       `json:"likes"`
	Comments  int64       `json:"comments"`
	LikedByMe bool        `json:"liked_by_me"`
	CreatedAt time.Time   `json:"created_at"`
	EditedAt  time.Time   `json:"edited_at,omitzero"`
	Archived  bool        `json:"archived,omitempty"`
}

// errUnchanged: an edit that would write what is stored already.
var errUnchanged = errors.New("posts: edit changes nothing")

// mentionRE finds "@username" not preceded by a username character (so an
// e-mail address mentions nobody); usernames are 3 to 30 of a-z, 0-9, _.
var mentionRE = regexp.MustCompile(`(?:^|[^A-Za-z0-9_@])@([A-Za-z0-9_]{3,30})\b`)

// mentions resolves the @names in text to user ids (sorted, distinct),
// ignoring unknown names and names past MaxMentions.
func (s *Service) mentions(ctx context.Context, text string) ([]int64, error) {
	if s.cfg.UserIDs == nil || !strings.Contains(text, "@") {
		return nil, nil
	}
	var names []string
	for _, m := range mentionRE.FindAllStringSubmatch(text, -1) {
		n := strings.ToLower(m[1])
		if !slices.Contains(names, n) && len(names) < s.cfg.MaxMentions {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	found, err := s.cfg.UserIDs(ctx, names)
	if err != nil {
		return nil, jsonapi.StoreFault(fmt.Errorf("resolve mentions: %w", err))
	}
	var out []int64
	for _, n := range names {
		if id, ok := found[n]; ok && id > 0 && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

// mentionEvent is the "mention" event of ids (minus the actor), or ok=false
// when nobody is left to tell.
func (s *Service) mentionEvent(actor int64, ids []int64, data map[string]string, at time.Time) (ev events.Event, ok bool, err error) {
	to := slices.DeleteFunc(slices.Clone(ids), func(id int64) bool { return id == actor })
	if len(to) == 0 {
		return events.Event{}, false, nil
	}
	ev, err = s.event(KindMention, actor, to, data, at)
	return ev, err == nil, err
}

// checkText validates a post's or comment's text against max bytes.
func checkText(text string, max int) error {
	if len(text) > max {
		return &httperr.Error{Status: http.StatusRequestEntityTooLarge, Code: "text_too_long",
			Message: fmt.Sprintf("text is longer than %d bytes", max), Param: "text"}
	}
	return nil
}

// media reads and checks the media_ids field: at most MaxMedia distinct
// ids, each an upload of uid's. keep are media the post already has (an
// edit): those need no new check.
func (s *Service) media(ctx context.Context, f jsonapi.Fields, uid int64, keep []Media) ([]Media, bool, error) {
	raw, ok := f["media_ids"]
	if !ok || string(raw) == "null" {
		return nil, false, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, false, httperr.BadParam("media_ids", "media_ids must be a list of media id strings")
	}
	if len(list) > s.cfg.MaxMedia {
		return nil, false, httperr.BadParam("media_ids", fmt.Sprintf("at most %d media_ids", s.cfg.MaxMedia))
	}
	out := make([]Media, 0, len(list))
	for i, id := range list {
		if id == "" || len(id) > 256 {
			return nil, false, httperr.BadParam("media_ids", fmt.Sprintf("media_ids[%d] is not a media id", i))
		}
		if slices.Contains(list[:i], id) {
			return nil, false, httperr.BadParam("media_ids", fmt.Sprintf("media id %q is listed twice", id))
		}
		if j := slices.IndexFunc(keep, func(m Media) bool { return m.ID == id }); j >= 0 {
			out = append(out, keep[j])
			continue
		}
		info, err := s.cfg.MediaInfo(ctx, id)
		if errors.Is(err, ErrNoMedia) {
			return nil, false, httperr.BadParam("media_ids", fmt.Sprintf("no media %q", id))
		}
		if err != nil {
			return nil, false, jsonapi.StoreFault(fmt.Errorf("media %q: %w", id, err))
		}
		if info.Owner != "user:"+idStr(uid) {
			return nil, false, &httperr.Error{Status: http.StatusForbidden, Code: "media_not_allowed",
				Message: fmt.Sprintf("media %q is not your upload", id), Param: "media_ids"}
		}
		out = append(out, Media{ID: id, Type: info.Type})
	}
	return out, true, nil
}

// create is POST /v1/posts {text, media_ids}.
func (s *Service) create(w http.ResponseWriter, r *http.Request, uid int64) error {
	key := r.Header.Get("Idempotency-Key")
	if _, ok := r.Header["Idempotency-Key"]; ok {
		if err := jsonapi.CheckIdempotencyKey(key); err != nil {
			return err
		}
	}
	f, err := jsonapi.ReadBody(w, r, s.cfg.MaxBody, "text", "media_ids")
	if err != nil {
		return err
	}
	text, _, err := f.Str("text")
	if err != nil {
		return err
	}
	if err := checkText(text, s.cfg.MaxText); err != nil {
		return err
	}
	media, _, err := s.media(r.Context(), f, uid, nil)
	if err != nil {
		return err
	}
	if strings.TrimSpace(text) == "" && len(media) == 0 {
		return httperr.BadParam("text", "a post needs text or media_ids")
	}
	ctx := r.Context()
	mentioned, err := s.mentions(ctx, text)
	if err != nil {
		return err
	}
	at := s.clock()
	p := Post{ID: s.cfg.IDs.Next(), Author: uid, Text: text, Media: media, Mentions: mentioned, CreatedAt: at}
	evs := func(p Post) ([]events.Event, error) {
		created, err := s.event(KindCreated, uid, nil, postData(p), at)
		if err != nil {
			return nil, err
		}
		evs := []events.Event{created}
		if ev, ok, err := s.mentionEvent(uid, p.Mentions, postData(p), at); err != nil {
			return nil, err
		} else if ok {
			evs = append(evs, ev)
		}
		return evs, nil
	}
	stored, isNew, err := s.store.CreatePost(ctx, p, key, evs)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	if isNew {
		s.notify()
		// A new post has no likes or comments: nothing to read back.
		return jsonapi.Write(w, http.StatusCreated, shape(stored))
	}
	v, err := s.view(ctx, stored, uid)
	if err != nil {
		return err
	}
	return jsonapi.Write(w, http.StatusOK, v)
}

// load reads the {id} post: ErrNotFound, or ErrDeleted for a deleted one
// (both 404).
func (s *Service) load(r *http.Request) (Post, error) {
	id, err := jsonapi.PathID(r, "id")
	if err != nil {
		return Post{}, err
	}
	p, err := s.store.GetPost(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		return Post{}, err
	case err != nil:
		return Post{}, jsonapi.StoreFault(err)
	case p.Deleted:
		return Post{}, fmt.Errorf("post %d: %w", id, ErrDeleted)
	}
	return p, nil
}

// post reads the {id} post as uid sees it: deleted posts are 404 for
// everyone, archived ones for everyone but their author.
func (s *Service) post(r *http.Request, uid int64) (Post, error) {
	p, err := s.load(r)
	if err == nil && p.Archived && p.Author != uid {
		err = fmt.Errorf("post %d is archived: %w", p.ID, ErrNotFound)
	}
	return p, err
}

// own is post for the routes only its author may use.
func (s *Service) own(r *http.Request, uid int64) (Post, error) {
	p, err := s.post(r, uid)
	if err == nil && p.Author != uid {
		err = errNotAuthor
	}
	return p, err
}

func (s *Service) get(w http.ResponseWriter, r *http.Request, uid int64) error {
	p, err := s.post(r, uid)
	if err != nil {
		return err
	}
	v, err := s.view(r.Context(), p, uid)
	if err != nil {
		return err
	}
	return jsonapi.Write(w, http.StatusOK, v)
}

// edit is PATCH /v1/posts/{id} {text?, media_ids?}: one compare-and-set of
// the whole row, so it never brings back a post deleted meanwhile.
func (s *Service) edit(w http.ResponseWriter, r *http.Request, uid int64) error {
	p, err := s.own(r, uid)
	if err != nil {
		return err
	}
	f, err := jsonapi.ReadBody(w, r, s.cfg.MaxBody, "text", "media_ids")
	if err != nil {
		return err
	}
	text, hasText, err := f.Str("text")
	if err != nil {
		return err
	}
	if hasText {
		if err := checkText(text, s.cfg.MaxText); err != nil {
			return err
		}
	}
	ctx := r.Context()
	media, hasMedia, err := s.media(ctx, f, uid, p.Media)
	if err != nil {
		return err
	}
	var mentioned []int64
	if hasText {
		if mentioned, err = s.mentions(ctx, text); err != nil {
			return err
		}
	}
	at := s.clock()
	var current Post // the stored post, when the edit changes nothing
	edited, err := s.store.EditPost(ctx, p.ID, func(old Post) (Post, []events.Event, error) {
		n := old
		if hasText {
			n.Text, n.Mentions = text, mentioned
		}
		if hasMedia {
			n.Media = media
		}
		if strings.TrimSpace(n.Text) == "" && len(n.Media) == 0 {
			return Post{}, nil, httperr.BadParam("text", "a post needs text or media_ids")
		}
		if n.Text == old.Text && slices.Equal(n.Media, old.Media) {
			current = old
			return Post{}, nil, errUnchanged
		}
		n.EditedAt = at
		ev, err := s.event(KindEdited, uid, nil, postData(n), at)
		if err != nil {
			return Post{}, nil, err
		}
		evs := []events.Event{ev}
		// Tell only the users the edit mentions for the first time.
		fresh := slices.DeleteFunc(slices.Clone(n.Mentions), func(id int64) bool { return slices.Contains(old.Mentions, id) })
		if mev, ok, err := s.mentionEvent(uid, fresh, postData(n), at); err != nil {
			return Post{}, nil, err
		} else if ok {
			evs = append(evs, mev)
		}
		return n, evs, nil
	})
	var he *httperr.Error
	switch {
	case errors.Is(err, errUnchanged):
		// Nothing to write, no event: answer with the post as it is.
		edited = current
	case errors.As(err, &he) || errIs(err, ErrDeleted, ErrNotFound, ErrBusy):
		return err
	case err != nil:
		return jsonapi.StoreFault(err)
	default:
		s.notify()
	}
	v, err := s.view(ctx, edited, uid)
	if err != nil {
		return err
	}
	return jsonapi.Write(w, http.StatusOK, v)
}

// delete is DELETE /v1/posts/{id}: a soft delete, 204 (also when it was
// deleted already by its author).
func (s *Service) delete(w http.ResponseWriter, r *http.Request, uid int64) error {
	id, err := jsonapi.PathID(r, "id")
	if err != nil {
		return err
	}
	p, err := s.store.GetPost(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		return err
	case err != nil:
		return jsonapi.StoreFault(err)
	case p.Author != uid:
		if p.Deleted || p.Archived {
			return fmt.Errorf("post %d: %w", id, ErrNotFound)
		}
		return errNotAuthor
	}
	at := s.clock()
	ev, err := s.event(KindDeleted, uid, nil, postData(p), at)
	if err != nil {
		return err
	}
	changed, err := s.store.DeletePost(r.Context(), id, at, ev)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	if changed {
		s.notify()
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// archive is POST (archive) and DELETE (unarchive) /v1/posts/{id}/archive.
func (s *Service) archive(on bool) func(http.ResponseWriter, *http.Request, int64) error {
	kind := KindArchived
	if !on {
		kind = KindUnarchived
	}
	return func(w http.ResponseWriter, r *http.Request, uid int64) error {
		p, err := s.own(r, uid)
		if err != nil {
			return err
		}
		ev, err := s.event(kind, uid, nil, postData(p), s.clock())
		if err != nil {
			return err
		}
		changed, err := s.store.SetArchived(r.Context(), p.ID, on, ev)
		if errors.Is(err, ErrDeleted) || errors.Is(err, ErrNotFound) {
			return err
		} else if err != nil {
			return jsonapi.StoreFault(err)
		}
		if changed {
			s.notify()
		}
		p.Archived = on
		v, err := s.view(r.Context(), p, uid)
		if err != nil {
			return err
		}
		return jsonapi.Write(w, http.StatusOK, v)
	}
}

// shape is p's JSON without its counts.
func shape(p Post) PostJSON {
	v := PostJSON{ID: p.ID, Author: p.Author, Text: p.Text, Media: make([]MediaView, 0, len(p.Media)),
		CreatedAt: p.CreatedAt, EditedAt: p.EditedAt, Archived: p.Archived}
	for _, m := range p.Media {
		v.Media = append(v.Media, MediaJSON(m.ID, m.Type))
	}
	return v
}

// view is p as viewer sees it, with its exact counts.
func (s *Service) view(ctx context.Context, p Post, viewer int64) (PostJSON, error) {
	v := shape(p)
	if p.Deleted {
		return v, nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { v.Likes, err = s.store.LikeCount(gctx, p.ID); return err })
	g.Go(func() (err error) { v.Comments, err = s.store.CommentCount(gctx, p.ID); return err })
	if viewer > 0 {
		g.Go(func() (err error) { v.LikedByMe, err = s.store.Liked(gctx, p.ID, viewer); return err })
	}
	if err := g.Wait(); err != nil {
		return PostJSON{}, jsonapi.StoreFault(fmt.Errorf("counts of post %d: %w", p.ID, err))
	}
	return v, nil
}

// Posts returns the posts of ids as viewer sees them, in the order of ids,
// skipping deleted, archived and missing ones: the feed's read.
func (s *Service) Posts(ctx context.Context, viewer int64, ids []int64) ([]PostJSON, error) {
	out := make([]*PostJSON, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, id := range ids {
		g.Go(func() error {
			p, err := s.store.GetPost(gctx, id)
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			if err != nil {
				return jsonapi.StoreFault(err)
			}
			if p.Deleted || p.Archived {
				return nil
			}
			v, err := s.view(gctx, p, viewer)
			if err != nil {
				return err
			}
			out[i] = &v
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	res := make([]PostJSON, 0, len(ids))
	for _, v := range out {
		if v != nil {
			res = append(res, *v)
		}
	}
	return res, nil
}

// Timeline returns up to limit ids of author's posts below before (0: from
// the newest), newest first: the feed's read of an author's posts.
func (s *Service) Timeline(ctx context.Context, author, before int64, limit int) ([]int64, error) {
	ids, err := s.store.Timeline(ctx, author, before, limit)
	if err != nil {
		return nil, jsonapi.StoreFault(err)
	}
	return ids, nil
}

// timeline is GET /v1/users/{id}/posts: {id} a user id, or "@name" (resolved
// with Config.UserIDs).
func (s *Service) timeline(w http.ResponseWriter, r *http.Request, uid int64) error {
	ctx := r.Context()
	var author int64
	if name, ok := strings.CutPrefix(r.PathValue("id"), "@"); ok && s.cfg.UserIDs != nil {
		name = strings.ToLower(name)
		found, err := s.cfg.UserIDs(ctx, []string{name})
		if err != nil {
			return jsonapi.StoreFault(fmt.Errorf("resolve %q: %w", name, err))
		}
		if author = found[name]; author <= 0 {
			return httperr.NotFound("no such user")
		}
	} else {
		id, err := jsonapi.PathID(r, "id")
		if err != nil {
			return err
		}
		author = id
	}
	limit, cursor, err := s.page(r)
	if err != nil {
		return err
	}
	ids, err := s.Timeline(ctx, author, cursor, limit+1)
	if err != nil {
		return err
	}
	page := pageJSON{}
	if len(ids) > limit {
		ids = ids[:limit]
		page.NextCursor = jsonapi.EncodeCursor(ids[limit-1])
	}
	items, err := s.Posts(ctx, uid, ids)
	if err != nil {
		return err
	}
	page.Items = items
	return jsonapi.Write(w, http.StatusOK, page)
}
