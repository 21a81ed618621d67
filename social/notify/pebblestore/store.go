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
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/bwmarrin/snowflake"
	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/notify"
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
	db      *pebble.DB
	wo      *pebble.WriteOptions
	seenTTL time.Duration
	seed    maphash.Seed
	stripes [64]sync.Mutex // guard read-then-write of one recipient's keys (by recipient id)
}

var _ notify.Store = (*Store)(nil)

// New returns the store over db.
func New(db *pebble.DB, cfg Config) *Store {
	wo := pebble.NoSync
	if cfg.Sync {
		wo = pebble.Sync
	}
	if cfg.SeenTTL <= 0 {
		cfg.SeenTTL = DefaultConfig().SeenTTL
	}
	return &Store{db: db, wo: wo, seenTTL: cfg.SeenTTL, seed: maphash.MakeSeed()}
}

const (
	pGroup = "n/g/"
	pPos   = "n/p/"
	pActor = "n/a/"
	pSeen  = "n/s/"
	pMeta  = "n/m/"
	pMark  = "n/r/"
)

func key(prefix string, ids ...int64) []byte {
	k := make([]byte, len(prefix), len(prefix)+8*len(ids))
	copy(k, prefix)
	for _, id := range ids {
		k = binary.BigEndian.AppendUint64(k, uint64(id))
	}
	return k
}

func groupKey(r int64, gk string) []byte { return append(key(pGroup, r), gk...) }

// actorsPrefix starts every actor row of a group (group keys hold no NUL).
func actorsPrefix(r int64, gk string) []byte { return append(append(key(pActor, r), gk...), 0) }

func actorKey(r int64, gk string, actor int64) []byte {
	return binary.BigEndian.AppendUint64(actorsPrefix(r, gk), uint64(actor))
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

// get reads k into v (nil: only whether it exists).
func (s *Store) get(k []byte, v any) (bool, error) {
	val, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer closer.Close()
	if v != nil {
		if err := json.Unmarshal(val, v); err != nil {
			return true, fmt.Errorf("decode %q: %w", k, err)
		}
	}
	return true, nil
}

func (s *Store) mark(r int64) (int64, error) {
	var m int64
	_, err := s.get(key(pMark, r), &m)
	return m, err
}

func (s *Store) lock(r int64) func() {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(r))
	mu := &s.stripes[maphash.Bytes(s.seed, b[:])%uint64(len(s.stripes))]
	mu.Lock()
	return mu.Unlock
}

// batch collects one write; the first error sticks.
type batch struct {
	b   *pebble.Batch
	err error
}

func (b *batch) set(k []byte, v any) {
	if b.err != nil {
		return
	}
	var val []byte
	switch v := v.(type) {
	case nil:
	case []byte:
		val = v
	default:
		val, b.err = json.Marshal(v)
	}
	if b.err == nil {
		b.err = b.b.Set(k, val, nil)
	}
}

func (b *batch) del(k []byte) {
	if b.err == nil {
		b.err = b.b.Delete(k, nil)
	}
}

func (b *batch) delRange(lo, hi []byte) {
	if b.err == nil {
		b.err = b.b.DeleteRange(lo, hi, nil)
	}
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
	defer s.lock(r)()
	if seen, err := s.get(key(pSeen, r, a.Event), nil); err != nil || seen {
		return notify.Group{}, false, err
	}
	mark, err := s.mark(r)
	if err != nil {
		return notify.Group{}, false, err
	}
	var meta metaRow
	if _, err := s.get(key(pMeta, r), &meta); err != nil {
		return notify.Group{}, false, err
	}
	var row groupRow
	exists, err := s.get(groupKey(r, gk), &row)
	if err != nil {
		return notify.Group{}, false, err
	}
	known, err := s.get(actorKey(r, gk, a.Actor), nil)
	if err != nil {
		return notify.Group{}, false, err
	}
	b := &batch{b: s.db.NewBatch()}
	defer b.b.Close()
	if exists {
		b.del(key(pPos, r, row.Pos))
		row.FirstAt = minTime(row.FirstAt, a.At)
		row.LastAt = maxTime(row.LastAt, a.At)
	} else {
		row = groupRow{ID: a.GroupID, Kind: a.Kind, Object: a.Object, FirstAt: a.At, LastAt: a.At}
		meta.Groups++
	}
	if !known {
		row.ActorCount++
		b.set(actorKey(r, gk, a.Actor), nil)
	}
	row.Actors = notify.Recent(row.Actors, a.Actor)
	row.Pos = notify.NextPos(a.Pos, meta.Top, mark)
	meta.Top = row.Pos
	b.set(groupKey(r, gk), row)
	b.set(key(pPos, r, row.Pos), []byte(gk))
	b.set(key(pSeen, r, a.Event), nil)
	if !exists && meta.Groups > max {
		n, err := s.trim(ctx, b, r, meta.Groups-max)
		if err != nil {
			return notify.Group{}, false, err
		}
		meta.Groups -= n
	}
	b.set(key(pMeta, r), meta)
	if rand.N(64) == 0 {
		// Forget the events applied longer ago than SeenTTL.
		b.delRange(key(pSeen, r), key(pSeen, r, idAt(time.Now().Add(-s.seenTTL))))
	}
	g := row.group(r, mark)
	e, err := ev(g)
	if err != nil {
		return notify.Group{}, false, err
	}
	if b.err == nil {
		b.err = events.AddPebble(b.b, e)
	}
	if b.err != nil {
		return notify.Group{}, false, b.err
	}
	if err := b.b.Commit(s.wo); err != nil {
		return notify.Group{}, false, err
	}
	return g, true, nil
}

// trim deletes r's n oldest groups (the group just written has the highest
// Pos, so it is never one of them) in b. It returns how many it found.
func (s *Store) trim(ctx context.Context, b *batch, r int64, n int) (int, error) {
	lo := key(pPos, r)
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	done := 0
	for ok := it.First(); ok && done < n; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return done, err
		}
		gk := string(v)
		b.del(bytes.Clone(it.Key()))
		b.del(groupKey(r, gk))
		ap := actorsPrefix(r, gk)
		b.delRange(ap, prefixEnd(ap))
		done++
	}
	return done, it.Error()
}

// List implements notify.Store.
func (s *Store) List(ctx context.Context, r, before int64, limit int) ([]notify.Group, error) {
	mark, err := s.mark(r)
	if err != nil {
		return nil, fmt.Errorf("list notifications of %d: %w", r, err)
	}
	lo := key(pPos, r)
	hi := prefixEnd(lo)
	if before > 0 {
		hi = key(pPos, r, before)
	}
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, fmt.Errorf("list notifications of %d: %w", r, err)
	}
	defer it.Close()
	var out []notify.Group
	for ok := it.Last(); ok && len(out) < limit; ok = it.Prev() {
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("list notifications of %d: %w", r, err)
		}
		var row groupRow
		found, err := s.get(groupKey(r, string(v)), &row)
		if err != nil {
			return nil, fmt.Errorf("list notifications of %d: %w", r, err)
		}
		if found {
			out = append(out, row.group(r, mark))
		}
	}
	if err := it.Error(); err != nil {
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
	lo := key(pPos, r, mark+1)
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(key(pPos, r))})
	if err != nil {
		return 0, fmt.Errorf("unread of %d: %w", r, err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if err := it.Error(); err != nil {
		return 0, fmt.Errorf("unread of %d: %w", r, err)
	}
	return n, nil
}

// MarkRead implements notify.Store.
func (s *Store) MarkRead(ctx context.Context, r, upto int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	defer s.lock(r)()
	mark, err := s.mark(r)
	if err != nil {
		return 0, fmt.Errorf("mark read for %d: %w", r, err)
	}
	var meta metaRow
	if _, err := s.get(key(pMeta, r), &meta); err != nil {
		return 0, fmt.Errorf("mark read for %d: %w", r, err)
	}
	upto = min(upto, meta.Top)
	if upto <= mark {
		return mark, nil
	}
	v, _ := json.Marshal(upto)
	if err := s.db.Set(key(pMark, r), v, s.wo); err != nil {
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
