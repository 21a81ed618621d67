// Package pebblestore is the feed.Store on the embedded Pebble database the
// edge opens at DATA/social, shared by every social service, each under its
// own key prefix; this one's is "f/".
//
//	f/e/<user><post>   a feed entry; value: the author (8 bytes big-endian)
//	f/c/<author>       the celebrity set (empty value)
//
// Ids are big-endian, so a user's feed is one contiguous range in post id
// (time) order, read backwards for newest first. Writes are keyed sets and
// deletes, so every method is idempotent and none needs a lock: Trim and
// RemoveAuthor read then delete, and a concurrent Add of an entry they did
// not see is either newer than what Trim deletes or of another author.
// A fan-out page is one batch, committed with one WAL sync (Config.Sync).
package pebblestore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/social/feed"
)

// Config says how the store writes.
type Config struct {
	// Sync makes every write durable (a WAL fsync) before it returns.
	// DefaultConfig sets it; turn it off only in tests that never crash.
	Sync bool
}

// DefaultConfig is a durable store.
func DefaultConfig() Config { return Config{Sync: true} }

// Store implements feed.Store on a *pebble.DB it does not own (the caller
// opens and closes the database).
type Store struct {
	db *pebble.DB
	wo *pebble.WriteOptions
}

var _ feed.Store = (*Store)(nil)

// New returns the store over db.
func New(db *pebble.DB, cfg Config) *Store {
	wo := pebble.NoSync
	if cfg.Sync {
		wo = pebble.Sync
	}
	return &Store{db: db, wo: wo}
}

const (
	pEntry = "f/e/"
	pCeleb = "f/c/"
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

func author(e feed.Entry) []byte { return binary.BigEndian.AppendUint64(nil, uint64(e.Author)) }

func decodeAuthor(k, v []byte) (int64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("feed entry %x: author of %d bytes", k, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// Add puts entries into user's feed in one batch.
func (s *Store) Add(ctx context.Context, user int64, entries []feed.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	b := s.db.NewBatch()
	defer b.Close()
	for _, e := range entries {
		if err := b.Set(key(pEntry, user, e.Post), author(e), nil); err != nil {
			return err
		}
	}
	return b.Commit(s.wo)
}

// Fanout puts e into every user's feed in one batch (one WAL sync).
func (s *Store) Fanout(ctx context.Context, users []int64, e feed.Entry) error {
	if len(users) == 0 {
		return nil
	}
	b := s.db.NewBatch()
	defer b.Close()
	a := author(e)
	for _, u := range users {
		if err := b.Set(key(pEntry, u, e.Post), a, nil); err != nil {
			return err
		}
	}
	return b.Commit(s.wo)
}

// feedIter iterates user's entries below before (0: all), for Last/Prev.
func (s *Store) feedIter(ctx context.Context, user, before int64) (*pebble.Iterator, error) {
	lower := key(pEntry, user)
	upper := prefixEnd(lower)
	if before > 0 {
		upper = key(pEntry, user, before)
	}
	return s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lower, UpperBound: upper})
}

// Read returns up to limit entries below before, newest first.
func (s *Store) Read(ctx context.Context, user, before int64, limit int) ([]feed.Entry, error) {
	if limit <= 0 {
		return nil, nil
	}
	it, err := s.feedIter(ctx, user, before)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []feed.Entry
	for ok := it.Last(); ok && len(out) < limit; ok = it.Prev() {
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, err
		}
		a, err := decodeAuthor(it.Key(), v)
		if err != nil {
			return nil, err
		}
		out = append(out, feed.Entry{Post: lastID(it.Key()), Author: a})
	}
	return out, it.Error()
}

// Trim deletes every entry of user's feed but the newest keep: it walks the
// newest keep and deletes what lies below, point by point (a trimmed feed
// holds only a few entries past the cap).
func (s *Store) Trim(ctx context.Context, user int64, keep int) error {
	return s.deleteWhere(ctx, user, func(i int, _ []byte, _ []byte) (bool, error) { return i >= keep, nil })
}

// RemoveAuthor deletes author's entries from user's feed, scanning the
// (trimmed, so bounded) feed.
func (s *Store) RemoveAuthor(ctx context.Context, user, author int64) error {
	return s.deleteWhere(ctx, user, func(_ int, k, v []byte) (bool, error) {
		a, err := decodeAuthor(k, v)
		return a == author, err
	})
}

// deleteWhere deletes the entries of user's feed for which del, called with
// each entry's rank (0 the newest), key and value, is true.
func (s *Store) deleteWhere(ctx context.Context, user int64, del func(i int, k, v []byte) (bool, error)) error {
	it, err := s.feedIter(ctx, user, 0)
	if err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	i := 0
	for ok := it.Last(); ok; ok = it.Prev() {
		v, err := it.ValueAndErr()
		if err == nil {
			var d bool
			if d, err = del(i, it.Key(), v); err == nil && d {
				err = b.Delete(it.Key(), nil)
			}
		}
		if err != nil {
			it.Close()
			return err
		}
		i++
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return err
	}
	if b.Empty() {
		return nil
	}
	return b.Commit(s.wo)
}

// MarkCelebrity adds author to the celebrity set.
func (s *Store) MarkCelebrity(ctx context.Context, author int64) error {
	return s.db.Set(key(pCeleb, author), nil, s.wo)
}

// Celebrities lists the celebrity set in increasing id order.
func (s *Store) Celebrities(ctx context.Context) ([]int64, error) {
	lower := []byte(pCeleb)
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []int64
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, lastID(it.Key()))
	}
	return out, it.Error()
}
