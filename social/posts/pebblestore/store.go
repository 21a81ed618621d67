package pebblestore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/social/events"
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
	db      *pebble.DB
	wo      *pebble.WriteOptions
	ttl     time.Duration
	now     func() time.Time
	seed    maphash.Seed
	stripes [64]sync.Mutex // guard read-then-write of one post (by id), or of one author's idempotency keys
}

var _ posts.Store = (*Store)(nil)

// New returns the store over db.
func New(db *pebble.DB, cfg Config) *Store {
	wo := pebble.NoSync
	if cfg.Sync {
		wo = pebble.Sync
	}
	s := &Store{db: db, wo: wo, ttl: cfg.IdempotencyTTL, now: cfg.Now, seed: maphash.MakeSeed()}
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
	pNCmt  = "p/ncmt/"
)

func key(prefix string, ids ...int64) []byte {
	k := make([]byte, len(prefix), len(prefix)+8*len(ids))
	copy(k, prefix)
	for _, id := range ids {
		k = binary.BigEndian.AppendUint64(k, uint64(id))
	}
	return k
}

// prefixEnd is the first key after every key starting with p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func lastID(k []byte) int64 { return int64(binary.BigEndian.Uint64(k[len(k)-8:])) }

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

// get reads key into v; found is false for a missing key.
func (s *Store) get(k []byte, v any) (bool, error) {
	val, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer closer.Close()
	if v == nil {
		return true, nil
	}
	if err := json.Unmarshal(val, v); err != nil {
		return true, fmt.Errorf("decode %q: %w", k, err)
	}
	return true, nil
}

// count reads a count key (0 when absent).
func (s *Store) count(k []byte) (int64, error) {
	val, closer, err := s.db.Get(k)
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

// scan calls fn with each key and value in [lower, upper), in key order
// (backwards when reverse), until fn returns false.
func (s *Store) scan(ctx context.Context, lower, upper []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	defer it.Close()
	first, next := it.First, it.Next
	if reverse {
		first, next = it.Last, it.Prev
	}
	for valid := first(); valid; valid = next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		more, err := fn(it.Key(), v)
		if err != nil || !more {
			return err
		}
	}
	return it.Error()
}

// batch collects one write: data, counts and events, committed together.
// The first error sticks.
type batch struct {
	b   *pebble.Batch
	err error
}

func (s *Store) newBatch() *batch { return &batch{b: s.db.NewBatch()} }

func (b *batch) set(k []byte, v any) {
	if b.err != nil {
		return
	}
	val, err := json.Marshal(v)
	if err == nil {
		err = b.b.Set(k, val, nil)
	}
	b.err = err
}

func (b *batch) mark(k []byte) {
	if b.err == nil {
		b.err = b.b.Set(k, nil, nil)
	}
}

func (b *batch) setCount(k []byte, n int64) {
	if b.err == nil {
		b.err = b.b.Set(k, binary.BigEndian.AppendUint64(nil, uint64(n)), nil)
	}
}

func (b *batch) del(k []byte) {
	if b.err == nil {
		b.err = b.b.Delete(k, nil)
	}
}

func (b *batch) event(evs ...events.Event) {
	for _, ev := range evs {
		if b.err == nil && ev.ID != 0 {
			b.err = events.AddPebble(b.b, ev)
		}
	}
}

func (s *Store) commit(b *batch) error {
	defer b.b.Close()
	if b.err != nil {
		return b.err
	}
	return b.b.Commit(s.wo)
}

// sync makes every batch committed before it durable (a WAL sync, shared
// by concurrent callers) when the store is configured to sync.
func (s *Store) sync() error {
	if !s.wo.Sync {
		return nil
	}
	return s.db.LogData(nil, pebble.Sync)
}

// lock takes the stripe mutex of id; the caller defers the unlock.
func (s *Store) lock(kind byte, id int64) func() {
	var b [9]byte
	b[0] = kind
	binary.BigEndian.PutUint64(b[1:], uint64(id))
	mu := &s.stripes[maphash.Bytes(s.seed, b[:])%uint64(len(s.stripes))]
	mu.Lock()
	return mu.Unlock
}

// post reads a post row; posts.ErrNotFound (unwrapped).
func (s *Store) post(id int64) (postRow, error) {
	var r postRow
	found, err := s.get(key(pPost, id), &r)
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
		defer s.lock('a', p.Author)()
		ik = append(key(pIdem, p.Author), idem...)
		var ir idemRow
		found, err := s.get(ik, &ir)
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
	b := s.newBatch()
	b.set(key(pPost, p.ID), toRow(p))
	b.mark(key(pTL, p.Author, p.ID))
	if ik != nil {
		b.set(ik, idemRow{Post: p.ID, At: s.now()})
	}
	b.event(evl...)
	if err := s.commit(b); err != nil {
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
	defer s.lock('p', id)()
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
	b := s.newBatch()
	b.set(key(pPost, id), r)
	b.event(evs...)
	if err := s.commit(b); err != nil {
		return posts.Post{}, fmt.Errorf("edit post %d: %w", id, err)
	}
	return fromRow(id, r), nil
}

// DeletePost blanks the row and takes it off the timeline.
func (s *Store) DeletePost(ctx context.Context, id int64, at time.Time, ev events.Event) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	defer s.lock('p', id)()
	r, err := s.post(id)
	if err != nil {
		return false, fmt.Errorf("delete post %d: %w", id, err)
	}
	if r.Deleted {
		return false, nil
	}
	r.Deleted, r.DeletedAt, r.Text, r.Media, r.Mentions = true, at, "", nil, nil
	b := s.newBatch()
	b.set(key(pPost, id), r)
	b.del(key(pTL, r.Author, id))
	b.event(ev)
	if err := s.commit(b); err != nil {
		return false, fmt.Errorf("delete post %d: %w", id, err)
	}
	return true, nil
}

// SetArchived flips the archived flag and the timeline entry together.
func (s *Store) SetArchived(ctx context.Context, id int64, archived bool, ev events.Event) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	defer s.lock('p', id)()
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
	b := s.newBatch()
	b.set(key(pPost, id), r)
	if archived {
		b.del(key(pTL, r.Author, id))
	} else {
		b.mark(key(pTL, r.Author, id))
	}
	b.event(ev)
	if err := s.commit(b); err != nil {
		return false, fmt.Errorf("set archived of post %d: %w", id, err)
	}
	return true, nil
}

// Timeline scans the author's timeline keys backwards from before.
func (s *Store) Timeline(ctx context.Context, author, before int64, limit int) ([]int64, error) {
	prefix := key(pTL, author)
	upper := prefixEnd(prefix)
	if before > 0 {
		upper = key(pTL, author, before)
	}
	var out []int64
	err := s.scan(ctx, prefix, upper, true, func(k, _ []byte) (bool, error) {
		out = append(out, lastID(k))
		return limit <= 0 || len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("timeline of %d: %w", author, err)
	}
	return out, nil
}
