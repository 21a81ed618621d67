package cassandrastore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/mediaedge/mediaedge/social/cqlrows"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/posts"
)

// Config tunes the store.
type Config struct {
	// Serial is the consistency of the Paxos phase of every lightweight
	// transaction and of serial reads: LOCAL_SERIAL (default) when one data
	// centre writes a post, SERIAL when several do.
	Serial gocql.Consistency
	// EditTries bounds how often an edit re-reads a post that changed under
	// it before answering posts.ErrBusy.
	EditTries int
	// IdempotencyTTL is how long an Idempotency-Key is remembered (the
	// table's default TTL backs it up).
	IdempotencyTTL time.Duration
	// ClaimGrace is how long a comment's Idempotency-Key claim whose
	// comment is missing counts as an add in flight; after it the claim is
	// stale (its add died before its batch, or the comment was deleted)
	// and the next add takes it over. It must exceed the longest an add
	// can take, batchlog replay included.
	ClaimGrace time.Duration
	// ReplayWait is how long a retried comment waits for the comment of a
	// claim in flight before posts.ErrBusy.
	ReplayWait time.Duration
}

// DefaultConfig is what production uses.
func DefaultConfig() Config {
	return Config{Serial: gocql.LocalSerial, EditTries: 5, IdempotencyTTL: 24 * time.Hour, ClaimGrace: 30 * time.Second, ReplayWait: 2 * time.Second}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if !cqlrows.ValidSerial(c.Serial) {
		errs = append(errs, fmt.Errorf("posts cassandrastore: serial consistency %v: want SERIAL or LOCAL_SERIAL", c.Serial))
	}
	if c.EditTries < 1 {
		errs = append(errs, fmt.Errorf("posts cassandrastore: edit tries %d: want 1 or more", c.EditTries))
	}
	if c.IdempotencyTTL < time.Minute {
		errs = append(errs, fmt.Errorf("posts cassandrastore: idempotency ttl %v: want a minute or more", c.IdempotencyTTL))
	}
	if c.ClaimGrace < 10*time.Second {
		errs = append(errs, fmt.Errorf("posts cassandrastore: claim grace %v: want 10s or more (a batchlog replay must fit in it)", c.ClaimGrace))
	}
	if c.ReplayWait <= 0 {
		errs = append(errs, errors.New("posts cassandrastore: replay wait must be positive"))
	}
	return errors.Join(errs...)
}

// Store implements posts.Store. Plain queries run at the session's
// consistency (LOCAL_QUORUM by default), lightweight transactions and
// serial reads at Config.Serial.
type Store struct {
	s      *gocql.Session
	cfg    Config
	counts flights // coalesces concurrent counts of one post
}

var _ posts.Store = (*Store)(nil)

// New returns the store over s, a session bound to the keyspace holding the
// schema. The caller owns and closes the session.
func New(s *gocql.Session, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Store{s: s, cfg: cfg}, nil
}

const (
	postCols    = `author, text, media, media_types, mentions, created_at, edited_at, archived, deleted`
	qGetPost    = `SELECT ` + postCols + ` FROM posts WHERE id = ?`
	qInsertPost = `INSERT INTO posts (id, ` + postCols + `, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, false, false, ?) IF NOT EXISTS`
	qEditPost   = `UPDATE posts SET text = ?, media = ?, media_types = ?, mentions = ?, edited_at = ? WHERE id = ?
		IF deleted = false AND text = ? AND media = ? AND media_types = ? AND mentions = ? AND edited_at = ?`
	qDeletePost  = `UPDATE posts SET deleted = true, deleted_at = ?, text = '', media = [], media_types = [], mentions = [] WHERE id = ? IF deleted = false`
	qArchivePost = `UPDATE posts SET archived = ? WHERE id = ? IF deleted = false AND archived = ?`

	qClaimKey = `INSERT INTO posts_idempotency (author_id, idem_key, post_id) VALUES (?, ?, ?) IF NOT EXISTS USING TTL ?`

	qPutTimeline = `INSERT INTO posts_by_author (author_id, bucket, post_id) VALUES (?, ?, ?)`
	qDelTimeline = `DELETE FROM posts_by_author WHERE author_id = ? AND bucket = ? AND post_id = ?`
	qPutBucket   = `INSERT INTO posts_author_buckets (author_id, bucket) VALUES (?, ?)`
	qBuckets     = `SELECT bucket FROM posts_author_buckets WHERE author_id = ? AND bucket <= ?`
	qTimeline    = `SELECT post_id FROM posts_by_author WHERE author_id = ? AND bucket = ? AND post_id < ? LIMIT ?`
)

// bucketOf is a post's timeline bucket: 2^54 id units are 2^32 ms, ~50
// days. A constant of the schema.
func bucketOf(id int64) int64 { return id >> 54 }

// Batches (cqlrows.Batch.Add) are retried by the driver: every statement
// here writes fixed values, so applying a batch twice is applying it once.
// Lightweight transactions (cqlrows.CAS) run at Config.Serial and are
// never retried by the driver (see the package doc).

// ms is how Cassandra stores a time: milliseconds, UTC; the zero time stays
// zero.
func ms(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Millisecond)
}

// unms is how a time is returned: the epoch (what an unset time is stored
// as) is the zero time.
func unms(t time.Time) time.Time {
	if t.IsZero() || t.Unix() == 0 && t.Nanosecond() == 0 {
		return time.Time{}
	}
	return t.UTC()
}

// strs and ints are l, never nil: a nil list is written as a null.
func strs(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func ints(l []int64) []int64 {
	if l == nil {
		return []int64{}
	}
	return l
}

func splitMedia(ms []posts.Media) (ids, types []string) {
	ids, types = make([]string, len(ms)), make([]string, len(ms))
	for i, m := range ms {
		ids[i], types[i] = m.ID, m.Type
	}
	return ids, types
}

func joinMedia(ids, types []string) []posts.Media {
	if len(ids) == 0 {
		return nil
	}
	out := make([]posts.Media, len(ids))
	for i, id := range ids {
		out[i].ID = id
		if i < len(types) {
			out[i].Type = types[i]
		}
	}
	return out
}

// postOf reads a post from a row map (a read or a transaction's prev).
func postOf(id int64, m map[string]any) posts.Post {
	p := posts.Post{ID: id}
	p.Author, _ = m["author"].(int64)
	p.Text, _ = m["text"].(string)
	ids, _ := m["media"].([]string)
	types, _ := m["media_types"].([]string)
	p.Media = joinMedia(ids, types)
	if l, _ := m["mentions"].([]int64); len(l) > 0 {
		p.Mentions = l
	}
	at, _ := m["created_at"].(time.Time)
	p.CreatedAt = unms(at)
	at, _ = m["edited_at"].(time.Time)
	p.EditedAt = unms(at)
	p.Archived, _ = m["archived"].(bool)
	p.Deleted, _ = m["deleted"].(bool)
	return p
}

// read reads a post at consistency c (the session's for 0).
func (s *Store) read(ctx context.Context, id int64, c gocql.Consistency) (posts.Post, error) {
	q := s.s.Query(qGetPost, id).Idempotent(true)
	if c != 0 {
		q = q.Consistency(c)
	}
	m := map[string]any{}
	if err := q.MapScanContext(ctx, m); err != nil {
		if errors.Is(err, gocql.ErrNotFound) {
			return posts.Post{}, posts.ErrNotFound
		}
		return posts.Post{}, err
	}
	if _, ok := m["author"].(int64); !ok || m["author"].(int64) == 0 {
		return posts.Post{}, posts.ErrNotFound
	}
	return postOf(id, m), nil
}

// CreatePost claims the key (if any), inserts the post with IF NOT
// EXISTS, then writes the timeline rows and the events in one batch.
func (s *Store) CreatePost(ctx context.Context, p posts.Post, key string, evs posts.EventsFunc) (posts.Post, bool, error) {
	p.CreatedAt, p.EditedAt, p.Archived, p.Deleted = ms(p.CreatedAt), time.Time{}, false, false
	if len(p.Media) == 0 {
		p.Media = nil
	}
	if len(p.Mentions) == 0 {
		p.Mentions = nil
	}
	if key != "" {
		prev := map[string]any{}
		applied, err := cqlrows.CAS(ctx, s.s, s.cfg.Serial, prev, false, qClaimKey, p.Author, key, p.ID, int(s.cfg.IdempotencyTTL/time.Second))
		if err != nil {
			return posts.Post{}, false, fmt.Errorf("create post: claim key %q of %d: %w", key, p.Author, err)
		}
		if !applied {
			holder, _ := prev["post_id"].(int64)
			if holder == 0 {
				return posts.Post{}, false, fmt.Errorf("create post: key %q of %d: claim without a post id", key, p.Author)
			}
			stored, err := s.read(ctx, holder, s.cfg.Serial)
			if err == nil {
				return stored, false, nil
			}
			if !errors.Is(err, posts.ErrNotFound) {
				return posts.Post{}, false, fmt.Errorf("create post: read post %d of key %q: %w", holder, key, err)
			}
			// The first request is in flight or died before its insert:
			// race it for the post id it claimed.
			p.ID = holder
		}
	}
	evl, err := evs(p)
	if err != nil {
		return posts.Post{}, false, fmt.Errorf("create post %d: build events: %w", p.ID, err)
	}
	ids, types := splitMedia(p.Media)
	prev := map[string]any{}
	applied, err := cqlrows.CAS(ctx, s.s, s.cfg.Serial, prev, false, qInsertPost, p.ID, p.Author, p.Text, strs(ids), strs(types), ints(p.Mentions), p.CreatedAt, time.Time{}, time.Time{})
	if err != nil {
		return posts.Post{}, false, fmt.Errorf("create post %d: %w", p.ID, err)
	}
	if !applied {
		// Only a request with the same key writes this id: its post won.
		return postOf(p.ID, prev), false, nil
	}
	b := cqlrows.NewBatch(s.s)
	b.Add(qPutTimeline, p.Author, bucketOf(p.ID), p.ID)
	b.Add(qPutBucket, p.Author, bucketOf(p.ID))
	b.Event(evl...)
	if err := b.Exec(ctx); err != nil {
		return posts.Post{}, false, fmt.Errorf("create post %d: write timeline and events (the post is written): %w", p.ID, err)
	}
	return p, true, nil
}

// GetPost reads a post.
func (s *Store) GetPost(ctx context.Context, id int64) (posts.Post, error) {
	p, err := s.read(ctx, id, 0)
	if err != nil {
		return posts.Post{}, fmt.Errorf("get post %d: %w", id, err)
	}
	return p, nil
}

// EditPost reads the post (serially), applies fn and writes the result
// with a compare-and-set on what it read; lost to a concurrent write, it
// reads again, up to EditTries times.
func (s *Store) EditPost(ctx context.Context, id int64, fn posts.EditFunc) (posts.Post, error) {
	for range s.cfg.EditTries {
		old, err := s.read(ctx, id, s.cfg.Serial)
		if err == nil && old.Deleted {
			err = posts.ErrDeleted
		}
		if err != nil {
			return posts.Post{}, fmt.Errorf("edit post %d: %w", id, err)
		}
		n, evs, err := fn(old)
		if err != nil {
			return posts.Post{}, err
		}
		n.ID, n.Author, n.CreatedAt, n.Archived, n.Deleted = old.ID, old.Author, old.CreatedAt, old.Archived, false
		n.EditedAt = ms(n.EditedAt)
		if len(n.Media) == 0 {
			n.Media = nil
		}
		if len(n.Mentions) == 0 {
			n.Mentions = nil
		}
		nids, ntypes := splitMedia(n.Media)
		oids, otypes := splitMedia(old.Media)
		prev := map[string]any{}
		applied, err := cqlrows.CAS(ctx, s.s, s.cfg.Serial, prev, false, qEditPost, n.Text, strs(nids), strs(ntypes), ints(n.Mentions), n.EditedAt, id,
			old.Text, strs(oids), strs(otypes), ints(old.Mentions), old.EditedAt)
		if err != nil {
			return posts.Post{}, fmt.Errorf("edit post %d: %w", id, err)
		}
		if !applied {
			if deleted, _ := prev["deleted"].(bool); deleted {
				return posts.Post{}, fmt.Errorf("edit post %d: %w", id, posts.ErrDeleted)
			}
			continue // edited meanwhile: read again
		}
		b := cqlrows.NewBatch(s.s)
		b.Event(evs...)
		if err := b.Exec(ctx); err != nil {
			return posts.Post{}, fmt.Errorf("edit post %d: write events (the edit is applied): %w", id, err)
		}
		return n, nil
	}
	return posts.Post{}, fmt.Errorf("edit post %d: changed under %d edits: %w", id, s.cfg.EditTries, posts.ErrBusy)
}

// DeletePost blanks the row (IF deleted = false), then takes it off the
// timeline with ev.
func (s *Store) DeletePost(ctx context.Context, id int64, at time.Time, ev events.Event) (bool, error) {
	p, err := s.read(ctx, id, 0)
	if err != nil {
		return false, fmt.Errorf("delete post %d: %w", id, err)
	}
	prev := map[string]any{}
	applied, err := cqlrows.CAS(ctx, s.s, s.cfg.Serial, prev, false, qDeletePost, ms(at), id)
	if err != nil {
		return false, fmt.Errorf("delete post %d: %w", id, err)
	}
	if !applied {
		return false, nil // deleted already (the row exists: read above)
	}
	b := cqlrows.NewBatch(s.s)
	b.Add(qDelTimeline, p.Author, bucketOf(id), id)
	b.Event(ev)
	if err := b.Exec(ctx); err != nil {
		return true, fmt.Errorf("delete post %d: write timeline and event (the delete is applied): %w", id, err)
	}
	return true, nil
}

// SetArchived flips archived (IF deleted = false AND archived = !archived),
// then moves the timeline row with ev.
func (s *Store) SetArchived(ctx context.Context, id int64, archived bool, ev events.Event) (bool, error) {
	p, err := s.read(ctx, id, 0)
	if err != nil {
		return false, fmt.Errorf("set archived of post %d: %w", id, err)
	}
	prev := map[string]any{}
	applied, err := cqlrows.CAS(ctx, s.s, s.cfg.Serial, prev, false, qArchivePost, archived, id, !archived)
	if err != nil {
		return false, fmt.Errorf("set archived of post %d: %w", id, err)
	}
	if !applied {
		if deleted, _ := prev["deleted"].(bool); deleted {
			return false, fmt.Errorf("set archived of post %d: %w", id, posts.ErrDeleted)
		}
		return false, nil
	}
	b := cqlrows.NewBatch(s.s)
	if archived {
		b.Add(qDelTimeline, p.Author, bucketOf(id), id)
	} else {
		b.Add(qPutTimeline, p.Author, bucketOf(id), id)
	}
	b.Event(ev)
	if err := b.Exec(ctx); err != nil {
		return true, fmt.Errorf("set archived of post %d: write timeline and event (the flag is applied): %w", id, err)
	}
	return true, nil
}

// Timeline reads the author's buckets from before's down, newest first.
func (s *Store) Timeline(ctx context.Context, author, before int64, limit int) ([]int64, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	if limit <= 0 {
		limit = math.MaxInt32
	}
	var buckets []int64
	it := s.s.Query(qBuckets, author, bucketOf(before)).Idempotent(true).IterContext(ctx)
	var b int64
	for it.Scan(&b) {
		buckets = append(buckets, b)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("timeline of %d: buckets: %w", author, err)
	}
	var out []int64
	for _, b := range buckets {
		it := s.s.Query(qTimeline, author, b, before, limit-len(out)).Idempotent(true).IterContext(ctx)
		var id int64
		for it.Scan(&id) {
			out = append(out, id)
		}
		if err := it.Close(); err != nil {
			return nil, fmt.Errorf("timeline of %d: bucket %d: %w", author, b, err)
		}
		if len(out) >= limit {
			break
		}
	}
	return out, nil
}
