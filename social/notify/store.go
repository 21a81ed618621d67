package notify

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/mediaedge/mediaedge/social/events"
)

// Sentinel errors. Stores wrap them with %w and the operation.
var (
	// ErrBusy: the recipient's lock is held by another writer for longer
	// than the store waits (Cassandra); the consumer retries the event.
	ErrBusy = errors.New("notify: busy")
)

// RecentActors is how many of a group's most recent actors it shows.
const RecentActors = 3

// Kinds of groups (Group.Kind), as the API shows them.
const (
	KindFollow    = "follow"     // object user:<recipient>
	KindLike      = "like"       // object post:<id>
	KindComment   = "comment"    // object post:<id>
	KindMention   = "mention"    // object post:<id>
	KindStoryLike = "story_like" // object story:<id>
	KindStory     = "story"      // object story:<id>: a liked author posted a story
	KindMessage   = "message"    // object conversation:<id>
)

// Group is one item of a recipient's notifications: every activity of
// one Kind on one Object, with the latest actors.
type Group struct {
	// ID is the group's id, assigned when the group is opened and kept
	// while it lives (a group trimmed away and opened again gets a new one).
	ID        int64
	Recipient int64
	Kind      string
	Object    string
	// Actors are the up to RecentActors most recent distinct actors,
	// newest first. ActorCount is the exact number of distinct actors.
	Actors     []int64
	ActorCount int
	// FirstAt and LastAt are the earliest and the latest activity's times.
	FirstAt, LastAt time.Time
	// Pos is the group's place in the list, its activity id: a fresh
	// social/ids id at every new activity, above every Pos the recipient
	// had before and above their read mark, so new activity moves the
	// group to the top and makes it unread.
	Pos int64
	// Read: Pos is at or below the recipient's read mark.
	Read bool
}

// Key is what groups activities: kind and object.
func (g Group) Key() string { return g.Kind + "|" + g.Object }

// Activity is one event as it concerns one recipient.
type Activity struct {
	Recipient, Actor int64
	Kind, Object     string
	// Event is the source event's id: (Recipient, Event) is applied once,
	// however often the event is delivered.
	Event int64
	At    time.Time
	// GroupID is the id a group opened by this activity gets.
	GroupID int64
	// Pos is a fresh id; the store raises it above the recipient's top
	// Pos and read mark if needed (clock skew between edges).
	Pos int64
}

// Key is the activity's group key (Group.Key).
func (a Activity) Key() string { return a.Kind + "|" + a.Object }

// EventFunc builds the live event of a group write once the store knows
// the group it wrote; stores call it inside the write and put its event
// in the same batch as the data.
type EventFunc func(Group) (events.Event, error)

// Store is everything the notification service needs from a database.
// Both backends (cassandrastore, pebblestore) implement it and pass the
// conformance suite in notifytest.
type Store interface {
	// Apply adds a to its group (opening it when the recipient has none
	// for a.Key()): a new distinct actor raises ActorCount, every new
	// activity moves the actor to the front of Actors, gives the group a
	// new Pos (so it is unread and on top) and widens FirstAt/LastAt. If
	// (a.Recipient, a.Event) was applied before, nothing is written and
	// applied is false. Otherwise the group, ev(group) and the record of
	// the event are written in one durable batch, and when the recipient
	// then has more than max groups the oldest (lowest Pos) beyond max
	// are deleted in the same batch. Concurrent Applies to one recipient,
	// on any edges, lose no update.
	Apply(ctx context.Context, a Activity, max int, ev EventFunc) (g Group, applied bool, err error)
	// List returns up to limit of recipient's groups with Pos below
	// before (0: from the newest), newest activity first.
	List(ctx context.Context, recipient, before int64, limit int) ([]Group, error)
	// Unread counts recipient's unread groups (Pos above the read mark).
	Unread(ctx context.Context, recipient int64) (int, error)
	// MarkRead raises recipient's read mark to upto, clamped to the
	// highest Pos the recipient has (a mark never reaches past what
	// exists, so later activity is always above it). The mark only rises.
	// It returns the mark after the call.
	MarkRead(ctx context.Context, recipient, upto int64) (mark int64, err error)
}

// Recent puts actor first in actors, keeping RecentActors distinct
// ids, newest first.
func Recent(actors []int64, actor int64) []int64 {
	out := make([]int64, 0, RecentActors)
	out = append(out, actor)
	for _, x := range actors {
		if x != actor && len(out) < RecentActors {
			out = append(out, x)
		}
	}
	return out
}

// NextPos is a new activity's Pos: the fresh id, raised above the
// recipient's highest Pos and read mark.
func NextPos(fresh, top, mark int64) int64 { return slices.Max([]int64{fresh, top + 1, mark + 1}) }
