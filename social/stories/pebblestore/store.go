package pebblestore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/stories"
)

// Config says how the store writes and when things expire.
type Config struct {
	// Sync makes every write durable (a WAL fsync) before it returns.
	// DefaultConfig sets it; turn it off only in tests that never crash.
	Sync bool
	// LikersTTL is how long a user stays in an owner's likers after their
	// last like of one of the owner's stories (30 days).
	LikersTTL time.Duration
	// Now is the clock reads judge expiry by; nil is time.Now.
	Now func() time.Time `json:"-"`
}

// DefaultConfig is a durable store.
func DefaultConfig() Config { return Config{Sync: true, LikersTTL: 30 * 24 * time.Hour} }

// Store implements stories.Store and stories.Sweeper on a *pebble.DB it
// does not own (the caller opens and closes the database).
type Store struct {
	db   *pebble.DB
	wo   *pebble.WriteOptions
	cfg  Config
	now  func() time.Time
	seed maphash.Seed
	// Two stripes of mutexes, taken in this order when both are (never the
	// other way round, so there is no deadlock):
	owners  [64]sync.Mutex // guard an owner's idempotency keys, likers and story list (by owner id)
	stories [64]sync.Mutex // guard one story's views and likes against its sweep (by story id)
}

var (
	_ stories.Store   = (*Store)(nil)
	_ stories.Sweeper = (*Store)(nil)
)

// New returns the store over db.
func New(db *pebble.DB, cfg Config) *Store {
	wo := pebble.NoSync
	if cfg.Sync {
		wo = pebble.Sync
	}
	if cfg.LikersTTL <= 0 {
		cfg.LikersTTL = DefaultConfig().LikersTTL
	}
	s := &Store{db: db, wo: wo, cfg: cfg, now: cfg.Now, seed: maphash.MakeSeed()}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

const (
	pStory  = "s/st/"
	pOwn    = "s/own/"
	pExp    = "s/exp/"
	pIdem   = "s/idem/"
	pView   = "s/view/"
	pSeen   = "s/seen/"
	pLike   = "s/like/"
	pLiked  = "s/liked/"
	pLikers = "s/likers/"
	pLexp   = "s/lexp/"
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

// idAt reads the big-endian id at offset off of a key.
func idAt(k []byte, off int) int64 { return int64(binary.BigEndian.Uint64(k[off : off+8])) }

// lastID reads the big-endian id that ends a key.
func lastID(k []byte) int64 { return idAt(k, len(k)-8) }

func msOf(t time.Time) int64 { return t.UnixMilli() }

type storyRow struct {
	Owner     int64     `json:"owner"`
	Media     string    `json:"media"`
	MediaType string    `json:"media_type"`
	Caption   string    `json:"caption"`
	HideFrom  []int64   `json:"hide_from,omitempty"`
	Key       string    `json:"key,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

func toRow(st stories.Story) storyRow {
	return storyRow{Owner: st.Owner, Media: st.Media, MediaType: st.MediaType, Caption: st.Caption,
		HideFrom: st.HideFrom, Key: st.Key, CreatedAt: st.CreatedAt, ExpiresAt: st.ExpiresAt}
}

func fromRow(id int64, r storyRow) stories.Story {
	return stories.Story{ID: id, Owner: r.Owner, Media: r.Media, MediaType: r.MediaType, Caption: r.Caption,
		HideFrom: r.HideFrom, Key: r.Key, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt}
}

// timeRow is the value of a view or a like: when it happened.
type timeRow struct {
	At time.Time `json:"at"`
}

// get reads key into v (nil: only whether it exists).
func (s *Store) get(k []byte, v any) (found bool, err error) {
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

// scan calls fn with each key and value in [lower, upper), in key order,
// until fn returns false. The slices are valid only during the call.
func (s *Store) scan(ctx context.Context, lower, upper []byte, fn func(k, v []byte) (more bool, err error)) error {
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
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

// batch collects one write: data and event, committed together. The first
// error sticks, so callers check once, at commit.
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

// mark writes a key whose presence is the whole fact.
func (b *batch) mark(k []byte) {
	if b.err == nil {
		b.err = b.b.Set(k, nil, nil)
	}
}

func (b *batch) del(k []byte) {
	if b.err == nil {
		b.err = b.b.Delete(k, nil)
	}
}

func (b *batch) event(ev events.Event) {
	if b.err == nil && ev.ID != 0 {
		b.err = events.AddPebble(b.b, ev)
	}
}

func (s *Store) commit(b *batch) error {
	defer b.b.Close()
	if b.err != nil {
		return b.err
	}
	return b.b.Commit(s.wo)
}

func (s *Store) hash(id int64) uint64 {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	return maphash.Bytes(s.seed, b[:])
}

// lockOwner takes owner's mutex; the caller defers the returned unlock.
func (s *Store) lockOwner(owner int64) func() {
	mu := &s.owners[s.hash(owner)%uint64(len(s.owners))]
	mu.Lock()
	return mu.Unlock
}

// lockStory takes the story's mutex (after its owner's, if both).
func (s *Store) lockStory(id int64) func() {
	mu := &s.stories[s.hash(id)%uint64(len(s.stories))]
	mu.Lock()
	return mu.Unlock
}

// story reads a story row, live or not; found is false when it is gone.
func (s *Store) story(id int64) (storyRow, bool, error) {
	var r storyRow
	found, err := s.get(key(pStory, id), &r)
	return r, found, err
}

// live reads a live story; ErrNotFound when missing, ErrExpired when past
// its time (both unwrapped).
func (s *Store) live(id int64) (storyRow, error) {
	r, found, err := s.story(id)
	if err != nil {
		return storyRow{}, err
	}
	if !found {
		return storyRow{}, stories.ErrNotFound
	}
	if !s.now().Before(r.ExpiresAt) {
		return storyRow{}, stories.ErrExpired
	}
	return r, nil
}

// idemKey is the key of owner's Idempotency-Key k.
func idemKey(owner int64, k string) []byte { return append(key(pIdem, owner), k...) }

// Create writes the story, its place in the owner's list and in the expiry
// index, its idempotency key and ev in one batch, under the owner's mutex.
func (s *Store) Create(ctx context.Context, st stories.Story, ev events.Event) (stories.Story, bool, error) {
	if err := ctx.Err(); err != nil {
		return stories.Story{}, false, err
	}
	defer s.lockOwner(st.Owner)()
	if st.Key != "" {
		var prev int64
		found, err := s.get(idemKey(st.Owner, st.Key), &prev)
		if err != nil {
			return stories.Story{}, false, fmt.Errorf("create story of %d: read key: %w", st.Owner, err)
		}
		if found {
			r, err := s.live(prev)
			if err == nil {
				return fromRow(prev, r), false, nil
			}
			if !errors.Is(err, stories.ErrNotFound) {
				return stories.Story{}, false, fmt.Errorf("create story of %d: read story %d: %w", st.Owner, prev, err)
			}
			// The key's story expired: the key is free again.
		}
	}
	b := s.newBatch()
	b.set(key(pStory, st.ID), toRow(st))
	b.mark(key(pOwn, st.Owner, st.ID))
	b.mark(key(pExp, msOf(st.ExpiresAt), st.ID))
	if st.Key != "" {
		b.set(idemKey(st.Owner, st.Key), st.ID)
	}
	b.event(ev)
	if err := s.commit(b); err != nil {
		return stories.Story{}, false, fmt.Errorf("create story %d: %w", st.ID, err)
	}
	return st, true, nil
}

// Get reads a live story.
func (s *Store) Get(ctx context.Context, id int64) (stories.Story, error) {
	if err := ctx.Err(); err != nil {
		return stories.Story{}, err
	}
	r, err := s.live(id)
	if err != nil {
		return stories.Story{}, fmt.Errorf("get story %d: %w", id, err)
	}
	return fromRow(id, r), nil
}

// OwnerStories reads the owner's list and each live story in it.
func (s *Store) OwnerStories(ctx context.Context, owner int64) ([]stories.Story, error) {
	var ids []int64
	prefix := key(pOwn, owner)
	err := s.scan(ctx, prefix, prefixEnd(prefix), func(k, _ []byte) (bool, error) {
		ids = append(ids, lastID(k))
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("stories of %d: %w", owner, err)
	}
	out := make([]stories.Story, 0, len(ids))
	for _, id := range ids {
		r, err := s.live(id)
		if errors.Is(err, stories.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("stories of %d: read %d: %w", owner, id, err)
		}
		out = append(out, fromRow(id, r))
	}
	return out, nil
}

// View writes the view and the viewer's seen mark under the story's
// mutex, unless the viewer already viewed it.
func (s *Store) View(ctx context.Context, st stories.Story, viewer int64, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer s.lockStory(st.ID)()
	if _, err := s.live(st.ID); err != nil {
		return fmt.Errorf("view story %d: %w", st.ID, err)
	}
	vk := key(pView, st.ID, viewer)
	if found, err := s.get(vk, nil); err != nil || found {
		if err != nil {
			return fmt.Errorf("view story %d: %w", st.ID, err)
		}
		return nil
	}
	b := s.newBatch()
	b.set(vk, timeRow{At: at})
	b.mark(key(pSeen, viewer, st.ID))
	if err := s.commit(b); err != nil {
		return fmt.Errorf("view story %d by %d: %w", st.ID, viewer, err)
	}
	return nil
}

// Viewers pages through a story's views in viewer id order.
func (s *Store) Viewers(ctx context.Context, story int64, after int64, limit int) ([]stories.View, error) {
	if after == math.MaxInt64 {
		return nil, nil
	}
	var out []stories.View
	prefix := key(pView, story)
	err := s.scan(ctx, key(pView, story, after+1), prefixEnd(prefix), func(k, v []byte) (bool, error) {
		var r timeRow
		if err := json.Unmarshal(v, &r); err != nil {
			return false, fmt.Errorf("decode %q: %w", k, err)
		}
		out = append(out, stories.View{User: lastID(k), At: r.At})
		return limit <= 0 || len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("viewers of %d: %w", story, err)
	}
	return out, nil
}

// ViewCount counts a story's views.
func (s *Store) ViewCount(ctx context.Context, story int64) (int, error) {
	n := 0
	prefix := key(pView, story)
	if err := s.scan(ctx, prefix, prefixEnd(prefix), func(_, _ []byte) (bool, error) { n++; return true, nil }); err != nil {
		return 0, fmt.Errorf("count views of %d: %w", story, err)
	}
	return n, nil
}

// likersRow is an owner's liker: until when they stay one.
type likersRow struct {
	Until time.Time `json:"until"`
}

// Like writes the like, the user's liked mark, the owner's liker (with
// its place in the likers' expiry index) and ev, under the owner's and the
// story's mutexes.
func (s *Store) Like(ctx context.Context, st stories.Story, user int64, at time.Time, ev events.Event) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	defer s.lockOwner(st.Owner)()
	defer s.lockStory(st.ID)()
	if _, err := s.live(st.ID); err != nil {
		return false, fmt.Errorf("like story %d: %w", st.ID, err)
	}
	lk := key(pLike, st.ID, user)
	if found, err := s.get(lk, nil); err != nil || found {
		if err != nil {
			return false, fmt.Errorf("like story %d: %w", st.ID, err)
		}
		return false, nil
	}
	b := s.newBatch()
	b.set(lk, timeRow{At: at})
	b.mark(key(pLiked, user, st.ID))
	if user != st.Owner {
		until := s.now().Add(s.cfg.LikersTTL)
		b.set(key(pLikers, st.Owner, user), likersRow{Until: until})
		// An older index entry of the same liker stays until its time;
		// the sweep then finds the row renewed and keeps it.
		b.mark(key(pLexp, msOf(until), st.Owner, user))
	}
	b.event(ev)
	if err := s.commit(b); err != nil {
		return false, fmt.Errorf("like story %d by %d: %w", st.ID, user, err)
	}
	return true, nil
}

// Unlike deletes the like and the user's liked mark.
func (s *Store) Unlike(ctx context.Context, st stories.Story, user int64) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	defer s.lockStory(st.ID)()
	lk := key(pLike, st.ID, user)
	found, err := s.get(lk, nil)
	if err != nil || !found {
		if err != nil {
			err = fmt.Errorf("unlike story %d: %w", st.ID, err)
		}
		return false, err
	}
	b := s.newBatch()
	b.del(lk)
	b.del(key(pLiked, user, st.ID))
	if err := s.commit(b); err != nil {
		return false, fmt.Errorf("unlike story %d by %d: %w", st.ID, user, err)
	}
	return true, nil
}

// ViewerState reads the viewer's seen and liked marks of each story.
func (s *Store) ViewerState(ctx context.Context, viewer int64, ids []int64) (map[int64]stories.ViewerState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(map[int64]stories.ViewerState, len(ids))
	for _, id := range ids {
		seen, err := s.get(key(pSeen, viewer, id), nil)
		if err != nil {
			return nil, fmt.Errorf("viewer state of %d: %w", viewer, err)
		}
		liked, err := s.get(key(pLiked, viewer, id), nil)
		if err != nil {
			return nil, fmt.Errorf("viewer state of %d: %w", viewer, err)
		}
		if seen || liked {
			out[id] = stories.ViewerState{Viewed: seen, Liked: liked}
		}
	}
	return out, nil
}

// Likers reads the owner's likers still within their lifetime.
func (s *Store) Likers(ctx context.Context, owner int64, limit int) ([]int64, error) {
	var out []int64
	now := s.now()
	prefix := key(pLikers, owner)
	err := s.scan(ctx, prefix, prefixEnd(prefix), func(k, v []byte) (bool, error) {
		var r likersRow
		if err := json.Unmarshal(v, &r); err != nil {
			return false, fmt.Errorf("decode %q: %w", k, err)
		}
		if now.Before(r.Until) {
			out = append(out, lastID(k))
		}
		return limit <= 0 || len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("likers of %d: %w", owner, err)
	}
	return out, nil
}
