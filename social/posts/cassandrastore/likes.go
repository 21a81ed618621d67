package cassandrastore

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"golang.org/x/sync/errgroup"

	"github.com/mediaedge/mediaedge/social/cqlrows"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/posts"
)

const (
	qGetLike    = `SELECT liked_at FROM post_likes WHERE post_id = ? AND shard = ? AND user_id = ?`
	qPutLike    = `INSERT INTO post_likes (post_id, shard, user_id, liked_at) VALUES (?, ?, ?, ?)`
	qDelLike    = `DELETE FROM post_likes WHERE post_id = ? AND shard = ? AND user_id = ?`
	qCountLikes = `SELECT COUNT(*) FROM post_likes WHERE post_id = ? AND shard IN ?`
	qLikers     = `SELECT user_id, liked_at FROM post_likes WHERE post_id = ? AND shard = ? AND user_id > ? LIMIT ?`

	commentCols    = `author, text, mentions, created_at`
	qGetComment    = `SELECT ` + commentCols + ` FROM post_comments WHERE post_id = ? AND shard = ? AND comment_id = ?`
	qHasComment    = `SELECT author FROM post_comments WHERE post_id = ? AND shard = ? AND comment_id = ?`
	qPutComment    = `INSERT INTO post_comments (post_id, shard, comment_id, ` + commentCols + `) VALUES (?, ?, ?, ?, ?, ?, ?)`
	qDelComment    = `DELETE FROM post_comments WHERE post_id = ? AND shard = ? AND comment_id = ?`
	qCountComments = `SELECT COUNT(*) FROM post_comments WHERE post_id = ? AND shard IN ?`
	qComments      = `SELECT comment_id, ` + commentCols + ` FROM post_comments WHERE post_id = ? AND shard = ? AND comment_id > ? LIMIT ?`
)

// shardOf is the partition of a like (by user id) or a comment (by its id).
func shardOf(id int64) int { return int(uint64(id) % posts.LikeShards) }

// allShards is the IN list of a count.
var allShards = func() []int {
	s := make([]int, posts.LikeShards)
	for i := range s {
		s[i] = i
	}
	return s
}()

// count is the exact number of rows of a post's 16 shard partitions: one
// COUNT(*) with the shards in an IN list (the coordinator reads each).
// Concurrent counts of one post share a flight (count.go), never one
// that started before they asked.
func (s *Store) count(ctx context.Context, q string, post int64) (int64, error) {
	kind := byte('l')
	if q == qCountComments {
		kind = 'c'
	}
	return s.counts.do(ctx, countKey{kind, post}, func(ctx context.Context) (int64, error) {
		var n int64
		if err := s.s.Query(q, post, allShards).Idempotent(true).ScanContext(ctx, &n); err != nil {
			return 0, err
		}
		return n, nil
	})
}

// Like writes the like row and ev, unless the user likes the post already.
func (s *Store) Like(ctx context.Context, post, user int64, at time.Time, ev events.Event) (bool, error) {
	k := []any{post, shardOf(user), user}
	changed, err := cqlrows.Toggle(ctx, s.s, true, qGetLike, k, qPutLike, append(k, ms(at)), ev)
	if err != nil {
		return false, fmt.Errorf("like post %d by %d: %w", post, user, err)
	}
	return changed, nil
}

// Unlike deletes the like row with ev, if there is one.
func (s *Store) Unlike(ctx context.Context, post, user int64, ev events.Event) (bool, error) {
	k := []any{post, shardOf(user), user}
	changed, err := cqlrows.Toggle(ctx, s.s, false, qGetLike, k, qDelLike, k, ev)
	if err != nil {
		return false, fmt.Errorf("unlike post %d by %d: %w", post, user, err)
	}
	return changed, nil
}

// Liked is a point read of the like row.
func (s *Store) Liked(ctx context.Context, post, user int64) (bool, error) {
	ok, err := cqlrows.Exists(ctx, s.s, qGetLike, post, shardOf(user), user)
	if err != nil {
		return false, fmt.Errorf("liked post %d by %d: %w", post, user, err)
	}
	return ok, nil
}

// LikeCount counts the like rows of the 16 shards.
func (s *Store) LikeCount(ctx context.Context, post int64) (int64, error) {
	n, err := s.count(ctx, qCountLikes, post)
	if err != nil {
		return 0, fmt.Errorf("like count of %d: %w", post, err)
	}
	return n, nil
}

// merge reads up to limit rows above after from each of the 16 shards in
// parallel (read(shard, n) returns them in key order) and returns the
// first limit of all by key.
func merge[T any](ctx context.Context, limit int, key func(T) int64, read func(ctx context.Context, shard, n int) ([]T, error)) ([]T, error) {
	if limit <= 0 {
		limit = math.MaxInt32
	}
	parts := make([][]T, posts.LikeShards)
	g, gctx := errgroup.WithContext(ctx)
	for sh := range posts.LikeShards {
		g.Go(func() (err error) {
			parts[sh], err = read(gctx, sh, limit)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []T
	for _, p := range parts {
		out = append(out, p...)
	}
	slices.SortFunc(out, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Likers merges the shards in user id order.
func (s *Store) Likers(ctx context.Context, post, after int64, limit int) ([]posts.Like, error) {
	out, err := merge(ctx, limit, func(l posts.Like) int64 { return l.User }, func(ctx context.Context, shard, n int) ([]posts.Like, error) {
		var out []posts.Like
		it := s.s.Query(qLikers, post, shard, after, n).Idempotent(true).IterContext(ctx)
		var l posts.Like
		for it.Scan(&l.User, &l.LikedAt) {
			l.LikedAt = unms(l.LikedAt)
			out = append(out, l)
		}
		return out, it.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("likers of %d: %w", post, err)
	}
	return out, nil
}

// AddComment claims the key (if any; commentkey.go), then writes the
// comment row with evs in one batch.
func (s *Store) AddComment(ctx context.Context, c posts.Comment, key string, evs []events.Event) (posts.Comment, bool, error) {
	c.CreatedAt = ms(c.CreatedAt)
	if len(c.Mentions) == 0 {
		c.Mentions = nil
	}
	if key != "" {
		prev, done, err := s.claimComment(ctx, c, key)
		if err != nil || done {
			return prev, false, err
		}
	}
	b := cqlrows.NewBatch(s.s)
	b.Add(qPutComment, c.Post, shardOf(c.ID), c.ID, c.Author, c.Text, ints(c.Mentions), c.CreatedAt)
	b.Event(evs...)
	if err := b.Exec(ctx); err != nil {
		return posts.Comment{}, false, fmt.Errorf("add comment %d to %d: %w", c.ID, c.Post, err)
	}
	return c, true, nil
}

func scanComment(post int64, it *gocql.Iter, c *posts.Comment) bool {
	var mentions []int64
	var at time.Time
	*c = posts.Comment{Post: post}
	if !it.Scan(&c.ID, &c.Author, &c.Text, &mentions, &at) {
		return false
	}
	if len(mentions) > 0 {
		c.Mentions = mentions
	}
	c.CreatedAt = unms(at)
	return true
}

// GetComment is a point read.
func (s *Store) GetComment(ctx context.Context, post, id int64) (posts.Comment, error) {
	c := posts.Comment{ID: id, Post: post}
	var mentions []int64
	var at time.Time
	found, err := cqlrows.Read(ctx, s.s, qGetComment, []any{post, shardOf(id), id}, &c.Author, &c.Text, &mentions, &at)
	if err == nil && !found {
		err = posts.ErrNotFound
	}
	if err != nil {
		return posts.Comment{}, fmt.Errorf("get comment %d of %d: %w", id, post, err)
	}
	if len(mentions) > 0 {
		c.Mentions = mentions
	}
	c.CreatedAt = unms(at)
	return c, nil
}

// DeleteComment deletes the row with ev, if it is there.
func (s *Store) DeleteComment(ctx context.Context, post, id int64, ev events.Event) (bool, error) {
	k := []any{post, shardOf(id), id}
	found, err := cqlrows.Exists(ctx, s.s, qHasComment, k...)
	if err != nil || !found {
		return false, err
	}
	b := cqlrows.NewBatch(s.s)
	b.Add(qDelComment, k...)
	b.Event(ev)
	if err := b.Exec(ctx); err != nil {
		return false, fmt.Errorf("delete comment %d of %d: %w", id, post, err)
	}
	return true, nil
}

// Comments merges the shards in comment id order.
func (s *Store) Comments(ctx context.Context, post, after int64, limit int) ([]posts.Comment, error) {
	out, err := merge(ctx, limit, func(c posts.Comment) int64 { return c.ID }, func(ctx context.Context, shard, n int) ([]posts.Comment, error) {
		var out []posts.Comment
		it := s.s.Query(qComments, post, shard, after, n).Idempotent(true).IterContext(ctx)
		var c posts.Comment
		for scanComment(post, it, &c) {
			out = append(out, c)
		}
		return out, it.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("comments of %d: %w", post, err)
	}
	return out, nil
}

// CommentCount counts the comment rows of the 16 shards.
func (s *Store) CommentCount(ctx context.Context, post int64) (int64, error) {
	n, err := s.count(ctx, qCountComments, post)
	if err != nil {
		return 0, fmt.Errorf("comment count of %d: %w", post, err)
	}
	return n, nil
}
