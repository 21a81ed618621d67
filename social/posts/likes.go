package posts

import (
	"net/http"
	"time"

	"github.com/mediaedge/mediaedge/social/jsonapi"
)

// gate reads the {id} post for a like or a comment: 404 if deleted, 409
// if archived (for everyone: an archived post takes no new likes or
// comments).
func (s *Service) gate(r *http.Request) (Post, error) {
	p, err := s.load(r)
	if err == nil && p.Archived {
		err = errArchived
	}
	return p, err
}

// like is PUT (on) and DELETE (off) /v1/posts/{id}/like: idempotent, 200
// {likes, liked} with the exact count after the write.
func (s *Service) like(on bool) func(http.ResponseWriter, *http.Request, int64) error {
	return func(w http.ResponseWriter, r *http.Request, uid int64) error {
		p, err := s.gate(r)
		if err != nil {
			return err
		}
		ctx := r.Context()
		at := s.clock()
		var changed bool
		if on {
			ev, err := s.event(KindLike, uid, toAuthor(p.Author, uid), postData(p), at)
			if err != nil {
				return err
			}
			changed, err = s.store.Like(ctx, p.ID, uid, at, ev)
			if err != nil {
				return jsonapi.StoreFault(err)
			}
		} else {
			ev, err := s.event(KindUnlike, uid, nil, postData(p), at)
			if err != nil {
				return err
			}
			changed, err = s.store.Unlike(ctx, p.ID, uid, ev)
			if err != nil {
				return jsonapi.StoreFault(err)
			}
		}
		if changed {
			s.notify()
		}
		n, err := s.store.LikeCount(ctx, p.ID)
		if err != nil {
			return jsonapi.StoreFault(err)
		}
		return jsonapi.Write(w, http.StatusOK, struct {
			Likes int64 `json:"likes"`
			Liked bool  `json:"liked"`
		}{n, on})
	}
}

type likeJSON struct {
	UserID  int64     `json:"user_id,string"`
	LikedAt time.Time `json:"liked_at"`
}

// likers is GET /v1/posts/{id}/likes?limit=&cursor=: who liked the post,
// in user id order.
func (s *Service) likers(w http.ResponseWriter, r *http.Request, uid int64) error {
	p, err := s.post(r, uid)
	if err != nil {
		return err
	}
	limit, cursor, err := s.page(r)
	if err != nil {
		return err
	}
	ls, err := s.store.Likers(r.Context(), p.ID, cursor, limit+1)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	page := pageJSON{}
	if len(ls) > limit {
		ls = ls[:limit]
		page.NextCursor = jsonapi.EncodeCursor(ls[limit-1].User)
	}
	items := make([]likeJSON, len(ls))
	for i, l := range ls {
		items[i] = likeJSON{UserID: l.User, LikedAt: l.LikedAt}
	}
	page.Items = items
	return jsonapi.Write(w, http.StatusOK, page)
}
