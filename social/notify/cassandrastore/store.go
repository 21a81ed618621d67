// Package cassandrastore is the notify.Store on Apache Cassandra (through
// github.com/apache/cassandra-gocql-driver/v2), over the tables of
// schema/cql/0010_social_notify.cql.
//
// Grouping is a read-modify-write of a recipient's group, so Apply runs
// under the recipient's lock row (notify_locks: INSERT ... IF NOT EXISTS
// USING TTL, released with DELETE ... IF holder = ours: a cqlrows.Locks,
// as social/users/cassandrastore's graph_locks). Under it Apply reads whether
// the event was applied (notify_seen), the read mark, the recipient's meta
// row (group count, highest pos), the group and whether the actor is
// known, and writes one LOGGED batch: the group row, the actor row, the
// seen row, the meta row, the deletions of trimmed groups and the outbox
// row. So twenty likes of one post applied on several edges at once give
// actor_count 20, and an event delivered twice is applied once. After a
// batch whose outcome is unknown (a timeout) the lock is not released but
// left to lapse (LockTTL), by when the batchlog has applied or dropped it.
// The lock is per recipient, not per group, because opening a group also
// counts and trims the recipient's groups.
//
// Why a lock and not a compare-and-set on the group row: the group row is
// refreshed by TTL'd plain writes in a LOGGED batch with the outbox row,
// and a lightweight transaction cannot share a multi-partition batch. A
// lock row written only by lightweight transactions keeps Paxos and plain
// writes apart, and the batch stays atomic.
//
// The unread count is computed, not stored: the number of rows of the
// recipient's notify_groups partition (at most MaxPerUser, ~75 kB) whose
// pos is above the read mark. A stored count would have to change when a
// read mark covers many groups at once, which would put MarkRead under the
// lock too and make it a read of the partition anyway; computing it keeps
// MarkRead a single write and the count exact by construction.
//
// The read mark is one cell written USING TIMESTAMP upto >> 12, so it
// only rises with a plain write (see the CQL file).
package cassandrastore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/mediaedge/mediaedge/social/cqlrows"
	"github.com/mediaedge/mediaedge/social/notify"
)

// Config tunes the store.
type Config struct {
	// TTL is how long a group, its actors and the record of an applied
	// event live after their last write.
	TTL time.Duration
	// LockTTL is how long a recipient's lock lives when its holder dies or
	// leaves it after a batch of unknown outcome.
	LockTTL time.Duration
	// LockWait is how long Apply waits for the recipient's lock before it
	// gives up with notify.ErrBusy (the consumer retries the event).
	LockWait time.Duration
}

// DefaultConfig is what production uses.
func DefaultConfig() Config {
	return Config{TTL: 30 * 24 * time.Hour, LockTTL: 30 * time.Second, LockWait: 10 * time.Second}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.TTL < time.Hour {
		errs = append(errs, fmt.Errorf("cassandrastore: ttl %v: want an hour or more", c.TTL))
	}
	if c.LockTTL < time.Second {
		errs = append(errs, fmt.Errorf("cassandrastore: lock ttl %v: want 1s or more", c.LockTTL))
	}
	if c.LockWait <= 0 {
		errs = append(errs, errors.New("cassandrastore: lock wait must be positive"))
	}
	return errors.Join(errs...)
}

// Store implements notify.Store.
type Store struct {
	s     *gocql.Session
	cfg   Config
	locks cqlrows.Locks // notify_locks, one row a recipient
}

var _ notify.Store = (*Store)(nil)

// New returns the store over s, a session bound to the keyspace holding the
// schema. The caller owns and closes the session.
func New(s *gocql.Session, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	locks := cqlrows.Locks{Take: qLock, Release: qUnlock, TTL: cfg.LockTTL, Wait: cfg.LockWait,
		Backoff: 5 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	return &Store{s: s, cfg: cfg, locks: locks}, nil
}

const (
	qLock   = `INSERT INTO notify_locks (recipient, holder) VALUES (?, ?) IF NOT EXISTS USING TTL ?`
	qUnlock = `DELETE FROM notify_locks WHERE recipient = ? IF holder = ?`

	groupCols  = `id, kind, object, actors, actor_count, first_at, last_at, pos`
	qGetGroup  = `SELECT ` + groupCols + ` FROM notify_groups WHERE recipient = ? AND gkey = ?`
	qPutGroup  = `INSERT INTO notify_groups (recipient, gkey, ` + groupCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`
	qDelGroup  = `DELETE FROM notify_groups WHERE recipient = ? AND gkey = ?`
	qListGroup = `SELECT ` + groupCols + ` FROM notify_groups WHERE recipient = ?`
	qGroupPos  = `SELECT gkey, pos FROM notify_groups WHERE recipient = ?`

	qGetActor  = `SELECT actor FROM notify_actors WHERE recipient = ? AND gkey = ? AND actor = ?`
	qPutActor  = `INSERT INTO notify_actors (recipient, gkey, actor) VALUES (?, ?, ?) USING TTL ?`
	qDelActors = `DELETE FROM notify_actors WHERE recipient = ? AND gkey = ?`

	qGetSeen = `SELECT applied FROM notify_seen WHERE recipient = ? AND event_id = ?`
	qPutSeen = `INSERT INTO notify_seen (recipient, event_id, applied) VALUES (?, ?, true) USING TTL ?`

	qGetMeta = `SELECT groups, top FROM notify_meta WHERE recipient = ?`
	qPutMeta = `INSERT INTO notify_meta (recipient, groups, top) VALUES (?, ?, ?) USING TTL ?`

	qGetMark = `SELECT upto FROM notify_read WHERE recipient = ?`
	qSetMark = `UPDATE notify_read USING TIMESTAMP ? SET upto = ? WHERE recipient = ?`
)

// lock takes the recipient's notify_locks row, waiting up to LockWait.
// Release it when done (best effort: a lock not released lapses); after a
// batch of unknown outcome run under it (Held.Exec failed) it is kept
// until it lapses, since the batchlog may still apply the batch.
func (s *Store) lock(ctx context.Context, r int64) (*cqlrows.Held, error) {
	l, err := s.locks.Acquire(ctx, s.s, r)
	switch {
	case errors.Is(err, cqlrows.ErrLocked):
		return nil, fmt.Errorf("lock recipient %d: held by another writer: %w", r, notify.ErrBusy)
	case err != nil:
		return nil, fmt.Errorf("lock recipient %d: %w", r, err)
	}
	return l, nil
}

// Apply implements notify.Store.
func (s *Store) Apply(ctx context.Context, a notify.Activity, max int, ev notify.EventFunc) (notify.Group, bool, error) {
	g, applied, err := s.apply(ctx, a, max, ev)
	if err != nil {
		return notify.Group{}, false, fmt.Errorf("apply event %d for %d: %w", a.Event, a.Recipient, err)
	}
	return g, applied, nil
}

func (s *Store) apply(ctx context.Context, a notify.Activity, max int, ev notify.EventFunc) (notify.Group, bool, error) {
	r, gk := a.Recipient, a.Key()
	l, err := s.lock(ctx, r)
	if err != nil {
		return notify.Group{}, false, err
	}
	defer l.Release(ctx)

	var seen bool
	if found, err := cqlrows.Read(ctx, s.s, qGetSeen, []any{r, a.Event}, &seen); err != nil || found {
		return notify.Group{}, false, err
	}
	mark, err := s.mark(ctx, r)
	if err != nil {
		return notify.Group{}, false, err
	}
	var groups int
	var top int64
	if _, err := cqlrows.Read(ctx, s.s, qGetMeta, []any{r}, &groups, &top); err != nil {
		return notify.Group{}, false, err
	}
	g := notify.Group{Recipient: r}
	exists, err := cqlrows.Read(ctx, s.s, qGetGroup, []any{r, gk},
		&g.ID, &g.Kind, &g.Object, &g.Actors, &g.ActorCount, &g.FirstAt, &g.LastAt, &g.Pos)
	if err != nil {
		return notify.Group{}, false, err
	}
	var actor int64
	known, err := cqlrows.Read(ctx, s.s, qGetActor, []any{r, gk, a.Actor}, &actor)
	if err != nil {
		return notify.Group{}, false, err
	}

	if exists {
		if a.At.Before(g.FirstAt) {
			g.FirstAt = a.At
		}
		if a.At.After(g.LastAt) {
			g.LastAt = a.At
		}
	} else {
		g = notify.Group{ID: a.GroupID, Recipient: r, Kind: a.Kind, Object: a.Object, FirstAt: a.At, LastAt: a.At}
		groups++
	}
	if !known {
		g.ActorCount++
	}
	g.Actors = notify.Recent(g.Actors, a.Actor)
	g.Pos = notify.NextPos(a.Pos, top, mark)
	top = g.Pos

	ttl := int(s.cfg.TTL / time.Second)
	// Every row is written with fixed values (cqlrows.Batch.Add): the
	// driver may retry the batch.
	b := cqlrows.NewBatch(s.s)
	b.Add(qPutGroup, r, gk, g.ID, g.Kind, g.Object, g.Actors, g.ActorCount, g.FirstAt, g.LastAt, g.Pos, ttl)
	// Written even when known: refreshes the actor's TTL with the group's.
	b.Add(qPutActor, r, gk, a.Actor, ttl)
	b.Add(qPutSeen, r, a.Event, ttl)
	if !exists && groups > max {
		// The meta count is an upper bound (rows expire on their own):
		// count for real, and trim the oldest beyond max.
		left, err := s.trim(ctx, b, r, gk, max)
		if err != nil {
			return notify.Group{}, false, err
		}
		groups = left
	}
	b.Add(qPutMeta, r, groups, top, ttl)
	e, err := ev(g)
	if err != nil {
		return notify.Group{}, false, err
	}
	b.Event(e)
	if err := l.Exec(ctx, b); err != nil {
		return notify.Group{}, false, err
	}
	return g, true, nil
}

// trim reads r's groups other than the one being opened (keep), adds to b
// the deletions of the oldest so that with keep at most max remain, and
// returns how many remain.
func (s *Store) trim(ctx context.Context, b *cqlrows.Batch, r int64, keep string, max int) (int, error) {
	type row struct {
		gk  string
		pos int64
	}
	var rows []row
	sc := s.s.Query(qGroupPos, r).Idempotent(true).IterContext(ctx).Scanner()
	for sc.Next() {
		var x row
		if err := sc.Scan(&x.gk, &x.pos); err != nil {
			_ = sc.Err()
			return 0, err
		}
		if x.gk != keep {
			rows = append(rows, x)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	n := len(rows) + 1
	if n <= max {
		return n, nil
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(a.pos, b.pos) })
	for _, x := range rows[:n-max] {
		b.Add(qDelGroup, r, x.gk)
		b.Add(qDelActors, r, x.gk)
	}
	return max, nil
}

func (s *Store) mark(ctx context.Context, r int64) (int64, error) {
	var m int64
	_, err := cqlrows.Read(ctx, s.s, qGetMark, []any{r}, &m)
	return m, err
}

// groups reads r's whole (bounded) partition.
func (s *Store) groups(ctx context.Context, r int64) ([]notify.Group, error) {
	mark, err := s.mark(ctx, r)
	if err != nil {
		return nil, err
	}
	var out []notify.Group
	sc := s.s.Query(qListGroup, r).Idempotent(true).IterContext(ctx).Scanner()
	for sc.Next() {
		g := notify.Group{Recipient: r}
		if err := sc.Scan(&g.ID, &g.Kind, &g.Object, &g.Actors, &g.ActorCount, &g.FirstAt, &g.LastAt, &g.Pos); err != nil {
			_ = sc.Err()
			return nil, err
		}
		g.Read = g.Pos <= mark
		out = append(out, g)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b notify.Group) int { return cmp.Compare(b.Pos, a.Pos) })
	return out, nil
}

// List implements notify.Store: the partition, sorted by pos, newest
// first.
func (s *Store) List(ctx context.Context, r, before int64, limit int) ([]notify.Group, error) {
	gs, err := s.groups(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("list notifications of %d: %w", r, err)
	}
	if before > 0 {
		i, _ := slices.BinarySearchFunc(gs, before, func(g notify.Group, t int64) int { return cmp.Compare(t, g.Pos) })
		gs = gs[i:]
		for len(gs) > 0 && gs[0].Pos >= before {
			gs = gs[1:]
		}
	}
	if len(gs) > limit {
		gs = gs[:limit]
	}
	return gs, nil
}

// Unread implements notify.Store: the partition's rows above the mark.
func (s *Store) Unread(ctx context.Context, r int64) (int, error) {
	mark, err := s.mark(ctx, r)
	if err != nil {
		return 0, fmt.Errorf("unread of %d: %w", r, err)
	}
	n := 0
	sc := s.s.Query(qGroupPos, r).Idempotent(true).IterContext(ctx).Scanner()
	for sc.Next() {
		var gk string
		var pos int64
		if err := sc.Scan(&gk, &pos); err != nil {
			_ = sc.Err()
			return 0, fmt.Errorf("unread of %d: %w", r, err)
		}
		if pos > mark {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("unread of %d: %w", r, err)
	}
	return n, nil
}

// MarkRead implements notify.Store.
func (s *Store) MarkRead(ctx context.Context, r, upto int64) (int64, error) {
	mark, err := s.mark(ctx, r)
	if err != nil {
		return 0, fmt.Errorf("mark read for %d: %w", r, err)
	}
	var groups int
	var top int64
	if _, err := cqlrows.Read(ctx, s.s, qGetMeta, []any{r}, &groups, &top); err != nil {
		return 0, fmt.Errorf("mark read for %d: %w", r, err)
	}
	upto = min(upto, top)
	if upto <= mark {
		return mark, nil
	}
	if err := s.s.Query(qSetMark, upto>>12, upto, r).Idempotent(true).ExecContext(ctx); err != nil {
		return 0, fmt.Errorf("mark read for %d: %w", r, err)
	}
	return upto, nil
}
