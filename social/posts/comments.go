package posts

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/jsonapi"
)

// CommentJSON is a comment as the API answers it.
type CommentJSON struct {
	ID        int64       `json:"id,string"`
	PostID    int64       `json:"post_id,string"`
	Author    int64       `json:"author,string"`
	Text      string      `json:"text"`
	CreatedAt time.Time   `json:"created_at"`
	Mentions  jsonapi.IDs `json:"mentions"`
}

func commentJSON(c Comment) CommentJSON {
	m := jsonapi.IDs(c.Mentions)
	if m == nil {
		m = jsonapi.IDs{}
	}
	return CommentJSON{ID: c.ID, PostID: c.Post, Author: c.Author, Text: c.Text, CreatedAt: c.CreatedAt, Mentions: m}
}

// preview is the first PreviewRunes runes of text.
func preview(text string) string {
	n := 0
	for i := range text {
		if n == PreviewRunes {
			return text[:i]
		}
		n++
	}
	return text
}

// addComment is POST /v1/posts/{id}/comments {text}. A retry with the
// same Idempotency-Key (per author and post, 24 hours) answers 200 with
// the first comment, whatever its text, and writes nothing, as a retried
// post create does.
func (s *Service) addComment(w http.ResponseWriter, r *http.Request, uid int64) error {
	key := r.Header.Get("Idempotency-Key")
	if _, ok := r.Header["Idempotency-Key"]; ok {
		if err := jsonapi.CheckIdempotencyKey(key); err != nil {
			return err
		}
	}
	p, err := s.gate(r)
	if err != nil {
		return err
	}
	f, err := jsonapi.ReadBody(w, r, s.cfg.MaxBody, "text")
	if err != nil {
		return err
	}
	text, err := f.Required("text")
	if err != nil {
		return err
	}
	if err := checkText(text, s.cfg.MaxComment); err != nil {
		return err
	}
	if strings.TrimSpace(text) == "" {
		return httperr.BadParam("text", "text must not be empty")
	}
	ctx := r.Context()
	mentioned, err := s.mentions(ctx, text)
	if err != nil {
		return err
	}
	at := s.clock()
	c := Comment{ID: s.cfg.IDs.Next(), Post: p.ID, Author: uid, Text: text, Mentions: mentioned, CreatedAt: at}
	data := postData(p)
	data["comment_id"] = idStr(c.ID)
	mdata := map[string]string{"post_id": data["post_id"], "comment_id": data["comment_id"], "author": data["author"]}
	data["text"] = preview(text)
	ev, err := s.event(KindComment, uid, toAuthor(p.Author, uid), data, at)
	if err != nil {
		return err
	}
	evs := []events.Event{ev}
	if mev, ok, err := s.mentionEvent(uid, mentioned, mdata, at); err != nil {
		return err
	} else if ok {
		evs = append(evs, mev)
	}
	stored, created, err := s.store.AddComment(ctx, c, key, evs)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	if !created {
		return jsonapi.Write(w, http.StatusOK, commentJSON(stored))
	}
	s.notify()
	return jsonapi.Write(w, http.StatusCreated, commentJSON(stored))
}

// listComments is GET /v1/posts/{id}/comments?limit=&cursor=, oldest first.
func (s *Service) listComments(w http.ResponseWriter, r *http.Request, uid int64) error {
	p, err := s.post(r, uid)
	if err != nil {
		return err
	}
	limit, cursor, err := s.page(r)
	if err != nil {
		return err
	}
	cs, err := s.store.Comments(r.Context(), p.ID, cursor, limit+1)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	page := pageJSON{}
	if len(cs) > limit {
		cs = cs[:limit]
		page.NextCursor = jsonapi.EncodeCursor(cs[limit-1].ID)
	}
	items := make([]CommentJSON, len(cs))
	for i, c := range cs {
		items[i] = commentJSON(c)
	}
	page.Items = items
	return jsonapi.Write(w, http.StatusOK, page)
}

// deleteComment is DELETE /v1/posts/{id}/comments/{cid}: by the comment's
// author or the post's; 204.
func (s *Service) deleteComment(w http.ResponseWriter, r *http.Request, uid int64) error {
	p, err := s.post(r, uid)
	if err != nil {
		return err
	}
	cid, err := jsonapi.PathID(r, "cid")
	if err != nil {
		return err
	}
	ctx := r.Context()
	c, err := s.store.GetComment(ctx, p.ID, cid)
	if err != nil {
		if errIs(err, ErrNotFound) {
			return err
		}
		return jsonapi.StoreFault(err)
	}
	if c.Author != uid && p.Author != uid {
		return errNotAllowed
	}
	data := postData(p)
	data["comment_id"] = idStr(cid)
	ev, err := s.event(KindCommentDeleted, uid, nil, data, s.clock())
	if err != nil {
		return err
	}
	changed, err := s.store.DeleteComment(ctx, p.ID, cid, ev)
	if err != nil {
		return jsonapi.StoreFault(fmt.Errorf("delete comment %d: %w", cid, err))
	}
	if changed {
		s.notify()
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
