// Package cassandrastore is the feed.Store on Cassandra (tables
// feed_entries and feed_celebrities, schema/cql/0008_social_feed.cql).
//
// Every write is keyed, so every method is idempotent and the driver may
// retry any statement. Nothing here needs atomicity across partitions:
//
//   - Fanout writes one post into many feeds as concurrent single-partition
//     inserts, at most Config.Concurrency in flight (a LOGGED batch across
//     10,000 partitions would be refused, and an UNLOGGED one would load a
//     single coordinator with all of it). A failure leaves the post in some
//     feeds; the consumer retries the event and the rest are written.
//   - Add (a follow's back-fill) is one UNLOGGED batch per chunk of rows:
//     one partition, so one mutation.
//   - Trim reads the newest keep+1 post ids and, if the feed is longer,
//     deletes everything at or below the last of them with one range
//     delete.
//   - RemoveAuthor scans the (trimmed, bounded) partition and deletes the
//     author's rows in single-partition UNLOGGED batches.
package cassandrastore

import (
	"context"
	"errors"
	"fmt"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"golang.org/x/sync/errgroup"

	"github.com/mediaedge/mediaedge/social/feed"
)

// Config tunes the store.
type Config struct {
	// Concurrency is how many inserts one Fanout keeps in flight.
	Concurrency int
	// BatchRows is how many rows of one partition go in one UNLOGGED batch
	// (Add, RemoveAuthor); small enough to stay under the server's
	// batch_size_warn_threshold (5 kB: ~100 rows of three bigints).
	BatchRows int
}

// DefaultConfig is what production uses.
func DefaultConfig() Config { return Config{Concurrency: 64, BatchRows: 100} }

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Concurrency < 1 || c.Concurrency > 1024 {
		errs = append(errs, fmt.Errorf("feed cassandrastore: concurrency %d: want 1..1024", c.Concurrency))
	}
	if c.BatchRows < 1 || c.BatchRows > 500 {
		errs = append(errs, fmt.Errorf("feed cassandrastore: batch rows %d: want 1..500", c.BatchRows))
	}
	return errors.Join(errs...)
}

// Store implements feed.Store; its queries run at the session's
// consistency (LOCAL_QUORUM by default).
type Store struct {
	s   *gocql.Session
	cfg Config
}

var _ feed.Store = (*Store)(nil)

// New returns the store over s, a session bound to the keyspace holding the
// schema. The caller owns and closes the session.
func New(s *gocql.Session, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Store{s: s, cfg: cfg}, nil
}

const (
	qInsert      = `INSERT INTO feed_entries (user_id, post_id, author) VALUES (?, ?, ?)`
	qReadTop     = `SELECT post_id, author FROM feed_entries WHERE user_id = ? LIMIT ?`
	qReadBelow   = `SELECT post_id, author FROM feed_entries WHERE user_id = ? AND post_id < ? LIMIT ?`
	qTopIDs      = `SELECT post_id FROM feed_entries WHERE user_id = ? LIMIT ?`
	qTrim        = `DELETE FROM feed_entries WHERE user_id = ? AND post_id <= ?`
	qScan        = `SELECT post_id, author FROM feed_entries WHERE user_id = ?`
	qDelete      = `DELETE FROM feed_entries WHERE user_id = ? AND post_id = ?`
	qMarkCeleb   = `INSERT INTO feed_celebrities (bucket, author) VALUES (0, ?)`
	qCelebrities = `SELECT author FROM feed_celebrities WHERE bucket = 0`
)

// Add writes entries into user's feed, BatchRows to an UNLOGGED batch.
func (s *Store) Add(ctx context.Context, user int64, entries []feed.Entry) error {
	for len(entries) > 0 {
		n := min(len(entries), s.cfg.BatchRows)
		b := s.s.Batch(gocql.UnloggedBatch)
		for _, e := range entries[:n] {
			b.Entries = append(b.Entries, gocql.BatchEntry{Stmt: qInsert, Args: []any{user, e.Post, e.Author}, Idempotent: true})
		}
		if err := b.ExecContext(ctx); err != nil {
			return fmt.Errorf("add %d entries to the feed of %d: %w", n, user, err)
		}
		entries = entries[n:]
	}
	return nil
}

// Fanout inserts e into every user's feed, Config.Concurrency at once.
func (s *Store) Fanout(ctx context.Context, users []int64, e feed.Entry) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Concurrency)
	for _, u := range users {
		g.Go(func() error {
			if err := s.s.Query(qInsert, u, e.Post, e.Author).Idempotent(true).ExecContext(gctx); err != nil {
				return fmt.Errorf("fan out post %d to %d: %w", e.Post, u, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// Read returns up to limit entries below before, newest first (the
// clustering order).
func (s *Store) Read(ctx context.Context, user, before int64, limit int) ([]feed.Entry, error) {
	if limit <= 0 {
		return nil, nil
	}
	q := s.s.Query(qReadTop, user, limit)
	if before > 0 {
		q = s.s.Query(qReadBelow, user, before, limit)
	}
	it := q.Idempotent(true).PageSize(limit).IterContext(ctx)
	out := make([]feed.Entry, 0, limit)
	var e feed.Entry
	for it.Scan(&e.Post, &e.Author) {
		out = append(out, e)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("read the feed of %d: %w", user, err)
	}
	return out, nil
}

// Trim deletes all but the newest keep entries with one range delete.
func (s *Store) Trim(ctx context.Context, user int64, keep int) error {
	it := s.s.Query(qTopIDs, user, keep+1).Idempotent(true).PageSize(keep + 1).IterContext(ctx)
	var id, last int64
	n := 0
	for it.Scan(&id) {
		last = id
		n++
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("trim the feed of %d: %w", user, err)
	}
	if n <= keep {
		return nil
	}
	if err := s.s.Query(qTrim, user, last).Idempotent(true).ExecContext(ctx); err != nil {
		return fmt.Errorf("trim the feed of %d at %d: %w", user, last, err)
	}
	return nil
}

// RemoveAuthor deletes author's rows from user's feed.
func (s *Store) RemoveAuthor(ctx context.Context, user, author int64) error {
	it := s.s.Query(qScan, user).Idempotent(true).IterContext(ctx)
	var post, a int64
	var del []int64
	for it.Scan(&post, &a) {
		if a == author {
			del = append(del, post)
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("scan the feed of %d: %w", user, err)
	}
	for len(del) > 0 {
		n := min(len(del), s.cfg.BatchRows)
		b := s.s.Batch(gocql.UnloggedBatch)
		for _, p := range del[:n] {
			b.Entries = append(b.Entries, gocql.BatchEntry{Stmt: qDelete, Args: []any{user, p}, Idempotent: true})
		}
		if err := b.ExecContext(ctx); err != nil {
			return fmt.Errorf("remove %d's posts from the feed of %d: %w", author, user, err)
		}
		del = del[n:]
	}
	return nil
}

// MarkCelebrity adds author to the celebrity set.
func (s *Store) MarkCelebrity(ctx context.Context, author int64) error {
	if err := s.s.Query(qMarkCeleb, author).Idempotent(true).ExecContext(ctx); err != nil {
		return fmt.Errorf("mark %d a celebrity: %w", author, err)
	}
	return nil
}

// Celebrities reads the celebrity set (one partition, in author order).
func (s *Store) Celebrities(ctx context.Context) ([]int64, error) {
	it := s.s.Query(qCelebrities).Idempotent(true).IterContext(ctx)
	var out []int64
	var id int64
	for it.Scan(&id) {
		out = append(out, id)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("read the celebrity set: %w", err)
	}
	return out, nil
}
