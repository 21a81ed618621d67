package pebblestore

import (
	"context"
	"fmt"
	"time"

	"github.com/mediaedge/mediaedge/social/pebblekv"
)

// sweepChunk is how many expiry index entries one pass of Sweep reads
// before deleting them (the iterator is closed while it writes).
const sweepChunk = 512

// Sweep deletes every story that expired at or before now, with its list
// and index entries, idempotency key, views, seen marks, likes and liked
// marks: one batch per story, under the owner's and the story's mutexes
// (so no view or like lands on a story being deleted). Then it deletes the
// likers whose lifetime is over. It returns how many stories it deleted.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	n := 0
	for {
		type due struct{ exp, id int64 }
		var batch []due
		upper := pebblekv.Key(pExp, msOf(now)+1)
		err := s.db.Scan(ctx, []byte(pExp), upper, func(k, _ []byte) (bool, error) {
			batch = append(batch, due{exp: idAt(k, len(pExp)), id: pebblekv.LastID(k)})
			return len(batch) < sweepChunk, nil
		})
		if err != nil {
			return n, fmt.Errorf("sweep stories: %w", err)
		}
		for _, d := range batch {
			if err := s.sweepStory(ctx, d.exp, d.id); err != nil {
				return n, err
			}
			n++
		}
		if len(batch) < sweepChunk {
			break
		}
	}
	if err := s.sweepLikers(ctx, now); err != nil {
		return n, err
	}
	return n, nil
}

// sweepStory deletes one expired story and everything under it.
func (s *Store) sweepStory(ctx context.Context, exp, id int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, found, err := s.story(id)
	if err != nil {
		return fmt.Errorf("sweep story %d: %w", id, err)
	}
	b := s.db.NewBatch()
	defer b.Close()
	b.Delete(pebblekv.Key(pExp, exp, id))
	if !found { // a leftover index entry
		if err := b.Commit(); err != nil {
			return fmt.Errorf("sweep story %d: %w", id, err)
		}
		return nil
	}
	defer s.owners.Lock(r.Owner)()
	defer s.stories.Lock(id)()
	b.Delete(pebblekv.Key(pStory, id))
	b.Delete(pebblekv.Key(pOwn, r.Owner, id))
	if r.Key != "" {
		ik := idemKey(r.Owner, r.Key)
		var holder int64
		if ok, err := s.db.Get(ik, &holder); err != nil {
			return fmt.Errorf("sweep story %d: read key: %w", id, err)
		} else if ok && holder == id {
			b.Delete(ik)
		}
	}
	for _, pair := range []struct {
		prefix, mirror string
	}{{pView, pSeen}, {pLike, pLiked}} {
		prefix := pebblekv.Key(pair.prefix, id)
		err := s.db.Scan(ctx, prefix, pebblekv.PrefixEnd(prefix), func(k, _ []byte) (bool, error) {
			user := pebblekv.LastID(k)
			b.Delete(k)
			b.Delete(pebblekv.Key(pair.mirror, user, id))
			return true, nil
		})
		if err != nil {
			return fmt.Errorf("sweep story %d: %w", id, err)
		}
	}
	if err := b.Commit(); err != nil {
		return fmt.Errorf("sweep story %d: %w", id, err)
	}
	return nil
}

// sweepLikers deletes the likers whose lifetime ended at or before now.
func (s *Store) sweepLikers(ctx context.Context, now time.Time) error {
	for {
		type due struct{ exp, owner, user int64 }
		var list []due
		off := len(pLexp)
		err := s.db.Scan(ctx, []byte(pLexp), pebblekv.Key(pLexp, msOf(now)+1), func(k, _ []byte) (bool, error) {
			list = append(list, due{exp: idAt(k, off), owner: idAt(k, off+8), user: idAt(k, off+16)})
			return len(list) < sweepChunk, nil
		})
		if err != nil {
			return fmt.Errorf("sweep likers: %w", err)
		}
		for _, d := range list {
			if err := s.sweepLiker(d.exp, d.owner, d.user, now); err != nil {
				return err
			}
		}
		if len(list) < sweepChunk {
			return nil
		}
	}
}

func (s *Store) sweepLiker(exp, owner, user int64, now time.Time) error {
	defer s.owners.Lock(owner)()
	b := s.db.NewBatch()
	defer b.Close()
	b.Delete(pebblekv.Key(pLexp, exp, owner, user))
	lk := pebblekv.Key(pLikers, owner, user)
	var r likersRow
	found, err := s.db.Get(lk, &r)
	if err != nil {
		return fmt.Errorf("sweep liker %d of %d: %w", user, owner, err)
	}
	if found && !now.Before(r.Until) { // not renewed by a later like
		b.Delete(lk)
	}
	if err := b.Commit(); err != nil {
		return fmt.Errorf("sweep liker %d of %d: %w", user, owner, err)
	}
	return nil
}
