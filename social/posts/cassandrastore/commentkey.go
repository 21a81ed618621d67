package cassandrastore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
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

// claimComment claims key for c. done=true: the key belongs to a comment
// that exists, returned as prev (a retry). An error is posts.ErrBusy while
// the key's comment is being added elsewhere.
func (s *Store) claimComment(ctx context.Context, c posts.Comment, key string) (prev posts.Comment, done bool, err error) {
	op := fmt.Sprintf("add comment to %d: key %q of %d", c.Post, key, c.Author)
	ik, ttl := commentKey(c.Post, key), int(s.cfg.IdempotencyTTL/time.Second)
	m := map[string]any{}
	// Idempotent: a driver retry of our applied claim answers with our own
	// comment id, recognised below.
	applied, err := cqlrows.CAS(ctx, s.s, s.cfg.Serial, m, true, qClaimKey, c.Author, ik, c.ID, ttl)
	if err != nil {
		return posts.Comment{}, false, fmt.Errorf("%s: claim: %w", op, err)
	}
	for try := 0; !applied; try++ {
		holder, _ := m["post_id"].(int64)
		if holder == c.ID {
			return posts.Comment{}, false, nil // a driver retry of our own claim
		}
		existing, err := s.GetComment(ctx, c.Post, holder)
		switch {
		case err == nil:
			return existing, true, nil
		case !errors.Is(err, posts.ErrNotFound):
			return posts.Comment{}, false, fmt.Errorf("%s: %w", op, err)
		case try >= 3:
			return posts.Comment{}, false, fmt.Errorf("%s: claim keeps changing: %w", op, posts.ErrBusy)
		case time.Since(madeAt(holder)) < s.cfg.ClaimGrace:
			return s.awaitComment(ctx, op, c.Post, holder)
		}
		// A stale claim: its add died before its batch, or its comment
		// was deleted since.
		m = map[string]any{}
		applied, err = cqlrows.CAS(ctx, s.s, s.cfg.Serial, m, false, qTakeoverKey, ttl, c.ID, c.Author, ik, holder)
		if err != nil {
			return posts.Comment{}, false, fmt.Errorf("%s: take over stale claim: %w", op, err)
		}
		if !applied {
			m = map[string]any{}
			err := s.s.Query(qReadKey, c.Author, ik).Consistency(s.cfg.Serial).Idempotent(true).MapScanContext(ctx, m)
			if errors.Is(err, gocql.ErrNotFound) {
				// Expired meanwhile: claim it afresh.
				m = map[string]any{}
				applied, err = cqlrows.CAS(ctx, s.s, s.cfg.Serial, m, true, qClaimKey, c.Author, ik, c.ID, ttl)
			}
			if err != nil {
				return posts.Comment{}, false, fmt.Errorf("%s: read claim: %w", op, err)
			}
		}
	}
	return posts.Comment{}, false, nil
}

// awaitComment waits for the comment of a key claim in flight.
func (s *Store) awaitComment(ctx context.Context, op string, post, id int64) (posts.Comment, bool, error) {
	deadline := time.Now().Add(s.cfg.ReplayWait)
	for time.Now().Before(deadline) {
		if err := cqlrows.Sleep(ctx, cqlrows.Jitter(100*time.Millisecond)); err != nil {
			return posts.Comment{}, false, err
		}
		c, err := s.GetComment(ctx, post, id)
		if err == nil {
			return c, true, nil
		}
		if !errors.Is(err, posts.ErrNotFound) {
			return posts.Comment{}, false, fmt.Errorf("%s: %w", op, err)
		}
	}
	return posts.Comment{}, false, fmt.Errorf("%s: comment %d still being added: %w", op, id, posts.ErrBusy)
}
