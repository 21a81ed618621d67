package cassandrastore

import (
	"context"
	"errors"
	"fmt"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

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

// pairLock is a held graph_locks row. done releases it, unless the write
// it guarded has an unknown outcome (then it lapses after LockTTL).
type pairLock struct {
	s          *Store
	lo, hi     int64
	holder     string
	keepLocked bool
}

// lock takes the lock of the pair {a, b}, waiting up to LockWait.
func (s *Store) lock(ctx context.Context, a, b int64) (*pairLock, error) {
	l := &pairLock{s: s, lo: min(a, b), hi: max(a, b), holder: randomHolder()}
	ttl := int(s.cfg.LockTTL / time.Second)
	deadline := time.Now().Add(s.cfg.LockWait)
	backoff := 10 * time.Millisecond
	for {
		applied, err := s.s.Query(qLock, l.lo, l.hi, l.holder, ttl).MapScanCASContext(ctx, map[string]any{})
		if err != nil {
			return nil, fmt.Errorf("lock users %d and %d: %w", l.lo, l.hi, err)
		}
		if applied {
			return l, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("lock users %d and %d: held by another request: %w", l.lo, l.hi, users.ErrBusy)
		}
		if err := sleep(ctx, min(jitter(backoff), left)); err != nil {
			return nil, err
		}
		backoff = min(2*backoff, 250*time.Millisecond)
	}
}

// done releases the lock (best effort: a lock not released lapses).
func (l *pairLock) done(ctx context.Context) {
	if l.keepLocked {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, _ = l.s.s.Query(qUnlock, l.lo, l.hi, l.holder).MapScanCASContext(rctx, map[string]any{})
}

// write runs the pair's LOGGED batch; after an error the lock is kept
// until it lapses, since the batch may still be applied by the batchlog.
func (l *pairLock) write(ctx context.Context, op users.GraphOp, entries ...gocql.BatchEntry) error {
	out, err := outboxEntry(op.Event)
	if err != nil {
		return err
	}
	if err := l.s.logged(ctx, append(entries, out)...); err != nil {
		l.keepLocked = true
		return err
	}
	return nil
}

// exists reads one row of a graph table.
func (s *Store) exists(ctx context.Context, q string, a, b int64) (bool, error) {
	var since time.Time
	err := s.s.Query(q, a, b).Idempotent(true).ScanContext(ctx, &since)
	if errors.Is(err, gocql.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
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
	defer l.done(ctx)
	for _, p := range [][2]int64{{op.Target, op.Actor}, {op.Actor, op.Target}} {
		blocked, err := s.exists(ctx, qGetBlock, p[0], p[1])
		if err != nil {
			return false, err
		}
		if blocked {
			return false, users.ErrBlocked
		}
	}
	if ok, err := s.exists(ctx, qGetFollowing, op.Actor, op.Target); err != nil || ok {
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
	err = l.write(ctx, op,
		entry(qPutFollowing, op.Actor, op.Target, op.At),
		entry(qPutFollower, op.Target, op.Actor, op.At))
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
	defer l.done(ctx)
	if ok, err := s.exists(ctx, qGetFollowing, op.Actor, op.Target); err != nil || !ok {
		return false, err
	}
	err = l.write(ctx, op,
		entry(qDelFollowing, op.Actor, op.Target),
		entry(qDelFollower, op.Target, op.Actor))
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
	defer l.done(ctx)
	if ok, err := s.exists(ctx, qGetBlock, op.Actor, op.Target); err != nil || ok {
		return false, err
	}
	entries := []gocql.BatchEntry{entry(qPutBlock, op.Actor, op.Target, op.At)}
	// Delete only the follows that exist: a delete of nothing would still
	// leave tombstones in both partitions.
	for _, p := range [][2]int64{{op.Actor, op.Target}, {op.Target, op.Actor}} {
		ok, err := s.exists(ctx, qGetFollowing, p[0], p[1])
		if err != nil {
			return false, err
		}
		if ok {
			entries = append(entries, entry(qDelFollowing, p[0], p[1]), entry(qDelFollower, p[1], p[0]))
		}
	}
	err = l.write(ctx, op, entries...)
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
	defer l.done(ctx)
	if ok, err := s.exists(ctx, qGetBlock, op.Actor, op.Target); err != nil || !ok {
		return false, err
	}
	err = l.write(ctx, op, entry(qDelBlock, op.Actor, op.Target))
	return err == nil, err
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
