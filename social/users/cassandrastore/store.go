// Package cassandrastore is the users.Store on Apache Cassandra (through
// github.com/apache/cassandra-gocql-driver/v2), over the tables of
// schema/cql/0003_social_users.cql and 0011_user_sessions_by_user.cql (the
// sessions of each user, written and deleted in a LOGGED batch with their
// user_sessions rows).
//
// Writes and their events: every write is one LOGGED batch holding the
// data rows and the outbox row of its event (events.OutboxShard, id,
// events.Encode): Cassandra applies all of it or none, even if the
// coordinator dies midway (the batchlog replays it).
//
// Uniqueness and idempotency need a compare-and-set, and a LOGGED batch
// cannot hold one across partitions, so each is a lightweight transaction
// on a row of its own that is never written plainly:
//
//   - A username is claimed first (INSERT INTO usernames ... IF NOT
//     EXISTS), then the users row and the user.created event are written.
//     A batch refused outright (Unavailable: not applied) releases the
//     claim (DELETE ... IF user_id = ours). A batch whose outcome is
//     unknown (a timeout) keeps it: the batchlog may still apply it. A
//     claim whose users row has not appeared ClaimGrace after it was made
//     is stale (its request died) and the next sign-up takes it over with
//     UPDATE ... IF user_id = the stale one, so a crash never burns a name.
//   - Graph writes of a pair of users take the pair's lock in graph_locks
//     (INSERT ... IF NOT EXISTS USING TTL), read the pair's state, write
//     their batch and release the lock (DELETE ... IF holder = ours). So a
//     follow that exists emits nothing even when two requests race on two
//     edges, and a follow never slips in beside a block. After a batch
//     whose outcome is unknown the lock is not released but left to lapse
//     (LockTTL), by when the batchlog has applied or dropped the batch.
//
// Two graph writes of one pair on two edges are ordered by the client
// timestamps of their batches, like every plain Cassandra write: the lock
// hand-off (a few milliseconds) must exceed the clock skew between edges,
// which NTP keeps well under that.
//
// Counts are COUNT(*) over the user's partition: exact, and never a
// counter (counters double-count on retry). Their cost grows with the
// partition; see the CQL file for the bound this accepts.
package cassandrastore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"golang.org/x/sync/errgroup"

	"github.com/mediaedge/mediaedge/social/cqlrows"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/users"
)

// Config tunes the store's compare-and-set protocols.
type Config struct {
	// ClaimGrace is how long a username claim whose users row is missing
	// counts as a create in flight; after it, the claim is stale and a new
	// sign-up may take the name over. It must exceed the longest a create
	// can take, batchlog replay included (tens of seconds).
	ClaimGrace time.Duration
	// LockTTL is how long a graph pair's lock lives when its holder dies or
	// leaves it after a batch of unknown outcome.
	LockTTL time.Duration
	// LockWait is how long a graph write waits for its pair's lock before
	// it gives up with users.ErrBusy.
	LockWait time.Duration
	// ReplayWait is how long a retried sign-up (same Idempotency-Key)
	// waits for the first attempt's users row before users.ErrBusy.
	ReplayWait time.Duration
}

// DefaultConfig is what production uses.
func DefaultConfig() Config {
	return Config{ClaimGrace: time.Minute, LockTTL: 30 * time.Second, LockWait: 3 * time.Second, ReplayWait: 2 * time.Second}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.ClaimGrace < 10*time.Second {
		errs = append(errs, fmt.Errorf("cassandrastore: claim grace %v: want 10s or more (a batchlog replay must fit in it)", c.ClaimGrace))
	}
	if c.LockTTL < time.Second {
		errs = append(errs, fmt.Errorf("cassandrastore: lock ttl %v: want 1s or more", c.LockTTL))
	}
	if c.LockWait <= 0 || c.ReplayWait <= 0 {
		errs = append(errs, errors.New("cassandrastore: lock wait and replay wait must be positive"))
	}
	return errors.Join(errs...)
}

// Store implements users.Store. Its queries run at the session's
// consistency (LOCAL_QUORUM by default: a logout written and a session read
// at it always meet) and its lightweight transactions at the session's
// serial consistency.
type Store struct {
	s     *gocql.Session
	cfg   Config
	locks cqlrows.Locks // graph_locks, one row a pair of users
}

var _ users.Store = (*Store)(nil)

// New returns the store over s, a session bound to the keyspace holding the
// schema (see package schema). The caller owns and closes the session.
func New(s *gocql.Session, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	locks := cqlrows.Locks{Take: qLock, Release: qUnlock, TTL: cfg.LockTTL, Wait: cfg.LockWait,
		Backoff: 10 * time.Millisecond, MaxBackoff: 250 * time.Millisecond}
	return &Store{s: s, cfg: cfg, locks: locks}, nil
}

// Query strings are constants (or built from a fixed set) so that the
// driver's prepared-statement cache hits.
const (
	userCols  = `id, username, password_hash, display_name, bio, avatar, created_at, updated_at`
	qPutUser  = `INSERT INTO users (` + userCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	qGetUser  = `SELECT ` + userCols + ` FROM users WHERE id = ?`
	qClaim    = `INSERT INTO usernames (username, user_id, idem, claimed_at) VALUES (?, ?, ?, ?) IF NOT EXISTS`
	qTakeover = `UPDATE usernames SET user_id = ?, idem = ?, claimed_at = ? WHERE username = ? IF user_id = ?`
	qRelease  = `DELETE FROM usernames WHERE username = ? IF user_id = ?`
	qGetClaim = `SELECT user_id FROM usernames WHERE username = ?`

	qSetPassword = `UPDATE users SET password_hash = ? WHERE id = ?`

	qPutSession     = `INSERT INTO user_sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?) USING TTL ?`
	qGetSession     = `SELECT user_id, created_at, expires_at FROM user_sessions WHERE token_hash = ?`
	qDelSession     = `DELETE FROM user_sessions WHERE token_hash = ?`
	qPutUserSession = `INSERT INTO user_sessions_by_user (user_id, token_hash, expires_at) VALUES (?, ?, ?) USING TTL ?`
	qUserSessions   = `SELECT token_hash FROM user_sessions_by_user WHERE user_id = ?`
	qDelUserSession = `DELETE FROM user_sessions_by_user WHERE user_id = ? AND token_hash = ?`
)

// revokeBatch is how many sessions one LOGGED batch of DeleteUserSessions
// deletes (two statements each), well under the batch size warning.
const revokeBatch = 50

// The batches here (cqlrows.Batch.Add) insert or delete fixed values, so
// the driver may retry them: applying one twice is applying it once. The
// lightweight transactions run at the session's serial consistency and
// are never retried by the driver.

// CreateUser claims the username (a lightweight transaction), then writes
// the users row and ev in one LOGGED batch. See the package doc for the
// claim's life when the batch fails.
func (s *Store) CreateUser(ctx context.Context, u users.User, idem string, ev events.Event) (users.User, bool, error) {
	prev := map[string]any{}
	applied, err := cqlrows.CAS(ctx, s.s, 0, prev, false, qClaim, u.Username, u.ID, idem, time.Now())
	if err != nil {
		return users.User{}, false, fmt.Errorf("create user %s: claim: %w", u.Username, err)
	}
	if !applied {
		holder, _ := prev["user_id"].(int64)
		prevIdem, _ := prev["idem"].(string)
		at, _ := prev["claimed_at"].(time.Time)
		existing, err := s.GetUser(ctx, holder)
		switch {
		case err == nil:
			if idem != "" && prevIdem == idem {
				return existing, false, nil
			}
			return users.User{}, false, fmt.Errorf("create user %s: %w", u.Username, users.ErrUsernameTaken)
		case !errors.Is(err, users.ErrNotFound):
			return users.User{}, false, fmt.Errorf("create user %s: %w", u.Username, err)
		case time.Since(at) < s.cfg.ClaimGrace:
			if idem != "" && prevIdem == idem {
				return s.awaitReplay(ctx, u.Username, holder)
			}
			return users.User{}, false, fmt.Errorf("create user %s: %w", u.Username, users.ErrUsernameTaken)
		}
		// A stale claim: its create died before its users row was written.
		applied, err = cqlrows.CAS(ctx, s.s, 0, nil, false, qTakeover, u.ID, idem, time.Now(), u.Username, holder)
		if err != nil {
			return users.User{}, false, fmt.Errorf("create user %s: take over stale claim: %w", u.Username, err)
		}
		if !applied {
			return users.User{}, false, fmt.Errorf("create user %s: %w", u.Username, users.ErrUsernameTaken)
		}
	}
	b := cqlrows.NewBatch(s.s)
	b.Add(qPutUser, u.ID, u.Username, u.PasswordHash, u.DisplayName, u.Bio, u.Avatar, u.CreatedAt, u.UpdatedAt)
	b.Event(ev)
	if err := b.Exec(ctx); err != nil {
		var unavailable *gocql.RequestErrUnavailable
		if errors.As(err, &unavailable) {
			// Refused before anything was written: give the name back.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			_, _ = cqlrows.CAS(rctx, s.s, 0, nil, false, qRelease, u.Username, u.ID)
			cancel()
		}
		return users.User{}, false, fmt.Errorf("create user %s: write: %w", u.Username, err)
	}
	return u, true, nil
}

// awaitReplay waits for the users row of a create in flight with the same
// Idempotency-Key, and returns it as the replay's answer.
func (s *Store) awaitReplay(ctx context.Context, username string, id int64) (users.User, bool, error) {
	deadline := time.Now().Add(s.cfg.ReplayWait)
	for time.Now().Before(deadline) {
		if err := cqlrows.Sleep(ctx, 100*time.Millisecond); err != nil {
			return users.User{}, false, err
		}
		u, err := s.GetUser(ctx, id)
		if err == nil {
			return u, false, nil
		}
		if !errors.Is(err, users.ErrNotFound) {
			return users.User{}, false, err
		}
	}
	return users.User{}, false, fmt.Errorf("create user %s: the first attempt is still in flight: %w", username, users.ErrBusy)
}

// GetUser reads a users row.
func (s *Store) GetUser(ctx context.Context, id int64) (users.User, error) {
	var u users.User
	found, err := cqlrows.Read(ctx, s.s, qGetUser, []any{id}, &u.ID, &u.Username, &u.PasswordHash,
		&u.DisplayName, &u.Bio, &u.Avatar, &u.CreatedAt, &u.UpdatedAt)
	if err == nil && !found {
		err = users.ErrNotFound
	}
	if err != nil {
		return users.User{}, fmt.Errorf("get user %d: %w", id, err)
	}
	return u, nil
}

// GetUserByName reads the claim of a username, then its user.
func (s *Store) GetUserByName(ctx context.Context, username string) (users.User, error) {
	var id int64
	found, err := cqlrows.Read(ctx, s.s, qGetClaim, []any{username}, &id)
	if err == nil && !found {
		err = users.ErrNotFound
	}
	if err != nil {
		return users.User{}, fmt.Errorf("get user %s: %w", username, err)
	}
	return s.GetUser(ctx, id)
}

// getUsersConcurrency is how many point reads GetUsers keeps in flight:
// token-aware single-partition reads in parallel beat one IN query, whose
// coordinator would gather every partition itself.
const getUsersConcurrency = 8

// GetUsers reads users in the order of ids, skipping missing ones.
func (s *Store) GetUsers(ctx context.Context, ids []int64) ([]users.User, error) {
	got := make([]users.User, len(ids))
	found := make([]bool, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(getUsersConcurrency)
	for i, id := range ids {
		g.Go(func() error {
			u, err := s.GetUser(gctx, id)
			if errors.Is(err, users.ErrNotFound) {
				return nil
			}
			got[i], found[i] = u, err == nil
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := got[:0]
	for i, u := range got {
		if found[i] {
			out = append(out, u)
		}
	}
	return out, nil
}

// UpdateProfile writes the patched columns only (a concurrent patch of
// other fields keeps its values) with ev, in one LOGGED batch.
func (s *Store) UpdateProfile(ctx context.Context, id int64, p users.ProfilePatch, at time.Time, ev events.Event) (users.User, error) {
	u, err := s.GetUser(ctx, id)
	if err != nil {
		return users.User{}, err
	}
	var set []string
	var args []any
	for _, c := range []struct {
		col string
		v   *string
	}{{"display_name", p.DisplayName}, {"bio", p.Bio}, {"avatar", p.Avatar}} {
		if c.v != nil {
			set = append(set, c.col+" = ?")
			args = append(args, *c.v)
		}
	}
	set = append(set, "updated_at = ?")
	args = append(args, at, id)
	b := cqlrows.NewBatch(s.s)
	b.AddNonIdempotent(`UPDATE users SET `+strings.Join(set, ", ")+` WHERE id = ?`, args...)
	b.Event(ev)
	if err := b.Exec(ctx); err != nil {
		return users.User{}, fmt.Errorf("update profile %d: %w", id, err)
	}
	u = p.Apply(u)
	u.UpdatedAt = at
	return u, nil
}

// SetPassword writes the password hash alone: a plain update of a row
// that exists (users are never deleted; the caller has just read it).
func (s *Store) SetPassword(ctx context.Context, id int64, hash string) error {
	if err := s.s.Query(qSetPassword, hash, id).Idempotent(true).ExecContext(ctx); err != nil {
		return fmt.Errorf("set password of user %d: %w", id, err)
	}
	return nil
}

// CreateSession writes the session and its row in the user's index, with
// a TTL of its lifetime, in one LOGGED batch.
func (s *Store) CreateSession(ctx context.Context, sess users.Session) error {
	ttl := int(sess.ExpiresAt.Sub(sess.CreatedAt) / time.Second)
	if ttl < 1 {
		ttl = 1
	}
	b := cqlrows.NewBatch(s.s)
	b.Add(qPutSession, sess.TokenHash, sess.UserID, sess.CreatedAt, sess.ExpiresAt, ttl)
	b.Add(qPutUserSession, sess.UserID, sess.TokenHash, sess.ExpiresAt, ttl)
	if err := b.Exec(ctx); err != nil {
		return fmt.Errorf("create session of user %d: %w", sess.UserID, err)
	}
	return nil
}

// GetSession reads a session.
func (s *Store) GetSession(ctx context.Context, hash []byte) (users.Session, error) {
	sess := users.Session{TokenHash: hash}
	found, err := cqlrows.Read(ctx, s.s, qGetSession, []any{hash}, &sess.UserID, &sess.CreatedAt, &sess.ExpiresAt)
	if err == nil && !found {
		err = users.ErrNotFound
	}
	if err != nil {
		return users.Session{}, fmt.Errorf("get session: %w", err)
	}
	return sess, nil
}

// DeleteSession revokes a session: its row and its index row in one
// LOGGED batch. The index row is keyed by user, so the session is read
// first; a missing session has nothing to delete.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	sess, err := s.GetSession(ctx, hash)
	if errors.Is(err, users.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	b := cqlrows.NewBatch(s.s)
	b.Add(qDelSession, hash)
	b.Add(qDelUserSession, sess.UserID, hash)
	if err := b.Exec(ctx); err != nil {
		return fmt.Errorf("delete session of user %d: %w", sess.UserID, err)
	}
	return nil
}

// ListUserSessions reads the user's index partition, then each session's
// row (for its creation time; a row revoked meanwhile is skipped). A user
// has tens of sessions, not thousands: the login limits see to that.
func (s *Store) ListUserSessions(ctx context.Context, user int64) ([]users.Session, error) {
	var hashes [][]byte
	iter := s.s.Query(qUserSessions, user).IterContext(ctx)
	var h []byte
	for iter.Scan(&h) {
		hashes = append(hashes, h)
		h = nil // Scan reuses a non-nil slice
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("list sessions of user %d: %w", user, err)
	}
	out := make([]users.Session, 0, len(hashes))
	for _, h := range hashes {
		sess, err := s.GetSession(ctx, h)
		if errors.Is(err, users.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list sessions of user %d: %w", user, err)
		}
		out = append(out, sess)
	}
	return out, nil
}

// DeleteUserSessions reads the user's index partition and deletes each
// session but except with its index row, revokeBatch sessions to a LOGGED
// batch. A failure midway leaves the sessions not yet deleted valid; a
// retry deletes them.
func (s *Store) DeleteUserSessions(ctx context.Context, user int64, except []byte) (int, error) {
	var hashes [][]byte
	iter := s.s.Query(qUserSessions, user).IterContext(ctx)
	var h []byte
	for iter.Scan(&h) {
		if !bytes.Equal(h, except) {
			hashes = append(hashes, h)
		}
		h = nil // Scan reuses a non-nil slice
	}
	if err := iter.Close(); err != nil {
		return 0, fmt.Errorf("delete sessions of user %d: list: %w", user, err)
	}
	done := 0
	for chunk := range slices.Chunk(hashes, revokeBatch) {
		b := cqlrows.NewBatch(s.s)
		for _, h := range chunk {
			b.Add(qDelSession, h)
			b.Add(qDelUserSession, user, h)
		}
		if err := b.Exec(ctx); err != nil {
			return done, fmt.Errorf("delete sessions of user %d: %w", user, err)
		}
		done += len(chunk)
	}
	return done, nil
}
