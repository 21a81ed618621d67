// Package pebblestore is the notify.Store on the embedded Pebble store,
// under the key prefix "n/".
//
// Keys (ids big-endian, so keys sort in id order):
//
//	n/g/<recipient><group key>          the group (JSON)
//	n/p/<recipient><pos>                the group key: the list, in Pos order
//	n/a/<recipient><group key>\0<actor> one row per distinct actor of a group
//	n/s/<recipient><event>              the events applied (idempotency)
//	n/m/<recipient>                     meta: group count and highest Pos
//	n/r/<recipient>                     the read mark
//
// A write reads, then writes, under the recipient's stripe of locks: one
// process owns the database, so a mutex is the whole of concurrency
// control. Each Apply is one synced batch holding the group, its list
// row, the actor row, the record of the event, any trimmed groups'
// deletions and the outbox event.
//
// The unread count counts the list rows above the read mark: exact, and at
// most MaxPerUser keys. The records of applied events are pruned once
// older than Config.SeenTTL (event ids are time-ordered, so a range
// delete below the id of that time).
package pebblestore

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/bwmarrin/snowflake"
	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/social/notify"
	"github.com/mediaedge/mediaedge/social/pebblekv"
)

// Config says how the store writes.
type Config struct {
	// Sync makes every write durable (a WAL fsync) before it returns.
	// DefaultConfig sets it; turn it off only in tests that never crash.
	Sync bool
	// SeenTTL is how long the record of an applied event is kept: longer
	// than any redelivery (JetStream gives up after MaxDeliver backoffs).
	SeenTTL time.Duration
}

// DefaultConfig is a durable store.
func DefaultConfig() Config { return Config{Sync: true, SeenTTL: 30 * 24 * time.Hour} }

// Store implements notify.Store on a *pebble.DB it does not own.
type Store struct {
	db      *pebblekv.DB
	seenTTL time.Duration
	stripes pebblekv.Stripes // guard read-then-write of one recipient's keys (by recipient id)
}

var _ notify.Store = (*Store)(nil)

// New returns the store over db.
func New(db *pebble.DB, cfg Config) *Store {
	if cfg.SeenTTL <= 0 {
		cfg.SeenTTL = DefaultConfig().SeenTTL
	}
	return &Store{db: pebblekv.New(db, cfg.Sync), seenTTL: cfg.SeenTTL}
}

const (
	pGroup = "n/g/"
	pPos   = "n/p/"
	pActor = "n/a/"
	pSeen  = "n/s/"
	pMeta  = "n/m/"
	pMark  = "n/r/"
)

func groupKey(r int64, gk string) []byte { return append(pebblekv.Key(pGroup, r), gk...) }

// actorsPrefix starts every actor row of a group (group keys hold no NUL).
func actorsPrefix(r int64, gk string) []byte {
	return append(append(pebblekv.Key(pActor, r), gk...), 0)
}

func actorKey(r int64, gk string, actor int64) []byte {
	return binary.BigEndian.AppendUint64(actorsPrefix(r, gk), uint64(actor))
}

type groupRow struct {
	ID         int64     `json:"id"`
	Kind       string    `json:"kind"`
	Object     string    `json:"object"`
	Actors     []int64   `json:"actors"`
	ActorCount int       `json:"actor_count"`
	FirstAt    time.Time `json:"first_at"`
	LastAt     time.Time `json:"last_at"`
	Pos        int64     `json:"pos"`
}

type metaRow struct {
	Groups int   `json:"groups"`
	Top    int64 `json:"top"`
}

func (r groupRow) group(recipient, mark int64) notify.Group {
	return notify.Group{ID: r.ID, Recipient: recipient, Kind: r.Kind, Object: r.Object, Actors: r.Actors,
		ActorCount: r.ActorCount, FirstAt: r.FirstAt, LastAt: r.LastAt, Pos: r.Pos, Read: r.Pos <= mark}
}

func (s *Store) mark(r int64) (int64, error) {
	var m int64
	_, err := s.db.Get(pebblekv.Key(pMark, r), &m)
	return m, err
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
	if err := ctx.Err(); err != nil {
		return notify.Group{}, false, err
	}
	r, gk := a.Recipient, a.Key()
	defer s.stripes.Lock(r)()
	if seen, err := s.db.Get(pebblekv.Key(pSeen, r, a.Event), nil); err != nil || seen {
		return notify.Group{}, false, err
	}
	mark, err := s.mark(r)
	if err != nil {
		return notify.Group{}, false, err
	}
	var meta metaRow
	if _, err := s.db.Get(pebblekv.Key(pMeta, r), &meta); err != nil {
		return notify.Group{}, false, err
	}
	var row groupRow
	exists, err := s.db.Get(groupKey(r, gk), &row)
	if err != nil {
		return notify.Group{}, false, err
	}
	known, err := s.db.Get(actorKey(r, gk, a.Actor), nil)
	if err != nil {
		return notify.Group{}, false, err
	}
	b := s.db.NewBatch()
	defer b.Close()
	if exists {
		b.Delete(pebblekv.Key(pPos, r, row.Pos))
		row.FirstAt = minTime(row.FirstAt, a.At)
		row.LastAt = maxTime(row.LastAt, a.At)
	} else {
		row = groupRow{ID: a.GroupID, Kind: a.Kind, Object: a.Object, FirstAt: a.At, LastAt: a.At}
		meta.Groups++
	}
	if !known {
		row.ActorCount++
		b.Mark(actorKey(r, gk, a.Actor))
	}
	row.Actors = notify.Recent(row.Actors, a.Actor)
	row.Pos = notify.NextPos(a.Pos, meta.Top, mark)
	meta.Top = row.Pos
	b.Set(groupKey(r, gk), row)
	b.SetRaw(pebblekv.Key(pPos, r, row.Pos), []byte(gk))
	b.Mark(pebblekv.Key(pSeen, r, a.Event))
	if !exists && meta.Groups > max {
		n, err := s.trim(ctx, b, r, meta.Groups-max)
		if err != nil {
			return notify.Group{}, false, err
		}
		meta.Groups -= n
	}
	b.Set(pebblekv.Key(pMeta, r), meta)
	if rand.N(64) == 0 {
		// Forget the events applied longer ago than SeenTTL.
		b.DeleteRange(pebblekv.Key(pSeen, r), pebblekv.Key(pSeen, r, idAt(time.Now().Add(-s.seenTTL))))
	}
	g := row.group(r, mark)
	e, err := ev(g)
	if err != nil {
		return notify.Group{}, false, err
	}
	b.Event(e)
	if err := b.Commit(); err != nil {
		return notify.Group{}, false, err
	}
	return g, true, nil
}

// trim deletes r's n oldest groups (the group just written has the highest
// Pos, so it is never one of them) in b. It returns how many it found.
func (s *Store) trim(ctx context.Context, b *pebblekv.Batch, r int64, n int) (int, error) {
	lo := pebblekv.Key(pPos, r)
	done := 0
	err := s.db.Scan(ctx, lo, pebblekv.PrefixEnd(lo), func(k, v []byte) (bool, error) {
		gk := string(v)
		b.Delete(k)
		b.Delete(groupKey(r, gk))
		ap := actorsPrefix(r, gk)
		b.DeleteRange(ap, pebblekv.PrefixEnd(ap))
		done++
		return done < n, nil
	})
	return done, err
}

// List implements notify.Store.
func (s *Store) List(ctx context.Context, r, before int64, limit int) ([]notify.Group, error) {
	mark, err := s.mark(r)
	if err != nil {
		return nil, fmt.Errorf("list notifications of %d: %w", r, err)
	}
	lo := pebblekv.Key(pPos, r)
	hi := pebblekv.PrefixEnd(lo)
	if before > 0 {
		hi = pebblekv.Key(pPos, r, before)
	}
	var out []notify.Group
	err = s.db.ScanReverse(ctx, lo, hi, func(_, v []byte) (bool, error) {
		if len(out) >= limit {
			return false, nil
		}
		var row groupRow
		found, err := s.db.Get(groupKey(r, string(v)), &row)
		if err != nil {
			return false, err
		}
		if found {
			out = append(out, row.group(r, mark))
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list notifications of %d: %w", r, err)
	}
	return out, nil
}

// Unread implements notify.Store: the list rows above the mark.
func (s *Store) Unread(ctx context.Context, r int64) (int, error) {
	mark, err := s.mark(r)
	if err != nil {
		return 0, fmt.Errorf("unread of %d: %w", r, err)
	}
	n, err := s.db.Count(ctx, pebblekv.Key(pPos, r, mark+1), pebblekv.PrefixEnd(pebblekv.Key(pPos, r)))
	if err != nil {
		return 0, fmt.Errorf("unread of %d: %w", r, err)
	}
	return n, nil
}

// MarkRead implements notify.Store.
func (s *Store) MarkRead(ctx context.Context, r, upto int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	defer s.stripes.Lock(r)()
	mark, err := s.mark(r)
	if err != nil {
		return 0, fmt.Errorf("mark read for %d: %w", r, err)
	}
	var meta metaRow
	if _, err := s.db.Get(pebblekv.Key(pMeta, r), &meta); err != nil {
		return 0, fmt.Errorf("mark read for %d: %w", r, err)
	}
	upto = min(upto, meta.Top)
	if upto <= mark {
		return mark, nil
	}
	b := s.db.NewBatch()
	b.Set(pebblekv.Key(pMark, r), upto)
	if err := b.Commit(); err != nil {
		return 0, fmt.Errorf("mark read for %d: %w", r, err)
	}
	return upto, nil
}

// idAt is the smallest social/ids id of time t (the ids package's
// snowflake layout: milliseconds since snowflake.Epoch above the node and
// sequence bits).
func idAt(t time.Time) int64 {
	ms := t.UnixMilli() - snowflake.Epoch
	if ms <= 0 {
		return 0
	}
	return ms << (snowflake.NodeBits + snowflake.StepBits)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
