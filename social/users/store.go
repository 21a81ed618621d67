package users

import (
	"context"
	"errors"
	"time"

	"github.com/mediaedge/mediaedge/social/events"
)

// Sentinel errors. Stores wrap them with %w and the operation; the handler
// maps them to answers in one table (errors.go).
var (
	// ErrNotFound: no such user or session.
	ErrNotFound = errors.New("users: not found")
	// ErrUsernameTaken: the username is claimed by another account.
	ErrUsernameTaken = errors.New("users: username taken")
	// ErrBlocked: a follow between two users one of whom blocks the other.
	ErrBlocked = errors.New("users: blocked")
	// ErrFollowLimit: the follower already follows GraphOp.MaxFollowing users.
	ErrFollowLimit = errors.New("users: following limit reached")
	// ErrBusy: the operation could not get its turn in time (a graph pair
	// locked by another request, a create still in flight, every password
	// hashing slot taken); retrying shortly succeeds.
	ErrBusy = errors.New("users: busy")
)

// User is one account. Username is stored normalised (lower case), which
// is also how it is shown: usernames are case-insensitive.
type User struct {
	ID           int64
	Username     string
	DisplayName  string
	Bio          string
	Avatar       string // a media id, or "" for none
	PasswordHash string // argon2id, in its PHC string form
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// ProfilePatch names the profile fields to change; nil fields stay as they
// are. "" clears Bio and Avatar.
type ProfilePatch struct {
	DisplayName, Bio, Avatar *string
}

// Empty reports whether the patch changes nothing.
func (p ProfilePatch) Empty() bool { return p.DisplayName == nil && p.Bio == nil && p.Avatar == nil }

// Apply returns u with the patch applied.
func (p ProfilePatch) Apply(u User) User {
	if p.DisplayName != nil {
		u.DisplayName = *p.DisplayName
	}
	if p.Bio != nil {
		u.Bio = *p.Bio
	}
	if p.Avatar != nil {
		u.Avatar = *p.Avatar
	}
	return u
}

// Session is a login. Only the SHA-256 of its token is stored: a leaked
// table (or backup) gives no usable token.
type Session struct {
	TokenHash []byte // SHA-256 of the raw token bytes
	UserID    int64
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Direction says which list of a user's follow edges to read.
type Direction int

const (
	// Followers are the users who follow the user.
	Followers Direction = iota
	// Following are the users the user follows.
	Following
)

func (d Direction) String() string {
	if d == Following {
		return "following"
	}
	return "followers"
}

// Edge is one entry of a followers or following list: the other user and
// when the follow began.
type Edge struct {
	UserID int64
	Since  time.Time
}

// Counts are a user's exact numbers of followers and followings.
type Counts struct {
	Followers, Following int64
}

// GraphOp is one follow-graph write: Actor follows, unfollows, blocks or
// unblocks Target at At. Event is written to the outbox in the same batch
// as the data, and only when the write changes something.
type GraphOp struct {
	Actor, Target int64
	At            time.Time
	Event         events.Event
	// MaxFollowing caps how many users Actor may follow (Follow only);
	// 0 is no cap. The cap is soft: it is checked under the pair's lock,
	// so follows of several users at the same instant may pass it by a few.
	MaxFollowing int
}

// Accounts stores users and their username claims.
type Accounts interface {
	// CreateUser claims u.Username (compare-and-set: at most one user per
	// username, ever, with no read-then-write) and writes u and ev
	// together. A claim made with the same non-empty idemKey (a retried
	// request) returns the user it made and created=false, writing nothing;
	// any other existing claim is ErrUsernameTaken.
	CreateUser(ctx context.Context, u User, idemKey string, ev events.Event) (stored User, created bool, err error)
	// GetUser reads a user; ErrNotFound when there is none.
	GetUser(ctx context.Context, id int64) (User, error)
	// GetUserByName reads the user holding a (normalised) username.
	GetUserByName(ctx context.Context, username string) (User, error)
	// GetUsers reads many users, in the order of ids, skipping missing ones.
	GetUsers(ctx context.Context, ids []int64) ([]User, error)
	// UpdateProfile applies p to user id, stamps UpdatedAt = at and writes
	// ev with it; it returns the user as stored.
	UpdateProfile(ctx context.Context, id int64, p ProfilePatch, at time.Time, ev events.Event) (User, error)
	// SetPassword replaces user id's password hash and nothing else (no
	// event: a password is not social data). The user must exist (users
	// are never deleted); a store that can tell says ErrNotFound.
	SetPassword(ctx context.Context, id int64, hash string) error
}

// Sessions stores logins by the hash of their token, and indexes them by
// user (written and deleted with the session, in its batch) so that all of
// a user's sessions can be revoked at once. Sessions are not social data
// and emit no events.
type Sessions interface {
	// CreateSession stores s, and its entry in s.UserID's index, until
	// s.ExpiresAt.
	CreateSession(ctx context.Context, s Session) error
	// GetSession reads a session; ErrNotFound when missing or revoked. It
	// may return an expired session (the caller checks ExpiresAt against
	// its own clock).
	GetSession(ctx context.Context, tokenHash []byte) (Session, error)
	// DeleteSession revokes a session; later GetSession calls, from any
	// process, return ErrNotFound. Deleting a missing session is not an error.
	DeleteSession(ctx context.Context, tokenHash []byte) error
	// DeleteUserSessions revokes every session of userID but the one whose
	// hash is except (nil: all of them), as DeleteSession does each, and
	// returns how many it revoked. Every session created before it starts
	// is revoked; one created while it runs may survive it.
	DeleteUserSessions(ctx context.Context, userID int64, except []byte) (int, error)
	// ListUserSessions returns the sessions in userID's index (the ones
	// made since the index existed), expired ones included: the caller's
	// clock decides.
	ListUserSessions(ctx context.Context, userID int64) ([]Session, error)
}

// Graph stores follows and blocks. Every write is idempotent: it reports
// whether it changed anything, and writes its event only then.
type Graph interface {
	// Follow makes Actor follow Target; ErrBlocked if either blocks the
	// other, ErrFollowLimit past op.MaxFollowing.
	Follow(ctx context.Context, op GraphOp) (changed bool, err error)
	// Unfollow ends Actor's follow of Target.
	Unfollow(ctx context.Context, op GraphOp) (changed bool, err error)
	// Block records that Actor blocks Target and removes the follows
	// between them both ways, in the same batch.
	Block(ctx context.Context, op GraphOp) (changed bool, err error)
	// Unblock removes Actor's block of Target (follows are not restored).
	Unblock(ctx context.Context, op GraphOp) (changed bool, err error)
	// Blocked reports whether either of a and b blocks the other: a block
	// works both ways, whoever made it. Other services read it (chat
	// refuses direct conversations, adds to groups and direct sends
	// between the two).
	Blocked(ctx context.Context, a, b int64) (bool, error)
	// ListEdges returns up to limit of user's followers or followings with
	// ids above after (0: from the start), in increasing id order.
	ListEdges(ctx context.Context, user int64, dir Direction, after int64, limit int) ([]Edge, error)
	// CountEdges counts user's followers and followings exactly.
	CountEdges(ctx context.Context, user int64) (Counts, error)
}

// Store is everything the handler needs from a database: accounts,
// sessions and the follow graph. Both backends (cassandrastore,
// pebblestore) implement it and run the conformance suite in userstest.
type Store interface {
	Accounts
	Sessions
	Graph
}

// SessionSweeper is an optional Store capability: deleting expired
// sessions. A store whose database expires rows itself (Cassandra's TTL)
// does not need it; Handler.RunSweeper calls it when the store has it.
type SessionSweeper interface {
	SweepSessions(ctx context.Context, now time.Time) (deleted int, err error)
}
