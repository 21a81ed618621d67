// Package pebblestore is the users.Store on the embedded Pebble database
// the edge opens at DATA/social (shared by every social service, each under
// its own key prefix; this one's is "u/").
//
// Keys mirror the Cassandra tables (big-endian ids, so keys sort as ids):
//
//	u/id/<id>                     users row (JSON)
//	u/name/<username>             username claim (JSON: user id, idempotency key hash)
//	u/sess/<sha256>               session (JSON)
//	u/sexp/<expires ms><sha256>   the expiry index the sweeper walks
//	u/suser/<user><sha256>        a user's sessions (empty), for revoking them together
//	u/fwg/<user><followee>        following (JSON: since)
//	u/fwr/<user><follower>        followers (JSON: since)
//	u/blk/<user><blocked>         blocks (JSON: since)
//	outbox/<event id>             events.OutboxKey: the event, in the data's batch
//
// Every write is one *pebble.Batch holding the data and its event,
// committed with a WAL sync (Config.Sync), so an acknowledged write and
// its event survive power loss together, or neither exists.
//
// Compare-and-set: one process owns the database (Pebble locks its folder),
// so a read-then-write under a mutex is atomic. Username claims take one
// mutex; a user's profile and a pair of users' graph state take a stripe
// of 64 mutexes (by user id, by the pair), so unrelated writes rarely wait.
package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/pebblekv"
	"github.com/mediaedge/mediaedge/social/users"
)

// Config says how the store writes.
type Config struct {
	// Sync makes every write durable (a WAL fsync) before it returns.
	// DefaultConfig sets it; turn it off only in tests that never crash.
	Sync bool
}

// DefaultConfig is a durable store.
func DefaultConfig() Config { return Config{Sync: true} }

// Store implements users.Store on a *pebble.DB it does not own (the caller
// opens and closes the database).
type Store struct {
	db      *pebblekv.DB
	claimMu sync.Mutex       // guards username claims' read-then-write
	stripes pebblekv.Stripes // guard read-then-write of one user's row or one pair's graph state
}

var (
	_ users.Store          = (*Store)(nil)
	_ users.SessionSweeper = (*Store)(nil)
)

// New returns the store over db.
func New(db *pebble.DB, cfg Config) *Store {
	return &Store{db: pebblekv.New(db, cfg.Sync)}
}

const (
	pUser      = "u/id/"
	pName      = "u/name/"
	pSess      = "u/sess/"
	pSessExp   = "u/sexp/"
	pSessUser  = "u/suser/"
	pFollowing = "u/fwg/"
	pFollowers = "u/fwr/"
	pBlocks    = "u/blk/"
)

// userRow is the stored form of a user.
type userRow struct {
	ID           int64     `json:"id"`
	Username     string    `json:"username"`
	DisplayName  string    `json:"display_name"`
	Bio          string    `json:"bio"`
	Avatar       string    `json:"avatar"`
	PasswordHash string    `json:"password_hash"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

type claimRow struct {
	UserID    int64     `json:"user_id"`
	Idem      string    `json:"idem,omitempty"`
	ClaimedAt time.Time `json:"claimed_at"`
}

type sessionRow struct {
	UserID    int64     `json:"user_id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

type edgeRow struct {
	Since time.Time `json:"since"`
}

// CreateUser claims the username and writes the user and ev in one batch.
func (s *Store) CreateUser(ctx context.Context, u users.User, idem string, ev events.Event) (users.User, bool, error) {
	if err := ctx.Err(); err != nil {
		return users.User{}, false, err
	}
	s.claimMu.Lock()
	defer s.claimMu.Unlock()
	nk := append([]byte(pName), u.Username...)
	var c claimRow
	found, err := s.db.Get(nk, &c)
	if err != nil {
		return users.User{}, false, fmt.Errorf("create user %s: read claim: %w", u.Username, err)
	}
	if found {
		if idem != "" && c.Idem == idem {
			got, err := s.GetUser(ctx, c.UserID)
			return got, false, err
		}
		return users.User{}, false, fmt.Errorf("create user %s: %w", u.Username, users.ErrUsernameTaken)
	}
	b := s.db.NewBatch()
	b.Set(nk, claimRow{UserID: u.ID, Idem: idem, ClaimedAt: u.CreatedAt})
	b.Set(pebblekv.Key(pUser, u.ID), toRow(u))
	b.Event(ev)
	if err := b.Commit(); err != nil {
		return users.User{}, false, fmt.Errorf("create user %s: %w", u.Username, err)
	}
	return u, true, nil
}

func toRow(u users.User) userRow {
	return userRow{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Bio: u.Bio, Avatar: u.Avatar,
		PasswordHash: u.PasswordHash, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

func fromRow(r userRow) users.User {
	return users.User{ID: r.ID, Username: r.Username, DisplayName: r.DisplayName, Bio: r.Bio, Avatar: r.Avatar,
		PasswordHash: r.PasswordHash, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// GetUser reads a user.
func (s *Store) GetUser(ctx context.Context, id int64) (users.User, error) {
	if err := ctx.Err(); err != nil {
		return users.User{}, err
	}
	var r userRow
	found, err := s.db.Get(pebblekv.Key(pUser, id), &r)
	if err != nil {
		return users.User{}, fmt.Errorf("get user %d: %w", id, err)
	}
	if !found {
		return users.User{}, fmt.Errorf("get user %d: %w", id, users.ErrNotFound)
	}
	return fromRow(r), nil
}

// GetUserByName reads the user holding a username.
func (s *Store) GetUserByName(ctx context.Context, username string) (users.User, error) {
	if err := ctx.Err(); err != nil {
		return users.User{}, err
	}
	var c claimRow
	found, err := s.db.Get(append([]byte(pName), username...), &c)
	if err != nil {
		return users.User{}, fmt.Errorf("get user %s: %w", username, err)
	}
	if !found {
		return users.User{}, fmt.Errorf("get user %s: %w", username, users.ErrNotFound)
	}
	return s.GetUser(ctx, c.UserID)
}

// GetUsers reads users in the order of ids, skipping missing ones.
func (s *Store) GetUsers(ctx context.Context, ids []int64) ([]users.User, error) {
	out := make([]users.User, 0, len(ids))
	for _, id := range ids {
		u, err := s.GetUser(ctx, id)
		if errors.Is(err, users.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// SetPassword replaces a user's password hash.
func (s *Store) SetPassword(ctx context.Context, id int64, hash string) error {
	defer s.stripes.Lock(id)()
	u, err := s.GetUser(ctx, id)
	if err != nil {
		return err
	}
	u.PasswordHash = hash
	b := s.db.NewBatch()
	b.Set(pebblekv.Key(pUser, id), toRow(u))
	if err := b.Commit(); err != nil {
		return fmt.Errorf("set password of user %d: %w", id, err)
	}
	return nil
}

// UpdateProfile applies p to a user and writes it with ev.
func (s *Store) UpdateProfile(ctx context.Context, id int64, p users.ProfilePatch, at time.Time, ev events.Event) (users.User, error) {
	defer s.stripes.Lock(id)()
	u, err := s.GetUser(ctx, id)
	if err != nil {
		return users.User{}, err
	}
	u = p.Apply(u)
	u.UpdatedAt = at
	b := s.db.NewBatch()
	b.Set(pebblekv.Key(pUser, id), toRow(u))
	b.Event(ev)
	if err := b.Commit(); err != nil {
		return users.User{}, fmt.Errorf("update profile %d: %w", id, err)
	}
	return u, nil
}
