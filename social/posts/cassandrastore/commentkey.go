package cassandrastore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/bwmarrin/snowflake"

	"github.com/mediaedge/mediaedge/social/cqlrows"
	"github.com/mediaedge/mediaedge/social/posts"
)

// A comment's Idempotency-Key is claimed in posts_idempotency, the table
// of post creates' keys, lightweight transactions only like theirs: see
// the package doc.
const (
	qTakeoverKey = `UPDATE posts_idempotency USING TTL ? SET post_id = ? WHERE author_id = ? AND idem_key = ? IF post_id = ?`
	qReadKey     = `SELECT post_id FROM posts_idempotency WHERE author_id = ? AND idem_key = ?`
)

// commentKey is the idem_key of a comment's Idempotency-Key: the key
// scoped to its post, with spaces around the post id. An Idempotency-Key
// has no space (jsonapi.CheckIdempotencyKey), so no post create's key is
// ever a comment's.
func commentKey(post int64, key string) string {
	return "comment " + strconv.FormatInt(post, 10) + " " + key
}

// madeAt is when an id was made: social/ids ids are snowflake ids, 41
// bits of milliseconds since snowflake.Epoch on top. A comment key's
// claim was made with its comment id, so this is the claim's age without
// a column for it.
func madeAt(id int64) time.Time { return time.UnixMilli(snowflake.ParseInt64(id).Time()) }

// claimComment claims key for c (cqlrows.KeyClaim). done=true: the key
// belongs to a comment that exists, returned as prev (a retry). An error is
// posts.ErrBusy while the key's comment is being added elsewhere. A claim
// is young while its comment id (made when the claim was) is younger than
// ClaimGrace; one whose comment was deleted since is taken over.
func (s *Store) claimComment(ctx context.Context, c posts.Comment, key string) (prev posts.Comment, done bool, err error) {
	ik, ttl := commentKey(c.Post, key), int(s.cfg.IdempotencyTTL/time.Second)
	holderOf := func(m map[string]any) int64 { id, _ := m["post_id"].(int64); return id }
	return cqlrows.KeyClaim[posts.Comment]{
		Op:   fmt.Sprintf("add comment to %d: key %q of %d", c.Post, key, c.Author),
		Mine: c.ID,
		// Idempotent: a driver retry of our applied claim answers with
		// our own comment id, which Run recognises.
		Claim: func(ctx context.Context, m map[string]any) (bool, error) {
			return cqlrows.CAS(ctx, s.s, s.cfg.Serial, m, true, qClaimKey, c.Author, ik, c.ID, ttl)
		},
		Holder: func(m map[string]any) (int64, bool) {
			id := holderOf(m)
			return id, time.Since(madeAt(id)) < s.cfg.ClaimGrace
		},
		TakeOver: func(ctx context.Context, row, m map[string]any) (bool, error) {
			return cqlrows.CAS(ctx, s.s, s.cfg.Serial, m, false, qTakeoverKey, ttl, c.ID, c.Author, ik, holderOf(row))
		},
		Reread: func(ctx context.Context, m map[string]any) error {
			return s.s.Query(qReadKey, c.Author, ik).Consistency(s.cfg.Serial).Idempotent(true).MapScanContext(ctx, m)
		},
		Get:      func(ctx context.Context, id int64) (posts.Comment, error) { return s.GetComment(ctx, c.Post, id) },
		NotFound: posts.ErrNotFound,
		Busy:     posts.ErrBusy,
		Wait:     s.cfg.ReplayWait,
	}.Run(ctx)
}
