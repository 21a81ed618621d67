package cassandrastore

import (
	"context"
	"errors"
	"fmt"

	"github.com/mediaedge/mediaedge/social/cqlrows"
	"github.com/mediaedge/mediaedge/social/users"
)

const (
	qLock   = `INSERT INTO graph_locks (lo, hi, holder) VALUES (?, ?, ?) IF NOT EXISTS USING TTL ?`
	qUnlock = `DELETE FROM graph_locks WHERE lo = ? AND hi = ? IF holder = ?`

	qGetFollowing = `SELECT since FROM following WHERE user_id = ? AND followee_id = ?`
	qPutFollowing = `INSERT INTO following (user_id, followee_id, since) VALUES (?, ?, ?)`
	qDelFollowing = `DELETE FROM following WHERE user_id = ? AND followee_id = ?`
	qPutFollower  = `INSERT INTO followers (user_id, follower_id, since) VALUES (?, ?, ?)`
	qDelFollower  = `DELETE FROM followers WHERE user_id = ? AND follower_id = ?`
	qGetBlock     = `SELECT since FROM blocks WHERE user_id = ? AND blocked_id = ?`
	qPutBlock     = `INSERT INTO blocks (user_id, blocked_id, since) VALUES (?, ?, ?)`
	qDelBlock     = `DELETE FROM blocks WHERE user_id = ? AND blocked_id = ?`

	qListFollowers  = `SELECT follower_id, since FROM followers WHERE user_id = ? AND follower_id > ? LIMIT ?`
	qListFollowing  = `SELECT followee_id, since FROM following WHERE user_id = ? AND followee_id > ? LIMIT ?`
	qCountFollowers = `SELECT COUNT(*) FROM followers WHERE user_id = ?`
	qCountFollowing = `SELECT COUNT(*) FROM following WHERE user_id = ?`
)

// lock takes the graph_locks row of the pair {a, b}, waiting up to
// LockWait. Release it when done (best effort: a lock not released lapses).
func (s *Store) lock(ctx context.Context, a, b int64) (*cqlrows.Held, error) {
	lo, hi := min(a, b), max(a, b)
	l, err := s.locks.Acquire(ctx, s.s, lo, hi)
	switch {
	case errors.Is(err, cqlrows.ErrLocked):
		return nil, fmt.Errorf("lock users %d and %d: held by another request: %w", lo, hi, users.ErrBusy)
	case err != nil:
		return nil, fmt.Errorf("lock users %d and %d: %w", lo, hi, err)
	}
	return l, nil
}

// write runs the pair's LOGGED batch with op's event under l; after an
// error the lock is kept until it lapses, since the batch may still be
// applied by the batchlog.
func (s *Store) write(ctx context.Context, l *cqlrows.Held, op users.GraphOp, b *cqlrows.Batch) error {
	b.Event(op.Event)
	return l.Exec(ctx, b)
}

// Follow makes op.Actor follow op.Target.
func (s *Store) Follow(ctx context.Context, op users.GraphOp) (bool, error) {
	changed, err := s.follow(ctx, op)
	if err != nil {
		return false, fmt.Errorf("follow %d by %d: %w", op.Target, op.Actor, err)
	}
	return changed, nil
}

func (s *Store) follow(ctx context.Context, op users.GraphOp) (bool, error) {
	l, err := s.lock(ctx, op.Actor, op.Target)
	if err != nil {
		return false, err
	}
	defer l.Release(ctx)
	if blocked, err := s.blocked(ctx, op.Actor, op.Target); err != nil || blocked {
		if err == nil {
			err = users.ErrBlocked
		}
		return false, err
	}
	if ok, err := cqlrows.Exists(ctx, s.s, qGetFollowing, op.Actor, op.Target); err != nil || ok {
		return false, err
	}
	if op.MaxFollowing > 0 {
		var n int64
		if err := s.s.Query(qCountFollowing, op.Actor).Idempotent(true).ScanContext(ctx, &n); err != nil {
			return false, err
		}
		if n >= int64(op.MaxFollowing) {
			return false, users.ErrFollowLimit
		}
	}
	b := cqlrows.NewBatch(s.s)
	b.Add(qPutFollowing, op.Actor, op.Target, op.At)
	b.Add(qPutFollower, op.Target, op.Actor, op.At)
	err = s.write(ctx, l, op, b)
	return err == nil, err
}

// Unfollow ends op.Actor's follow of op.Target.
func (s *Store) Unfollow(ctx context.Context, op users.GraphOp) (bool, error) {
	changed, err := s.unfollow(ctx, op)
	if err != nil {
		return false, fmt.Errorf("unfollow %d by %d: %w", op.Target, op.Actor, err)
	}
	return changed, nil
}

func (s *Store) unfollow(ctx context.Context, op users.GraphOp) (bool, error) {
	l, err := s.lock(ctx, op.Actor, op.Target)
	if err != nil {
		return false, err
	}
	defer l.Release(ctx)
	if ok, err := cqlrows.Exists(ctx, s.s, qGetFollowing, op.Actor, op.Target); err != nil || !ok {
		return false, err
	}
	b := cqlrows.NewBatch(s.s)
	b.Add(qDelFollowing, op.Actor, op.Target)
	b.Add(qDelFollower, op.Target, op.Actor)
	err = s.write(ctx, l, op, b)
	return err == nil, err
}

// Block records op.Actor's block of op.Target and removes the follows
// between them, both ways, in the same batch.
func (s *Store) Block(ctx context.Context, op users.GraphOp) (bool, error) {
	changed, err := s.block(ctx, op)
	if err != nil {
		return false, fmt.Errorf("block %d by %d: %w", op.Target, op.Actor, err)
	}
	return changed, nil
}

func (s *Store) block(ctx context.Context, op users.GraphOp) (bool, error) {
	l, err := s.lock(ctx, op.Actor, op.Target)
	if err != nil {
		return false, err
	}
	defer l.Release(ctx)
	if ok, err := cqlrows.Exists(ctx, s.s, qGetBlock, op.Actor, op.Target); err != nil || ok {
		return false, err
	}
	b := cqlrows.NewBatch(s.s)
	b.Add(qPutBlock, op.Actor, op.Target, op.At)
	// Delete only the follows that exist: a delete of nothing would still
	// leave tombstones in both partitions.
	for _, p := range [][2]int64{{op.Actor, op.Target}, {op.Target, op.Actor}} {
		ok, err := cqlrows.Exists(ctx, s.s, qGetFollowing, p[0], p[1])
		if err != nil {
			return false, err
		}
		if ok {
			b.Add(qDelFollowing, p[0], p[1])
			b.Add(qDelFollower, p[1], p[0])
		}
	}
	err = s.write(ctx, l, op, b)
	return err == nil, err
}

// Unblock removes op.Actor's block of op.Target.
func (s *Store) Unblock(ctx context.Context, op users.GraphOp) (bool, error) {
	changed, err := s.unblock(ctx, op)
	if err != nil {
		return false, fmt.Errorf("unblock %d by %d: %w", op.Target, op.Actor, err)
	}
	return changed, nil
}

func (s *Store) unblock(ctx context.Context, op users.GraphOp) (bool, error) {
	l, err := s.lock(ctx, op.Actor, op.Target)
	if err != nil {
		return false, err
	}
	defer l.Release(ctx)
	if ok, err := cqlrows.Exists(ctx, s.s, qGetBlock, op.Actor, op.Target); err != nil || !ok {
		return false, err
	}
	b := cqlrows.NewBatch(s.s)
	b.Add(qDelBlock, op.Actor, op.Target)
	err = s.write(ctx, l, op, b)
	return err == nil, err
}

// Blocked reports whether a blocks b or b blocks a. It takes no pair lock:
// a block and this read racing may see either state, as any reader would
// a moment earlier or later.
func (s *Store) Blocked(ctx context.Context, a, b int64) (bool, error) {
	blocked, err := s.blocked(ctx, a, b)
	if err != nil {
		return false, fmt.Errorf("blocks between %d and %d: %w", a, b, err)
	}
	return blocked, nil
}

// blocked reads the blocks rows between a and b, both ways (one row of
// each one's partition).
func (s *Store) blocked(ctx context.Context, a, b int64) (bool, error) {
	for _, p := range [][2]int64{{a, b}, {b, a}} {
		if ok, err := cqlrows.Exists(ctx, s.s, qGetBlock, p[0], p[1]); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// ListEdges pages through a user's partition of followers or following.
func (s *Store) ListEdges(ctx context.Context, user int64, dir users.Direction, after int64, limit int) ([]users.Edge, error) {
	q := qListFollowers
	if dir == users.Following {
		q = qListFollowing
	}
	sc := s.s.Query(q, user, after, limit).Idempotent(true).IterContext(ctx).Scanner()
	var out []users.Edge
	for sc.Next() {
		var e users.Edge
		if err := sc.Scan(&e.UserID, &e.Since); err != nil {
			_ = sc.Err()
			return nil, fmt.Errorf("list %s of %d: %w", dir, user, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("list %s of %d: %w", dir, user, err)
	}
	return out, nil
}

// CountEdges counts a user's two partitions.
func (s *Store) CountEdges(ctx context.Context, user int64) (users.Counts, error) {
	var c users.Counts
	if err := s.s.Query(qCountFollowers, user).Idempotent(true).ScanContext(ctx, &c.Followers); err != nil {
		return users.Counts{}, fmt.Errorf("count followers of %d: %w", user, err)
	}
	if err := s.s.Query(qCountFollowing, user).Idempotent(true).ScanContext(ctx, &c.Following); err != nil {
		return users.Counts{}, fmt.Errorf("count following of %d: %w", user, err)
	}
	return c, nil
}
