package pebblestore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/pebblekv"
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
	db  *pebblekv.DB
	cfg Config
	now func() time.Time
	// Two stripes of mutexes, taken in this order when both are (never the
	// other way round, so there is no deadlock):
	owners  pebblekv.Stripes // guard an owner's idempotency keys, likers and story list (by owner id)
	stories pebblekv.Stripes // guard one story's views and likes against its sweep (by story id)
}

var (
	_ stories.Store   = (*Store)(nil)
	_ stories.Sweeper = (*Store)(nil)
)

// New returns the store over db.
func New(db *pebble.DB, cfg Config) *Store {
	if cfg.LikersTTL <= 0 {
		cfg.LikersTTL = DefaultConfig().LikersTTL
	}
	s := &Store{db: pebblekv.New(db, cfg.Sync), cfg: cfg, now: cfg.Now}
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

// idAt reads the big-endian id at offset off of a key.
func idAt(k []byte, off int) int64 { return int64(binary.BigEndian.Uint64(k[off : off+8])) }

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

// story reads a story row, live or not; found is false when it is gone.
func (s *Store) story(id int64) (storyRow, bool, error) {
	var r storyRow
	found, err := s.db.Get(pebblekv.Key(pStory, id), &r)
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
func idemKey(owner int64, k string) []byte { return append(pebblekv.Key(pIdem, owner), k...) }

// Create writes the story, its place in the owner's list and in the expiry
// index, its idempotency key and ev in one batch, under the owner's mutex.
func (s *Store) Create(ctx context.Context, st stories.Story, ev events.Event) (stories.Story, bool, error) {
	if err := ctx.Err(); err != nil {
		return stories.Story{}, false, err
	}
	defer s.owners.Lock(st.Owner)()
	if st.Key != "" {
		var prev int64
		found, err := s.db.Get(idemKey(st.Owner, st.Key), &prev)
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
	b := s.db.NewBatch()
	b.Set(pebblekv.Key(pStory, st.ID), toRow(st))
	b.Mark(pebblekv.Key(pOwn, st.Owner, st.ID))
	b.Mark(pebblekv.Key(pExp, msOf(st.ExpiresAt), st.ID))
	if st.Key != "" {
		b.Set(idemKey(st.Owner, st.Key), st.ID)
	}
	b.Event(ev)
	if err := b.Commit(); err != nil {
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
	ids, err := s.db.IDs(ctx, pebblekv.Key(pOwn, owner))
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
	defer s.stories.Lock(st.ID)()
	if _, err := s.live(st.ID); err != nil {
		return fmt.Errorf("view story %d: %w", st.ID, err)
	}
	vk := pebblekv.Key(pView, st.ID, viewer)
	if found, err := s.db.Get(vk, nil); err != nil || found {
		if err != nil {
			return fmt.Errorf("view story %d: %w", st.ID, err)
		}
		return nil
	}
	b := s.db.NewBatch()
	b.Set(vk, timeRow{At: at})
	b.Mark(pebblekv.Key(pSeen, viewer, st.ID))
	if err := b.Commit(); err != nil {
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
	prefix := pebblekv.Key(pView, story)
	err := s.db.Scan(ctx, pebblekv.Key(pView, story, after+1), pebblekv.PrefixEnd(prefix), func(k, v []byte) (bool, error) {
		var r timeRow
		if err := json.Unmarshal(v, &r); err != nil {
			return false, fmt.Errorf("decode %q: %w", k, err)
		}
		out = append(out, stories.View{User: pebblekv.LastID(k), At: r.At})
		return limit <= 0 || len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("viewers of %d: %w", story, err)
	}
	return out, nil
}

// ViewCount counts a story's views.
func (s *Store) ViewCount(ctx context.Context, story int64) (int, error) {
	prefix := pebblekv.Key(pView, story)
	n, err := s.db.Count(ctx, prefix, pebblekv.PrefixEnd(prefix))
	if err != nil {
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
	defer s.owners.Lock(st.Owner)()
	defer s.stories.Lock(st.ID)()
	if _, err := s.live(st.ID); err != nil {
		return false, fmt.Errorf("like story %d: %w", st.ID, err)
	}
	lk := pebblekv.Key(pLike, st.ID, user)
	if found, err := s.db.Get(lk, nil); err != nil || found {
		if err != nil {
			return false, fmt.Errorf("like story %d: %w", st.ID, err)
		}
		return false, nil
	}
	b := s.db.NewBatch()
	b.Set(lk, timeRow{At: at})
	b.Mark(pebblekv.Key(pLiked, user, st.ID))
	if user != st.Owner {
		until := s.now().Add(s.cfg.LikersTTL)
		b.Set(pebblekv.Key(pLikers, st.Owner, user), likersRow{Until: until})
		// An older index entry of the same liker stays until its time;
		// the sweep then finds the row renewed and keeps it.
		b.Mark(pebblekv.Key(pLexp, msOf(until), st.Owner, user))
	}
	b.Event(ev)
	if err := b.Commit(); err != nil {
		return false, fmt.Errorf("like story %d by %d: %w", st.ID, user, err)
	}
	return true, nil
}

// Unlike deletes the like and the user's liked mark.
func (s *Store) Unlike(ctx context.Context, st stories.Story, user int64) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	defer s.stories.Lock(st.ID)()
	lk := pebblekv.Key(pLike, st.ID, user)
	found, err := s.db.Get(lk, nil)
	if err != nil || !found {
		if err != nil {
			err = fmt.Errorf("unlike story %d: %w", st.ID, err)
		}
		return false, err
	}
	b := s.db.NewBatch()
	b.Delete(lk)
	b.Delete(pebblekv.Key(pLiked, user, st.ID))
	if err := b.Commit(); err != nil {
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
		seen, err := s.db.Get(pebblekv.Key(pSeen, viewer, id), nil)
		if err != nil {
			return nil, fmt.Errorf("viewer state of %d: %w", viewer, err)
		}
		liked, err := s.db.Get(pebblekv.Key(pLiked, viewer, id), nil)
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
	prefix := pebblekv.Key(pLikers, owner)
	err := s.db.Scan(ctx, prefix, pebblekv.PrefixEnd(prefix), func(k, v []byte) (bool, error) {
		var r likersRow
		if err := json.Unmarshal(v, &r); err != nil {
			return false, fmt.Errorf("decode %q: %w", k, err)
		}
		if now.Before(r.Until) {
			out = append(out, pebblekv.LastID(k))
		}
		return limit <= 0 || len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("likers of %d: %w", owner, err)
	}
	return out, nil
}
