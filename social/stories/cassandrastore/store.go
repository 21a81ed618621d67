package cassandrastore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/mediaedge/mediaedge/social/cqlrows"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/stories"
)

// Config tunes the store.
type Config struct {
	// LikersTTL is how long a user stays in an owner's likers after their
	// last like of one of the owner's stories (30 days).
	LikersTTL time.Duration
	// ClaimGrace is how long an Idempotency-Key claim whose story is
	// missing counts as a create in flight; after it the claim is stale
	// (its create died before its batch) and the next create takes it over.
	// It must exceed the longest a create can take, batchlog replay
	// included.
	ClaimGrace time.Duration
	// ReplayWait is how long a retried create waits for the story of a
	// claim in flight before stories.ErrBusy.
	ReplayWait time.Duration
	// Serial is the consistency of the Paxos phase of the Idempotency-Key
	// claims: LOCAL_SERIAL (default) or SERIAL.
	Serial gocql.Consistency
	// Now is the clock reads judge expiry by and TTLs are computed from;
	// nil is time.Now. The server expires rows by its own clock.
	Now func() time.Time `json:"-"`
}

// DefaultConfig is what production uses.
func DefaultConfig() Config {
	return Config{LikersTTL: 30 * 24 * time.Hour, ClaimGrace: 30 * time.Second, ReplayWait: 2 * time.Second, Serial: gocql.LocalSerial}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.LikersTTL < time.Second {
		errs = append(errs, fmt.Errorf("stories cassandrastore: likers ttl %v: want 1s or more", c.LikersTTL))
	}
	if c.ClaimGrace < 10*time.Second {
		errs = append(errs, fmt.Errorf("stories cassandrastore: claim grace %v: want 10s or more (a batchlog replay must fit in it)", c.ClaimGrace))
	}
	if c.ReplayWait <= 0 {
		errs = append(errs, errors.New("stories cassandrastore: replay wait must be positive"))
	}
	if !cqlrows.ValidSerial(c.Serial) {
		errs = append(errs, fmt.Errorf("stories cassandrastore: serial consistency %v: want SERIAL or LOCAL_SERIAL", c.Serial))
	}
	return errors.Join(errs...)
}

// Store implements stories.Store. It needs no sweep: every row is written
// USING TTL, and the server forgets it when the story ends.
type Store struct {
	s   *gocql.Session
	cfg Config
	now func() time.Time
}

var _ stories.Store = (*Store)(nil)

// New returns the store over s, a session bound to the keyspace holding the
// schema (see package schema). The caller owns and closes the session.
func New(s *gocql.Session, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st := &Store{s: s, cfg: cfg, now: cfg.Now}
	if st.now == nil {
		st.now = time.Now
	}
	return st, nil
}

// Query strings are constants so that the driver's prepared-statement cache
// hits.
const (
	storyCols    = `owner, media_id, media_type, caption, hide_from, idem_key, created_at, expires_at`
	qPutStory    = `INSERT INTO stories (id, ` + storyCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`
	qPutByOwner  = `INSERT INTO stories_by_owner (id, ` + storyCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`
	qGetStory    = `SELECT ` + storyCols + ` FROM stories WHERE id = ?`
	qOwnerStory  = `SELECT id, ` + storyCols + ` FROM stories_by_owner WHERE owner = ?`
	qClaimKey    = `INSERT INTO story_idem (owner, idem_key, story_id, claimed_at) VALUES (?, ?, ?, ?) IF NOT EXISTS USING TTL ?`
	qTakeoverKey = `UPDATE story_idem USING TTL ? SET story_id = ?, claimed_at = ? WHERE owner = ? AND idem_key = ? IF story_id = ?`
	qReadKey     = `SELECT story_id, claimed_at FROM story_idem WHERE owner = ? AND idem_key = ?`

	qPutView   = `INSERT INTO story_views (story_id, viewer_id, viewed_at) VALUES (?, ?, ?) USING TTL ? AND TIMESTAMP ?`
	qPutSeen   = `INSERT INTO story_seen (viewer_id, story_id) VALUES (?, ?) USING TTL ? AND TIMESTAMP ?`
	qViewers   = `SELECT viewer_id, viewed_at FROM story_views WHERE story_id = ? AND viewer_id > ? LIMIT ?`
	qViewCount = `SELECT COUNT(*) FROM story_views WHERE story_id = ?`
	qSeen      = `SELECT story_id FROM story_seen WHERE viewer_id = ? AND story_id >= ?`

	qGetLike   = `SELECT user_id FROM story_likes WHERE story_id = ? AND user_id = ?`
	qPutLike   = `INSERT INTO story_likes (story_id, user_id, liked_at) VALUES (?, ?, ?) USING TTL ?`
	qPutLiked  = `INSERT INTO story_liked (user_id, story_id) VALUES (?, ?) USING TTL ?`
	qPutLiker  = `INSERT INTO story_likers (owner, user_id, liked_at) VALUES (?, ?, ?) USING TTL ?`
	qDelLike   = `DELETE FROM story_likes WHERE story_id = ? AND user_id = ?`
	qDelLiked  = `DELETE FROM story_liked WHERE user_id = ? AND story_id = ?`
	qLiked     = `SELECT story_id FROM story_liked WHERE user_id = ? AND story_id >= ?`
	qLikers    = `SELECT user_id FROM story_likers WHERE owner = ? LIMIT ?`
	qAllLikers = `SELECT user_id FROM story_likers WHERE owner = ?`
)

// firstViewTS is above every wall-clock timestamp in microseconds (2^53 µs
// is year 2255): a view is written USING TIMESTAMP firstViewTS minus its
// time, so the earliest view has the highest timestamp and wins.
const firstViewTS = int64(1) << 53

// Batches (cqlrows.Batch.Add) are retried by the driver: every statement
// here writes fixed values (views USING TIMESTAMP theirs), so applying a
// batch twice is applying it once.

// ttl is the whole seconds left until exp, rounded up; 0 when it is past.
func (s *Store) ttl(exp time.Time) int {
	d := exp.Sub(s.now())
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}

// ms is how Cassandra stores a time: milliseconds, UTC.
func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func list(l []int64) []int64 {
	if l == nil {
		return []int64{}
	}
	return l
}

func unlist(l []int64) []int64 {
	if len(l) == 0 {
		return nil
	}
	return l
}

// ---- stories ----

// Create claims the Idempotency-Key (a lightweight transaction) when there
// is one, then writes the story, its stories_by_owner row and ev in one
// LOGGED batch, every row USING TTL the story's lifetime.
func (s *Store) Create(ctx context.Context, st stories.Story, ev events.Event) (stories.Story, bool, error) {
	st.CreatedAt, st.ExpiresAt = ms(st.CreatedAt), ms(st.ExpiresAt)
	st.HideFrom = unlist(st.HideFrom)
	ttl := s.ttl(st.ExpiresAt)
	if ttl < 1 {
		return stories.Story{}, false, fmt.Errorf("create story %d: expires at %v, already past", st.ID, st.ExpiresAt)
	}
	if st.Key != "" {
		prev, done, err := s.claim(ctx, st, ttl)
		if err != nil || done {
			return prev, false, err
		}
	}
	b := cqlrows.NewBatch(s.s)
	args := []any{st.ID, st.Owner, st.Media, st.MediaType, st.Caption, list(st.HideFrom), st.Key, st.CreatedAt, st.ExpiresAt, ttl}
	b.Add(qPutStory, args...)
	b.Add(qPutByOwner, args...)
	b.Event(ev)
	if err := b.Exec(ctx); err != nil {
		return stories.Story{}, false, fmt.Errorf("create story %d: %w", st.ID, err)
	}
	return st, true, nil
}

// claim takes st.Key for st (cqlrows.KeyClaim). done=true: the key
// belongs to a story that exists, returned as prev (a retry). An error is
// ErrBusy while the key's story is being created elsewhere.
func (s *Store) claim(ctx context.Context, st stories.Story, ttl int) (prev stories.Story, done bool, err error) {
	return cqlrows.KeyClaim[stories.Story]{
		Op:   fmt.Sprintf("create story of %d", st.Owner),
		Mine: st.ID,
		// Idempotent: a driver retry of our applied claim answers with
		// our own story id, which Run recognises.
		Claim: func(ctx context.Context, m map[string]any) (bool, error) {
			return cqlrows.CAS(ctx, s.s, s.cfg.Serial, m, true, qClaimKey, st.Owner, st.Key, st.ID, time.Now(), ttl)
		},
		Holder: func(m map[string]any) (int64, bool) {
			holder, _ := m["story_id"].(int64)
			at, _ := m["claimed_at"].(time.Time)
			return holder, time.Since(at) < s.cfg.ClaimGrace
		},
		TakeOver: func(ctx context.Context, row, m map[string]any) (bool, error) {
			holder, _ := row["story_id"].(int64)
			return cqlrows.CAS(ctx, s.s, s.cfg.Serial, m, false, qTakeoverKey, ttl, st.ID, time.Now(), st.Owner, st.Key, holder)
		},
		Reread: func(ctx context.Context, m map[string]any) error {
			return s.s.Query(qReadKey, st.Owner, st.Key).Consistency(s.cfg.Serial).Idempotent(true).MapScanContext(ctx, m)
		},
		Get:      s.Get,
		NotFound: stories.ErrNotFound,
		Busy:     stories.ErrBusy,
		Wait:     s.cfg.ReplayWait,
	}.Run(ctx)
}

// Get reads a live story.
func (s *Store) Get(ctx context.Context, id int64) (stories.Story, error) {
	st := stories.Story{ID: id}
	found, err := cqlrows.Read(ctx, s.s, qGetStory, []any{id},
		&st.Owner, &st.Media, &st.MediaType, &st.Caption, &st.HideFrom, &st.Key, &st.CreatedAt, &st.ExpiresAt)
	switch {
	case err == nil && !found:
		err = stories.ErrNotFound
	case err == nil && !st.Live(s.now()):
		err = stories.ErrExpired // the server has not dropped it yet
	}
	if err != nil {
		return stories.Story{}, fmt.Errorf("get story %d: %w", id, err)
	}
	st.HideFrom = unlist(st.HideFrom)
	return st, nil
}

// OwnerStories reads the owner's partition of stories_by_owner.
func (s *Store) OwnerStories(ctx context.Context, owner int64) ([]stories.Story, error) {
	var out []stories.Story
	now := s.now()
	it := s.s.Query(qOwnerStory, owner).Idempotent(true).IterContext(ctx)
	for {
		st := stories.Story{Owner: owner}
		var o int64
		if !it.Scan(&st.ID, &o, &st.Media, &st.MediaType, &st.Caption, &st.HideFrom, &st.Key, &st.CreatedAt, &st.ExpiresAt) {
			break
		}
		if st.Live(now) {
			st.HideFrom = unlist(st.HideFrom)
			out = append(out, st)
		}
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("stories of %d: %w", owner, err)
	}
	return out, nil
}

// ---- views ----

// View writes the view and the seen mark USING TIMESTAMP firstViewTS - at,
// so a repeat (a lower timestamp) never replaces the first view.
func (s *Store) View(ctx context.Context, st stories.Story, viewer int64, at time.Time) error {
	ttl := s.ttl(st.ExpiresAt)
	if ttl < 1 {
		return fmt.Errorf("view story %d: %w", st.ID, stories.ErrExpired)
	}
	at = ms(at)
	ts := firstViewTS - at.UnixMicro()
	b := cqlrows.NewBatch(s.s)
	b.Add(qPutView, st.ID, viewer, at, ttl, ts)
	b.Add(qPutSeen, viewer, st.ID, ttl, ts)
	if err := b.Exec(ctx); err != nil {
		return fmt.Errorf("view story %d by %d: %w", st.ID, viewer, err)
	}
	return nil
}

// Viewers pages through story_views.
func (s *Store) Viewers(ctx context.Context, story int64, after int64, limit int) ([]stories.View, error) {
	if limit <= 0 {
		limit = math.MaxInt32
	}
	var out []stories.View
	it := s.s.Query(qViewers, story, after, limit).Idempotent(true).IterContext(ctx)
	var v stories.View
	for it.Scan(&v.User, &v.At) {
		out = append(out, v)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("viewers of %d: %w", story, err)
	}
	return out, nil
}

// ViewCount counts the story's partition of story_views.
func (s *Store) ViewCount(ctx context.Context, story int64) (int, error) {
	var n int64
	if err := s.s.Query(qViewCount, story).Idempotent(true).ScanContext(ctx, &n); err != nil {
		return 0, fmt.Errorf("count views of %d: %w", story, err)
	}
	return int(n), nil
}

// ---- likes ----

// Like reads the like row, and when there is none writes it with its
// mirror, the owner's liker and ev in one LOGGED batch. Two likes of the
// same user racing on the same story may both write: the rows are the
// same, and the event is told twice (a duplicate, never a loss).
func (s *Store) Like(ctx context.Context, st stories.Story, user int64, at time.Time, ev events.Event) (bool, error) {
	ttl := s.ttl(st.ExpiresAt)
	if ttl < 1 {
		return false, fmt.Errorf("like story %d: %w", st.ID, stories.ErrExpired)
	}
	if ok, err := s.liked(ctx, st.ID, user); err != nil || ok {
		if err != nil {
			err = fmt.Errorf("like story %d: %w", st.ID, err)
		}
		return false, err
	}
	at = ms(at)
	b := cqlrows.NewBatch(s.s)
	b.Add(qPutLike, st.ID, user, at, ttl)
	b.Add(qPutLiked, user, st.ID, ttl)
	if user != st.Owner {
		b.Add(qPutLiker, st.Owner, user, at, int(s.cfg.LikersTTL/time.Second))
	}
	b.Event(ev)
	if err := b.Exec(ctx); err != nil {
		return false, fmt.Errorf("like story %d by %d: %w", st.ID, user, err)
	}
	return true, nil
}

func (s *Store) liked(ctx context.Context, story, user int64) (bool, error) {
	return cqlrows.Exists(ctx, s.s, qGetLike, story, user)
}

// Unlike deletes the like and its mirror.
func (s *Store) Unlike(ctx context.Context, st stories.Story, user int64) (bool, error) {
	if ok, err := s.liked(ctx, st.ID, user); err != nil || !ok {
		if err != nil {
			err = fmt.Errorf("unlike story %d: %w", st.ID, err)
		}
		return false, err
	}
	b := cqlrows.NewBatch(s.s)
	b.Add(qDelLike, st.ID, user)
	b.Add(qDelLiked, user, st.ID)
	if err := b.Exec(ctx); err != nil {
		return false, fmt.Errorf("unlike story %d by %d: %w", st.ID, user, err)
	}
	return true, nil
}

// ViewerState reads the viewer's story_seen and story_liked partitions
// from the smallest of ids on (both hold only live stories' rows).
func (s *Store) ViewerState(ctx context.Context, viewer int64, ids []int64) (map[int64]stories.ViewerState, error) {
	out := map[int64]stories.ViewerState{}
	if len(ids) == 0 {
		return out, nil
	}
	from := slices.Min(ids)
	want := make(map[int64]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	for _, q := range []string{qSeen, qLiked} {
		it := s.s.Query(q, viewer, from).Idempotent(true).IterContext(ctx)
		var id int64
		for it.Scan(&id) {
			if !want[id] {
				continue
			}
			v := out[id]
			if q == qSeen {
				v.Viewed = true
			} else {
				v.Liked = true
			}
			out[id] = v
		}
		if err := it.Close(); err != nil {
			return nil, fmt.Errorf("viewer state of %d: %w", viewer, err)
		}
	}
	return out, nil
}

// Likers reads the owner's partition of story_likers.
func (s *Store) Likers(ctx context.Context, owner int64, limit int) ([]int64, error) {
	q := s.s.Query(qAllLikers, owner)
	if limit > 0 {
		q = s.s.Query(qLikers, owner, limit)
	}
	var out []int64
	it := q.Idempotent(true).IterContext(ctx)
	var u int64
	for it.Scan(&u) {
		out = append(out, u)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("likers of %d: %w", owner, err)
	}
	return out, nil
}
