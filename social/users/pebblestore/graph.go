package pebblestore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mediaedge/mediaedge/social/pebblekv"
	"github.com/mediaedge/mediaedge/social/users"
)

func sessKey(hash []byte) []byte { return append([]byte(pSess), hash...) }

func sessExpKey(at time.Time, hash []byte) []byte {
	k := pebblekv.Key(pSessExp, at.UnixMilli())
	return append(k, hash...)
}

// sessUserKey is the session's entry in its user's index.
func sessUserKey(user int64, hash []byte) []byte {
	return append(pebblekv.Key(pSessUser, user), hash...)
}

// CreateSession stores a session, its place in the expiry index and its
// entry in the user's index, in one batch.
func (s *Store) CreateSession(ctx context.Context, sess users.Session) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b := s.db.NewBatch()
	b.Set(sessKey(sess.TokenHash), sessionRow{UserID: sess.UserID, CreatedAt: sess.CreatedAt, ExpiresAt: sess.ExpiresAt})
	b.Set(sessExpKey(sess.ExpiresAt, sess.TokenHash), struct{}{})
	b.Mark(sessUserKey(sess.UserID, sess.TokenHash))
	if err := b.Commit(); err != nil {
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
	found, err := s.db.Get(sessKey(hash), &r)
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
	found, err := s.db.Get(sessKey(hash), &r)
	if err != nil || !found {
		return err
	}
	b := s.db.NewBatch()
	deleteSession(b, hash, r)
	if err := b.Commit(); err != nil {
		return fmt.Errorf("delete session of user %d: %w", r.UserID, err)
	}
	return nil
}

// deleteSession adds to b the deletes of a session's three keys.
func deleteSession(b *pebblekv.Batch, hash []byte, r sessionRow) {
	b.Delete(sessKey(hash))
	b.Delete(sessExpKey(r.ExpiresAt, hash))
	b.Delete(sessUserKey(r.UserID, hash))
}

// DeleteUserSessions revokes the sessions in user's index but except, in
// one batch: the user's sessions are few (the logins of 30 days).
func (s *Store) DeleteUserSessions(ctx context.Context, user int64, except []byte) (int, error) {
	prefix := pebblekv.Key(pSessUser, user)
	var hashes [][]byte
	err := s.db.Scan(ctx, prefix, pebblekv.PrefixEnd(prefix), func(k, _ []byte) (bool, error) {
		if h := k[len(prefix):]; !bytes.Equal(h, except) {
			hashes = append(hashes, bytes.Clone(h))
		}
		return true, nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete sessions of user %d: list: %w", user, err)
	}
	b := s.db.NewBatch()
	defer b.Close()
	for _, h := range hashes {
		r := sessionRow{UserID: user}
		if _, err := s.db.Get(sessKey(h), &r); err != nil {
			return 0, fmt.Errorf("delete sessions of user %d: %w", user, err)
		}
		// A missing row (swept meanwhile) leaves r.ExpiresAt zero: that
		// delete of a key that does not exist is harmless.
		r.UserID = user
		deleteSession(b, h, r)
	}
	if len(hashes) == 0 {
		return 0, nil
	}
	if err := b.Commit(); err != nil {
		return 0, fmt.Errorf("delete sessions of user %d: %w", user, err)
	}
	return len(hashes), nil
}

// ListUserSessions reads the sessions in user's index.
func (s *Store) ListUserSessions(ctx context.Context, user int64) ([]users.Session, error) {
	prefix := pebblekv.Key(pSessUser, user)
	var out []users.Session
	err := s.db.Scan(ctx, prefix, pebblekv.PrefixEnd(prefix), func(k, _ []byte) (bool, error) {
		h := bytes.Clone(k[len(prefix):])
		var r sessionRow
		found, err := s.db.Get(sessKey(h), &r)
		if err != nil || !found {
			return true, err // an entry whose row was just deleted is no session
		}
		out = append(out, users.Session{TokenHash: h, UserID: r.UserID, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt})
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %d: %w", user, err)
	}
	return out, nil
}

// SweepSessions deletes the sessions expired at now, walking the expiry
// index up to now only, in batches of 1000; it returns how many it deleted
// in the batches it committed.
func (s *Store) SweepSessions(ctx context.Context, now time.Time) (int, error) {
	n, swept := 0, 0
	b := s.db.NewBatch()
	defer func() { b.Close() }() // b is replaced after each commit
	err := s.db.Scan(ctx, []byte(pSessExp), pebblekv.Key(pSessExp, now.UnixMilli()+1), func(k, _ []byte) (bool, error) {
		hash := k[len(pSessExp)+8:]
		var r sessionRow
		found, err := s.db.Get(sessKey(hash), &r)
		if err != nil {
			return false, err
		}
		b.Delete(k)
		b.Delete(sessKey(hash))
		if found {
			b.Delete(sessUserKey(r.UserID, hash))
		}
		n++
		if n%1000 == 0 {
			if err := b.Commit(); err != nil {
				return false, err
			}
			swept = n
			b = s.db.NewBatch()
		}
		return true, nil
	})
	if err == nil {
		err = b.Commit()
	}
	if err != nil {
		return swept, fmt.Errorf("sweep sessions: %w", err)
	}
	return n, nil
}

// pair locks the graph state of two users, whichever acts on whom.
func (s *Store) pair(a, b int64) func() { return s.stripes.Lock(min(a, b), max(a, b)) }

func (s *Store) exists(k []byte) (bool, error) { return s.db.Get(k, nil) }

// Follow makes op.Actor follow op.Target.
func (s *Store) Follow(ctx context.Context, op users.GraphOp) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	defer s.pair(op.Actor, op.Target)()
	if blocked, err := s.blocked(op.Actor, op.Target); err != nil || blocked {
		if err == nil {
			err = users.ErrBlocked
		}
		return false, fmt.Errorf("follow %d by %d: %w", op.Target, op.Actor, err)
	}
	if ok, err := s.exists(pebblekv.Key(pFollowing, op.Actor, op.Target)); err != nil || ok {
		return false, err
	}
	if op.MaxFollowing > 0 {
		n, err := s.count(ctx, pFollowing, op.Actor)
		if err != nil {
			return false, fmt.Errorf("follow %d by %d: %w", op.Target, op.Actor, err)
		}
		if n >= int64(op.MaxFollowing) {
			return false, fmt.Errorf("follow %d by %d: %w", op.Target, op.Actor, users.ErrFollowLimit)
		}
	}
	b := s.db.NewBatch()
	b.Set(pebblekv.Key(pFollowing, op.Actor, op.Target), edgeRow{Since: op.At})
	b.Set(pebblekv.Key(pFollowers, op.Target, op.Actor), edgeRow{Since: op.At})
	b.Event(op.Event)
	if err := b.Commit(); err != nil {
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
	if ok, err := s.exists(pebblekv.Key(pFollowing, op.Actor, op.Target)); err != nil || !ok {
		return false, err
	}
	b := s.db.NewBatch()
	b.Delete(pebblekv.Key(pFollowing, op.Actor, op.Target))
	b.Delete(pebblekv.Key(pFollowers, op.Target, op.Actor))
	b.Event(op.Event)
	if err := b.Commit(); err != nil {
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
	if ok, err := s.exists(pebblekv.Key(pBlocks, op.Actor, op.Target)); err != nil || ok {
		return false, err
	}
	b := s.db.NewBatch()
	b.Set(pebblekv.Key(pBlocks, op.Actor, op.Target), edgeRow{Since: op.At})
	b.Delete(pebblekv.Key(pFollowing, op.Actor, op.Target))
	b.Delete(pebblekv.Key(pFollowers, op.Target, op.Actor))
	b.Delete(pebblekv.Key(pFollowing, op.Target, op.Actor))
	b.Delete(pebblekv.Key(pFollowers, op.Actor, op.Target))
	b.Event(op.Event)
	if err := b.Commit(); err != nil {
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
	if ok, err := s.exists(pebblekv.Key(pBlocks, op.Actor, op.Target)); err != nil || !ok {
		return false, err
	}
	b := s.db.NewBatch()
	b.Delete(pebblekv.Key(pBlocks, op.Actor, op.Target))
	b.Event(op.Event)
	if err := b.Commit(); err != nil {
		return false, fmt.Errorf("unblock %d by %d: %w", op.Target, op.Actor, err)
	}
	return true, nil
}

// Blocked reports whether a blocks b or b blocks a. It takes no pair lock:
// a block and this read racing may see either state, as any reader would
// a moment earlier or later.
func (s *Store) Blocked(ctx context.Context, a, b int64) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	blocked, err := s.blocked(a, b)
	if err != nil {
		return false, fmt.Errorf("blocks between %d and %d: %w", a, b, err)
	}
	return blocked, nil
}

// blocked reads the blocks between a and b, both ways.
func (s *Store) blocked(a, b int64) (bool, error) {
	for _, k := range [][]byte{pebblekv.Key(pBlocks, a, b), pebblekv.Key(pBlocks, b, a)} {
		if ok, err := s.exists(k); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func edgePrefix(dir users.Direction) string {
	if dir == users.Following {
		return pFollowing
	}
	return pFollowers
}

// ListEdges pages through a user's followers or followings by id.
func (s *Store) ListEdges(ctx context.Context, user int64, dir users.Direction, after int64, limit int) ([]users.Edge, error) {
	p := edgePrefix(dir)
	var out []users.Edge
	err := s.db.Scan(ctx, pebblekv.Key(p, user, after+1), pebblekv.Key(p, user+1), func(k, v []byte) (bool, error) {
		if len(out) >= limit {
			return false, nil
		}
		var r edgeRow
		if err := json.Unmarshal(v, &r); err != nil {
			return false, err
		}
		out = append(out, users.Edge{UserID: pebblekv.LastID(k), Since: r.Since})
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s of %d: %w", dir, user, err)
	}
	return out, nil
}

// count counts user's keys under prefix p (up to the next user's: the
// same keys as the prefix's range, every key being p, user, id).
func (s *Store) count(ctx context.Context, p string, user int64) (int64, error) {
	n, err := s.db.Count(ctx, pebblekv.Key(p, user), pebblekv.Key(p, user+1))
	return int64(n), err
}

// CountEdges counts a user's followers and followings.
func (s *Store) CountEdges(ctx context.Context, user int64) (users.Counts, error) {
	var c users.Counts
	var err error
	if c.Followers, err = s.count(ctx, pFollowers, user); err != nil {
		return users.Counts{}, fmt.Errorf("count followers of %d: %w", user, err)
	}
	if c.Following, err = s.count(ctx, pFollowing, user); err != nil {
		return users.Counts{}, fmt.Errorf("count following of %d: %w", user, err)
	}
	return c, nil
}
