package pebblestore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/pebblekv"
	"github.com/mediaedge/mediaedge/social/posts"
)

// Config says how the store writes.
type Config struct {
	// Sync makes every write durable (a WAL fsync) before it returns.
	// DefaultConfig sets it; turn it off only in tests that never crash.
	Sync bool
	// IdempotencyTTL is how long an Idempotency-Key is remembered.
	IdempotencyTTL time.Duration
	// Now is the clock of key expiry; nil is time.Now.
	Now func() time.Time
}

// DefaultConfig is a durable store remembering keys for 24 hours.
func DefaultConfig() Config { return Config{Sync: true, IdempotencyTTL: 24 * time.Hour} }

// Store implements posts.Store on a *pebble.DB it does not own.
type Store struct {
	db *pebblekv.DB
	// raw is db's database, for the count keys (8 bytes big-endian, not
	// JSON), which only this store reads.
	raw *pebble.DB
	ttl time.Duration
	now func() time.Time
	// stripes guard read-then-write of one post, its comments and their
	// idempotency keys (Lock('p', post id)), or of one author's post
	// idempotency keys (Lock('a', author id)).
	stripes pebblekv.Stripes
}

var _ posts.Store = (*Store)(nil)

// New returns the store over db.
func New(db *pebble.DB, cfg Config) *Store {
	s := &Store{db: pebblekv.New(db, cfg.Sync), raw: db, ttl: cfg.IdempotencyTTL, now: cfg.Now}
	if s.ttl <= 0 {
		s.ttl = 24 * time.Hour
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

const (
	pPost  = "p/post/"
	pIdem  = "p/idem/"
	pTL    = "p/tl/"
	pLike  = "p/like/"
	pNLike = "p/nlike/"
	pCmt   = "p/cmt/"
	pCIdem = "p/cidem/"
	pNCmt  = "p/ncmt/"
)

type postRow struct {
	Author    int64         `json:"author"`
	Text      string        `json:"text"`
	Media     []posts.Media `json:"media"`
	Mentions  []int64       `json:"mentions"`
	CreatedAt time.Time     `json:"created_at"`
	EditedAt  time.Time     `json:"edited_at"`
	Archived  bool          `json:"archived"`
	Deleted   bool          `json:"deleted"`
	DeletedAt time.Time     `json:"deleted_at,omitzero"`
}

type idemRow struct {
	Post int64     `json:"post"`
	At   time.Time `json:"at"`
}

// commentIdemRow is a comment's Idempotency-Key: the comment it made and
// when.
type commentIdemRow struct {
	Comment int64     `json:"comment"`
	At      time.Time `json:"at"`
}

type commentRow struct {
	Author    int64     `json:"author"`
	Text      string    `json:"text"`
	Mentions  []int64   `json:"mentions"`
	CreatedAt time.Time `json:"created_at"`
}

func toRow(p posts.Post) postRow {
	return postRow{Author: p.Author, Text: p.Text, Media: p.Media, Mentions: p.Mentions, CreatedAt: p.CreatedAt,
		EditedAt: p.EditedAt, Archived: p.Archived, Deleted: p.Deleted}
}

func fromRow(id int64, r postRow) posts.Post {
	return posts.Post{ID: id, Author: r.Author, Text: r.Text, Media: r.Media, Mentions: r.Mentions, CreatedAt: r.CreatedAt,
		EditedAt: r.EditedAt, Archived: r.Archived, Deleted: r.Deleted}
}

// count reads a count key (0 when absent).
func (s *Store) count(k []byte) (int64, error) {
	val, closer, err := s.raw.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(val) != 8 {
		return 0, fmt.Errorf("count %q: %d bytes", k, len(val))
	}
	return int64(binary.BigEndian.Uint64(val)), nil
}

// countValue is the stored form of a count.
func countValue(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

// post reads a post row; posts.ErrNotFound (unwrapped).
func (s *Store) post(id int64) (postRow, error) {
	var r postRow
	found, err := s.db.Get(pebblekv.Key(pPost, id), &r)
	if err != nil {
		return postRow{}, err
	}
	if !found {
		return postRow{}, posts.ErrNotFound
	}
	return r, nil
}

// CreatePost writes p, its timeline entry and evs in one batch; with a key,
// under the author's stripe, a live key returns its post instead.
func (s *Store) CreatePost(ctx context.Context, p posts.Post, idem string, evs posts.EventsFunc) (posts.Post, bool, error) {
	if err := ctx.Err(); err != nil {
		return posts.Post{}, false, err
	}
	var ik []byte
	if idem != "" {
		defer s.stripes.Lock('a', p.Author)()
		ik = append(pebblekv.Key(pIdem, p.Author), idem...)
		var ir idemRow
		found, err := s.db.Get(ik, &ir)
		if err != nil {
			return posts.Post{}, false, fmt.Errorf("create post: read key %q: %w", idem, err)
		}
		if found && s.now().Sub(ir.At) < s.ttl {
			r, err := s.post(ir.Post)
			if err != nil {
				return posts.Post{}, false, fmt.Errorf("create post: read post %d of key %q: %w", ir.Post, idem, err)
			}
			return fromRow(ir.Post, r), false, nil
		}
	}
	evl, err := evs(p)
	if err != nil {
		return posts.Post{}, false, fmt.Errorf("create post %d: build events: %w", p.ID, err)
	}
	b := s.db.NewBatch()
	b.Set(pebblekv.Key(pPost, p.ID), toRow(p))
	b.Mark(pebblekv.Key(pTL, p.Author, p.ID))
	if ik != nil {
		b.Set(ik, idemRow{Post: p.ID, At: s.now()})
	}
	b.Event(evl...)
	if err := b.Commit(); err != nil {
		return posts.Post{}, false, fmt.Errorf("create post %d: %w", p.ID, err)
	}
	return p, true, nil
}

// GetPost reads a post.
func (s *Store) GetPost(ctx context.Context, id int64) (posts.Post, error) {
	if err := ctx.Err(); err != nil {
		return posts.Post{}, err
	}
	r, err := s.post(id)
	if err != nil {
		return posts.Post{}, fmt.Errorf("get post %d: %w", id, err)
	}
	return fromRow(id, r), nil
}

// EditPost rewrites a post under its mutex, so it cannot interleave with a
// delete.
func (s *Store) EditPost(ctx context.Context, id int64, fn posts.EditFunc) (posts.Post, error) {
	if err := ctx.Err(); err != nil {
		return posts.Post{}, err
	}
	defer s.stripes.Lock('p', id)()
	r, err := s.post(id)
	if err == nil && r.Deleted {
		err = posts.ErrDeleted
	}
	if err != nil {
		return posts.Post{}, fmt.Errorf("edit post %d: %w", id, err)
	}
	old := fromRow(id, r)
	n, evs, err := fn(old)
	if err != nil {
		return posts.Post{}, err
	}
	// Only the editable fields change.
	r.Text, r.Media, r.Mentions, r.EditedAt = n.Text, n.Media, n.Mentions, n.EditedAt
	b := s.db.NewBatch()
	b.Set(pebblekv.Key(pPost, id), r)
	b.Event(evs...)
	if err := b.Commit(); err != nil {
		return posts.Post{}, fmt.Errorf("edit post %d: %w", id, err)
	}
	return fromRow(id, r), nil
}

// DeletePost blanks the row and takes it off the timeline.
func (s *Store) DeletePost(ctx context.Context, id int64, at time.Time, ev events.Event) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	defer s.stripes.Lock('p', id)()
	r, err := s.post(id)
	if err != nil {
		return false, fmt.Errorf("delete post %d: %w", id, err)
	}
	if r.Deleted {
		return false, nil
	}
	r.Deleted, r.DeletedAt, r.Text, r.Media, r.Mentions = true, at, "", nil, nil
	b := s.db.NewBatch()
	b.Set(pebblekv.Key(pPost, id), r)
	b.Delete(pebblekv.Key(pTL, r.Author, id))
	b.Event(ev)
	if err := b.Commit(); err != nil {
		return false, fmt.Errorf("delete post %d: %w", id, err)
	}
	return true, nil
}

// SetArchived flips the archived flag and the timeline entry together.
func (s *Store) SetArchived(ctx context.Context, id int64, archived bool, ev events.Event) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	defer s.stripes.Lock('p', id)()
	r, err := s.post(id)
	if err == nil && r.Deleted {
		err = posts.ErrDeleted
	}
	if err != nil {
		return false, fmt.Errorf("set archived of post %d: %w", id, err)
	}
	if r.Archived == archived {
		return false, nil
	}
	r.Archived = archived
	b := s.db.NewBatch()
	b.Set(pebblekv.Key(pPost, id), r)
	if archived {
		b.Delete(pebblekv.Key(pTL, r.Author, id))
	} else {
		b.Mark(pebblekv.Key(pTL, r.Author, id))
	}
	b.Event(ev)
	if err := b.Commit(); err != nil {
		return false, fmt.Errorf("set archived of post %d: %w", id, err)
	}
	return true, nil
}

// Timeline scans the author's timeline keys backwards from before.
func (s *Store) Timeline(ctx context.Context, author, before int64, limit int) ([]int64, error) {
	prefix := pebblekv.Key(pTL, author)
	upper := pebblekv.PrefixEnd(prefix)
	if before > 0 {
		upper = pebblekv.Key(pTL, author, before)
	}
	var out []int64
	err := s.db.ScanReverse(ctx, prefix, upper, func(k, _ []byte) (bool, error) {
		out = append(out, pebblekv.LastID(k))
		return limit <= 0 || len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("timeline of %d: %w", author, err)
	}
	return out, nil
}
