package stories

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mediaedge/mediaedge/social/events"
)

// Sentinel errors. Stores wrap them with %w and the operation; the handler
// maps them to answers in one table (errorTable in handler.go).
var (
	// ErrNotFound: no such story, or it has expired (a store cannot always
	// tell the two apart: Cassandra forgets an expired row).
	ErrNotFound = errors.New("stories: not found")
	// ErrExpired: the story existed and its lifetime is over. It is an
	// ErrNotFound too (errors.Is matches both): a store returns it when it
	// can tell (the row is still there, past its ExpiresAt), and the
	// service when a missing story's id (time-ordered) is older than the
	// lifetime.
	ErrExpired = fmt.Errorf("stories: expired: %w", ErrNotFound)
	// ErrBusy: a create with the same Idempotency-Key is still in flight
	// (on another edge); retrying after a moment answers with its result.
	ErrBusy = errors.New("stories: busy")
)

// Story is one story: a single media item shown for a limited time.
type Story struct {
	ID        int64
	Owner     int64
	Media     string // the media id
	MediaType string // its MIME type, as the media service reported it
	Caption   string
	// HideFrom are the users the owner hides the story from: they do not
	// see it in trays or timelines and cannot view it.
	HideFrom []int64
	// Key is the Idempotency-Key it was created with, "" for none.
	Key       string
	CreatedAt time.Time
	// ExpiresAt ends its life: from then on every read treats it as gone,
	// and the store reclaims it and everything under it (views, likes).
	ExpiresAt time.Time
}

// Live reports whether the story is still alive at now.
func (s Story) Live(now time.Time) bool { return now.Before(s.ExpiresAt) }

// HiddenFrom reports whether user may not see the story.
func (s Story) HiddenFrom(user int64) bool { return slices.Contains(s.HideFrom, user) }

// View is one viewer's first view of a story.
type View struct {
	User int64
	At   time.Time
}

// ViewerState is what one user did to one story.
type ViewerState struct {
	Viewed, Liked bool
}

// Store is everything the stories service needs from a database. Both
// backends (cassandrastore, pebblestore) implement it and pass the
// conformance suite in storiestest. Every write that takes an events.Event
// writes it to the outbox in the same durable batch as its data, and only
// when the write changes something.
//
// Everything a story has (its row, its place in the owner's list, its
// views, likes and idempotency key) lives until the story's ExpiresAt and
// is then gone: reads never return an expired story or anything of it, and
// the store reclaims the space (Cassandra by TTLs, Pebble by Sweep).
type Store interface {
	// Create writes st and ev. With a non-empty st.Key, only the first
	// create of (st.Owner, st.Key) while its story lives writes anything: a
	// later one returns that story with created=false (ErrBusy if the first
	// has not finished yet).
	Create(ctx context.Context, st Story, ev events.Event) (stored Story, created bool, err error)
	// Get reads a live story; ErrNotFound for a missing one, ErrExpired
	// (which is an ErrNotFound) for one it knows expired.
	Get(ctx context.Context, id int64) (Story, error)
	// OwnerStories returns owner's live stories, oldest first.
	OwnerStories(ctx context.Context, owner int64) ([]Story, error)

	// View records viewer's view of st at at; only the first view's time is
	// kept (a repeat changes nothing). ErrNotFound if st is gone.
	View(ctx context.Context, st Story, viewer int64, at time.Time) error
	// Viewers returns up to limit of st's viewers with user id above after,
	// in user id order.
	Viewers(ctx context.Context, story int64, after int64, limit int) ([]View, error)
	// ViewCount counts a story's viewers.
	ViewCount(ctx context.Context, story int64) (int, error)

	// Like records user's like of st at at with ev, and (unless user is the
	// owner) adds user to the owner's likers, which outlive the story.
	// changed=false and nothing written if user already likes it.
	// ErrNotFound if st is gone.
	Like(ctx context.Context, st Story, user int64, at time.Time, ev events.Event) (changed bool, err error)
	// Unlike removes user's like (the likers set keeps them).
	Unlike(ctx context.Context, st Story, user int64) (changed bool, err error)
	// ViewerState reports, for each of stories, whether viewer viewed and
	// liked it (stories absent from the map: neither).
	ViewerState(ctx context.Context, viewer int64, stories []int64) (map[int64]ViewerState, error)
	// Likers returns up to limit users who liked any story of owner in the
	// likers' lifetime (the store's LikersTTL), in user id order.
	Likers(ctx context.Context, owner int64, limit int) ([]int64, error)
}

// Sweeper is a store that reclaims expired stories itself, when asked
// (Pebble, which has no TTLs). Sweep deletes every story whose ExpiresAt
// is at or before now with everything under it, and the owners' likers
// past their lifetime, and returns how many stories it deleted.
type Sweeper interface {
	Sweep(ctx context.Context, now time.Time) (int, error)
}
