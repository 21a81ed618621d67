package pebblestore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/pebblekv"
	"github.com/mediaedge/mediaedge/social/posts"
)

type likeRow struct {
	At time.Time `json:"at"`
}

// toggleLike adds or removes user's like of post and moves the count with
// it, in one batch under the post's mutex. The mutex is held only while the
// batch is applied, not while the WAL syncs: the sync comes after, and
// Pebble syncs the concurrent likes of a hot post together (group commit),
// so 10,000 likes a second on one post are not 10,000 fsyncs in a row. The
// call returns only once its batch is durable; a crash before that loses
// the like, its count and its event together (one batch in the WAL).
func (s *Store) toggleLike(ctx context.Context, post, user int64, on bool, at time.Time, ev events.Event) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	unlock := s.stripes.Lock('p', post)
	changed, err := s.applyLike(post, user, on, at, ev)
	unlock()
	if err != nil || !changed {
		return false, err
	}
	return true, s.db.SyncWAL()
}

// applyLike reads and writes (unsynced) under the post's mutex.
func (s *Store) applyLike(post, user int64, on bool, at time.Time, ev events.Event) (bool, error) {
	lk := pebblekv.Key(pLike, post, user)
	found, err := s.db.Get(lk, nil)
	if err != nil || found == on {
		return false, err
	}
	ck := pebblekv.Key(pNLike, post)
	n, err := s.count(ck)
	if err != nil {
		return false, err
	}
	b := s.db.NewBatch()
	if on {
		b.Set(lk, likeRow{At: at})
		n++
	} else {
		b.Delete(lk)
		n--
	}
	b.SetRaw(ck, countValue(n))
	b.Event(ev)
	if err := b.CommitNoSync(); err != nil {
		return false, err
	}
	return true, nil
}

// Like records a like.
func (s *Store) Like(ctx context.Context, post, user int64, at time.Time, ev events.Event) (bool, error) {
	changed, err := s.toggleLike(ctx, post, user, true, at, ev)
	if err != nil {
		return false, fmt.Errorf("like post %d by %d: %w", post, user, err)
	}
	return changed, nil
}

// Unlike removes a like.
func (s *Store) Unlike(ctx context.Context, post, user int64, ev events.Event) (bool, error) {
	changed, err := s.toggleLike(ctx, post, user, false, time.Time{}, ev)
	if err != nil {
		return false, fmt.Errorf("unlike post %d by %d: %w", post, user, err)
	}
	return changed, nil
}

// Liked reads one like.
func (s *Store) Liked(ctx context.Context, post, user int64) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	found, err := s.db.Get(pebblekv.Key(pLike, post, user), nil)
	if err != nil {
		return false, fmt.Errorf("liked post %d by %d: %w", post, user, err)
	}
	return found, nil
}

// LikeCount reads the count key.
func (s *Store) LikeCount(ctx context.Context, post int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.count(pebblekv.Key(pNLike, post))
	if err != nil {
		return 0, fmt.Errorf("like count of %d: %w", post, err)
	}
	return n, nil
}

// Likers pages through a post's likes in user id order.
func (s *Store) Likers(ctx context.Context, post, after int64, limit int) ([]posts.Like, error) {
	if after == math.MaxInt64 {
		return nil, nil
	}
	prefix := pebblekv.Key(pLike, post)
	var out []posts.Like
	err := s.db.Scan(ctx, pebblekv.Key(pLike, post, max(after, 0)+1), pebblekv.PrefixEnd(prefix), func(k, v []byte) (bool, error) {
		var r likeRow
		if err := json.Unmarshal(v, &r); err != nil {
			return false, fmt.Errorf("decode %q: %w", k, err)
		}
		out = append(out, posts.Like{User: pebblekv.LastID(k), LikedAt: r.At})
		return limit <= 0 || len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("likers of %d: %w", post, err)
	}
	return out, nil
}

// AddComment writes a comment and raises the count, under the post's
// mutex, which also guards the post's comment keys: with a key, a live
// key whose comment still exists returns that comment instead.
func (s *Store) AddComment(ctx context.Context, c posts.Comment, idem string, evs []events.Event) (posts.Comment, bool, error) {
	if err := ctx.Err(); err != nil {
		return posts.Comment{}, false, err
	}
	defer s.stripes.Lock('p', c.Post)()
	var ik []byte
	if idem != "" {
		ik = append(pebblekv.Key(pCIdem, c.Post, c.Author), idem...)
		var ir commentIdemRow
		found, err := s.db.Get(ik, &ir)
		if err != nil {
			return posts.Comment{}, false, fmt.Errorf("add comment to %d: read key %q: %w", c.Post, idem, err)
		}
		if found && s.now().Sub(ir.At) < s.ttl {
			var r commentRow
			found, err := s.db.Get(pebblekv.Key(pCmt, c.Post, ir.Comment), &r)
			if err != nil {
				return posts.Comment{}, false, fmt.Errorf("add comment to %d: read comment %d of key %q: %w", c.Post, ir.Comment, idem, err)
			}
			if found {
				return fromComment(c.Post, ir.Comment, r), false, nil
			}
			// The key's comment was deleted: the key is free again.
		}
	}
	ck := pebblekv.Key(pNCmt, c.Post)
	n, err := s.count(ck)
	if err != nil {
		return posts.Comment{}, false, fmt.Errorf("add comment to %d: %w", c.Post, err)
	}
	b := s.db.NewBatch()
	b.Set(pebblekv.Key(pCmt, c.Post, c.ID), commentRow{Author: c.Author, Text: c.Text, Mentions: c.Mentions, CreatedAt: c.CreatedAt})
	b.SetRaw(ck, countValue(n+1))
	if ik != nil {
		b.Set(ik, commentIdemRow{Comment: c.ID, At: s.now()})
	}
	b.Event(evs...)
	if err := b.Commit(); err != nil {
		return posts.Comment{}, false, fmt.Errorf("add comment to %d: %w", c.Post, err)
	}
	return c, true, nil
}

func fromComment(post, id int64, r commentRow) posts.Comment {
	return posts.Comment{ID: id, Post: post, Author: r.Author, Text: r.Text, Mentions: r.Mentions, CreatedAt: r.CreatedAt}
}

// GetComment reads one comment.
func (s *Store) GetComment(ctx context.Context, post, id int64) (posts.Comment, error) {
	if err := ctx.Err(); err != nil {
		return posts.Comment{}, err
	}
	var r commentRow
	found, err := s.db.Get(pebblekv.Key(pCmt, post, id), &r)
	if err == nil && !found {
		err = posts.ErrNotFound
	}
	if err != nil {
		return posts.Comment{}, fmt.Errorf("get comment %d of %d: %w", id, post, err)
	}
	return fromComment(post, id, r), nil
}

// DeleteComment removes a comment and lowers the count.
func (s *Store) DeleteComment(ctx context.Context, post, id int64, ev events.Event) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	defer s.stripes.Lock('p', post)()
	k := pebblekv.Key(pCmt, post, id)
	found, err := s.db.Get(k, nil)
	if err != nil || !found {
		return false, err
	}
	ck := pebblekv.Key(pNCmt, post)
	n, err := s.count(ck)
	if err != nil {
		return false, fmt.Errorf("delete comment %d of %d: %w", id, post, err)
	}
	b := s.db.NewBatch()
	b.Delete(k)
	b.SetRaw(ck, countValue(n-1))
	b.Event(ev)
	if err := b.Commit(); err != nil {
		return false, fmt.Errorf("delete comment %d of %d: %w", id, post, err)
	}
	return true, nil
}

// Comments pages through a post's comments, oldest first.
func (s *Store) Comments(ctx context.Context, post, after int64, limit int) ([]posts.Comment, error) {
	if after == math.MaxInt64 {
		return nil, nil
	}
	prefix := pebblekv.Key(pCmt, post)
	var out []posts.Comment
	err := s.db.Scan(ctx, pebblekv.Key(pCmt, post, max(after, 0)+1), pebblekv.PrefixEnd(prefix), func(k, v []byte) (bool, error) {
		var r commentRow
		if err := json.Unmarshal(v, &r); err != nil {
			return false, fmt.Errorf("decode %q: %w", k, err)
		}
		out = append(out, fromComment(post, pebblekv.LastID(k), r))
		return limit <= 0 || len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("comments of %d: %w", post, err)
	}
	return out, nil
}

// CommentCount reads the count key.
func (s *Store) CommentCount(ctx context.Context, post int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.count(pebblekv.Key(pNCmt, post))
	if err != nil {
		return 0, fmt.Errorf("comment count of %d: %w", post, err)
	}
	return n, nil
}
