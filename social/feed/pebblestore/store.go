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
	"context"
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/social/feed"
	"github.com/mediaedge/mediaedge/social/pebblekv"
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
	db *pebblekv.DB
}

var _ feed.Store = (*Store)(nil)

// New returns the store over db.
func New(db *pebble.DB, cfg Config) *Store {
	return &Store{db: pebblekv.New(db, cfg.Sync)}
}

const (
	pEntry = "f/e/"
	pCeleb = "f/c/"
)

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
		b.SetRaw(pebblekv.Key(pEntry, user, e.Post), author(e))
	}
	return b.Commit()
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
		b.SetRaw(pebblekv.Key(pEntry, u, e.Post), a)
	}
	return b.Commit()
}

// scanFeed calls fn with user's entries below before (0: all), newest
// first.
func (s *Store) scanFeed(ctx context.Context, user, before int64, fn pebblekv.ScanFunc) error {
	lower := pebblekv.Key(pEntry, user)
	upper := pebblekv.PrefixEnd(lower)
	if before > 0 {
		upper = pebblekv.Key(pEntry, user, before)
	}
	return s.db.ScanReverse(ctx, lower, upper, fn)
}

// Read returns up to limit entries below before, newest first.
func (s *Store) Read(ctx context.Context, user, before int64, limit int) ([]feed.Entry, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []feed.Entry
	err := s.scanFeed(ctx, user, before, func(k, v []byte) (bool, error) {
		a, err := decodeAuthor(k, v)
		if err != nil {
			return false, err
		}
		out = append(out, feed.Entry{Post: pebblekv.LastID(k), Author: a})
		return len(out) < limit, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
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
	b := s.db.NewBatch()
	defer b.Close()
	i, deleted := 0, 0
	err := s.scanFeed(ctx, user, 0, func(k, v []byte) (bool, error) {
		d, err := del(i, k, v)
		if err != nil {
			return false, err
		}
		if d {
			b.Delete(k)
			deleted++
		}
		i++
		return true, nil
	})
	if err != nil {
		return err
	}
	if deleted == 0 {
		return nil
	}
	return b.Commit()
}

// MarkCelebrity adds author to the celebrity set.
func (s *Store) MarkCelebrity(ctx context.Context, author int64) error {
	b := s.db.NewBatch()
	b.Mark(pebblekv.Key(pCeleb, author))
	return b.Commit()
}

// Celebrities lists the celebrity set in increasing id order.
func (s *Store) Celebrities(ctx context.Context) ([]int64, error) {
	return s.db.IDs(ctx, []byte(pCeleb))
}
