package pebblestore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/social/users"
)

func sessKey(hash []byte) []byte { return append([]byte(pSess), hash...) }

func sessExpKey(at time.Time, hash []byte) []byte {
	k := key(pSessExp, at.UnixMilli())
	return append(k, hash...)
}

// CreateSession stores a session and its place in the expiry index.
func (s *Store) CreateSession(ctx context.Context, sess users.Session) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b := s.newBatch()
	b.set(sessKey(sess.TokenHash), sessionRow{UserID: sess.UserID, CreatedAt: sess.CreatedAt, ExpiresAt: sess.ExpiresAt})
	b.set(sessExpKey(sess.ExpiresAt, sess.TokenHash), struct{}{})
	if err := s.commit(b); err != nil {
		return fmt.Errorf("create session of user %d: %w", sess.UserID, err)
	}
	return nil
}

// GetSession reads a session (expired or not: the caller's clock decides).
func (s *Store) GetSession(ctx context.Context, hash []byte) (users.Session, error) {
	if err := ctx.Err(); err != nil {
		return users.Session{}, err
	}
	var r sessionRow
	found, err := s.get(sessKey(hash), &r)
	if err != nil {
		return users.Session{}, fmt.Errorf("get session: %w", err)
	}
	if !found {
		return users.Session{}, fmt.Errorf("get session: %w", users.ErrNotFound)
	}
	return users.Session{TokenHash: bytes.Clone(hash), UserID: r.UserID, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt}, nil
}

// DeleteSession revokes a session.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var r sessionRow
	found, err := s.get(sessKey(hash), &r)
	if err != nil || !found {
		return err
	}
	b := s.newBatch()
	b.del(sessKey(hash))
	b.del(sessExpKey(r.ExpiresAt, hash))
	if err := s.commit(b); err != nil {
		return fmt.Errorf("delete session of user %d: %w", r.UserID, err)
	}
	return nil
}

// SweepSessions deletes the sessions expired at now, walking the expiry
// index up to now only.
func (s *Store) SweepSessions(ctx context.Context, now time.Time) (int, error) {
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{
		LowerBound: []byte(pSessExp),
		UpperBound: key(pSessExp, now.UnixMilli()+1),
	})
	if err != nil {
		return 0, fmt.Errorf("sweep sessions: %w", err)
	}
	defer it.Close()
	n := 0
	b := s.newBatch()
	for it.First(); it.Valid(); it.Next() {
		k := bytes.Clone(it.Key())
		b.del(k)
		b.del(sessKey(k[len(pSessExp)+8:]))
		n++
		if n%1000 == 0 {
			if err := s.commit(b); err != nil {
				return n - 1000, fmt.Errorf("sweep sessions: %w", err)
			}
			b = s.newBatch()
		}
	}
	if err := it.Error(); err != nil {
		b.b.Close()
		return n - n%1000, fmt.Errorf("sweep sessions: %w", err)
	}
	if err := s.commit(b); err != nil {
		return n - n%1000, fmt.Errorf("sweep sessions: %w", err)
	}
	return n, nil
}

// pair locks the graph state of two users, whichever acts on whom.
func (s *Store) pair(a, b int64) func() {
	mu := s.stripe(min(a, b), max(a, b))
	mu.Lock()
	return mu.Unlock
}

func (s *Store) exists(k []byte) (bool, error) { return s.get(k, nil) }

// Follow makes op.Actor follow op.Target.
func (s *Store) Follow(ctx context.Context, op users.GraphOp) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	defer s.pair(op.Actor, op.Target)()
	for _, k := range [][]byte{key(pBlocks, op.Target, op.Actor), key(pBlocks, op.Actor, op.Target)} {
		if blocked, err := s.exists(k); err != nil || blocked {
			if err == nil {
				err = users.ErrBlocked
			}
			return false, fmt.Errorf("follow %d by %d: %w", op.Target, op.Actor, err)
		}
	}
	if ok, err := s.exists(key(pFollowing, op.Actor, op.Target)); err != nil || ok {
		return false, err
	}
	if op.MaxFollowing > 0 {
		n, err := s.count(ctx, key(pFollowing, op.Actor))
		if err != nil {
			return false, fmt.Errorf("follow %d by %d: %w", op.Target, op.Actor, err)
		}
		if n >= int64(op.MaxFollowing) {
			return false, fmt.Errorf("follow %d by %d: %w", op.Target, op.Actor, users.ErrFollowLimit)
		}
	}
	b := s.newBatch()
	b.set(key(pFollowing, op.Actor, op.Target), edgeRow{Since: op.At})
	b.set(key(pFollowers, op.Target, op.Actor), edgeRow{Since: op.At})
	b.event(op.Event)
	if err := s.commit(b); err != nil {
		return false, fmt.Errorf("follow %d by %d: %w", op.Target, op.Actor, err)
	}
	return true, nil
}

// Unfollow ends op.Actor's follow of op.Target.
func (s *Store) Unfollow(ctx context.Context, op users.GraphOp) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	defer s.pair(op.Actor, op.Target)()
	if ok, err := s.exists(key(pFollowing, op.Actor, op.Target)); err != nil || !ok {
		return false, err
	}
	b := s.newBatch()
	b.del(key(pFollowing, op.Actor, op.Target))
	b.del(key(pFollowers, op.Target, op.Actor))
	b.event(op.Event)
	if err := s.commit(b); err != nil {
		return false, fmt.Errorf("unfollow %d by %d: %w", op.Target, op.Actor, err)
	}
	return true, nil
}

// Block records op.Actor's block of op.Target and removes their follows.
func (s *Store) Block(ctx context.Context, op users.GraphOp) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	defer s.pair(op.Actor, op.Target)()
	if ok, err := s.exists(key(pBlocks, op.Actor, op.Target)); err != nil || ok {
		return false, err
	}
	b := s.newBatch()
	b.set(key(pBlocks, op.Actor, op.Target), edgeRow{Since: op.At})
	b.del(key(pFollowing, op.Actor, op.Target))
	b.del(key(pFollowers, op.Target, op.Actor))
	b.del(key(pFollowing, op.Target, op.Actor))
	b.del(key(pFollowers, op.Actor, op.Target))
	b.event(op.Event)
	if err := s.commit(b); err != nil {
		return false, fmt.Errorf("block %d by %d: %w", op.Target, op.Actor, err)
	}
	return true, nil
}

// Unblock removes op.Actor's block of op.Target.
func (s *Store) Unblock(ctx context.Context, op users.GraphOp) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	defer s.pair(op.Actor, op.Target)()
	if ok, err := s.exists(key(pBlocks, op.Actor, op.Target)); err != nil || !ok {
		return false, err
	}
	b := s.newBatch()
	b.del(key(pBlocks, op.Actor, op.Target))
	b.event(op.Event)
	if err := s.commit(b); err != nil {
		return false, fmt.Errorf("unblock %d by %d: %w", op.Target, op.Actor, err)
	}
	return true, nil
}

func edgePrefix(dir users.Direction) string {
	if dir == users.Following {
		return pFollowing
	}
	return pFollowers
}

// ListEdges pages through a user's followers or followings by id.
func (s *Store) ListEdges(ctx context.Context, user int64, dir users.Direction, after int64, limit int) ([]users.Edge, error) {
	prefix := key(edgePrefix(dir), user)
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{
		LowerBound: key(edgePrefix(dir), user, after+1),
		UpperBound: key(edgePrefix(dir), user+1),
	})
	if err != nil {
		return nil, fmt.Errorf("list %s of %d: %w", dir, user, err)
	}
	defer it.Close()
	var out []users.Edge
	for it.First(); it.Valid() && len(out) < limit; it.Next() {
		var r edgeRow
		v, err := it.ValueAndErr()
		if err == nil {
			err = json.Unmarshal(v, &r)
		}
		if err != nil {
			return nil, fmt.Errorf("list %s of %d: %w", dir, user, err)
		}
		out = append(out, users.Edge{UserID: int64(binary.BigEndian.Uint64(it.Key()[len(prefix):])), Since: r.Since})
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("list %s of %d: %w", dir, user, err)
	}
	return out, nil
}

// count counts the keys under prefix.
func (s *Store) count(ctx context.Context, prefix []byte) (int64, error) {
	upper := bytes.Clone(prefix)
	binary.BigEndian.PutUint64(upper[len(upper)-8:], binary.BigEndian.Uint64(upper[len(upper)-8:])+1)
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	var n int64
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	return n, it.Error()
}

// CountEdges counts a user's followers and followings.
func (s *Store) CountEdges(ctx context.Context, user int64) (users.Counts, error) {
	var c users.Counts
	var err error
	if c.Followers, err = s.count(ctx, key(pFollowers, user)); err != nil {
		return users.Counts{}, fmt.Errorf("count followers of %d: %w", user, err)
	}
	if c.Following, err = s.count(ctx, key(pFollowing, user)); err != nil {
		return users.Counts{}, fmt.Errorf("count following of %d: %w", user, err)
	}
	return c, nil
}
