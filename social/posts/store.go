package posts

import (
	"context"
	"errors"
	"time"

	"github.com/mediaedge/mediaedge/social/events"
)

// Sentinel errors. Stores wrap them with %w and the operation; the handler
// maps them to answers in one table (handler.go).
var (
	// ErrNotFound: no such post or comment.
	ErrNotFound = errors.New("posts: not found")
	// ErrDeleted: the post was deleted; it cannot be edited, archived or
	// liked (an edit racing a delete loses and never brings the row back).
	ErrDeleted = errors.New("posts: post deleted")
	// ErrBusy: a compare-and-set kept losing to concurrent writes of the
	// same post, or a comment with the same Idempotency-Key is still being
	// added; retrying after a moment succeeds.
	ErrBusy = errors.New("posts: busy")
	// ErrNoMedia is what Config.MediaInfo returns (wrapped) for a media id
	// that names no stored file.
	ErrNoMedia = errors.New("posts: no such media")
)

// Media is one attachment of a post: the media id and its MIME type (the
// type is recorded when the post is written, so reading a post never asks
// the media store).
type Media struct {
	ID   string
	Type string
}

// Post is one post. A deleted post keeps its row (Deleted, Text "", no
// Media, no Mentions); an archived one is hidden from everyone but its
// author and from timelines.
type Post struct {
	ID        int64
	Author    int64
	Text      string
	Media     []Media
	Mentions  []int64 // user ids mentioned in Text, resolved when written
	CreatedAt time.Time
	EditedAt  time.Time // zero: never edited
	Archived  bool
	Deleted   bool
}

// Comment is one comment on a post.
type Comment struct {
	ID        int64
	Post      int64
	Author    int64
	Text      string
	Mentions  []int64
	CreatedAt time.Time
}

// Like is one user's like of a post.
type Like struct {
	User    int64
	LikedAt time.Time
}

// EditFunc turns the stored post into its edit and the events of the edit.
// Stores call it inside the write (maybe more than once, when a
// compare-and-set lost to a concurrent write and the row is read again) and
// write exactly the post and events of the call that wins. An error from it
// is returned as is and nothing is written.
type EditFunc func(old Post) (Post, []events.Event, error)

// EventsFunc builds the events of a create once the store knows which
// post it writes: a retry with an Idempotency-Key whose first request died
// before writing its post writes the post under the id the first request
// claimed.
type EventsFunc func(Post) ([]events.Event, error)

// LikeShards is how many partitions a post's likes (and comments) are
// spread over in Cassandra: shard = user id % LikeShards for likes, comment
// id % LikeShards for comments. It is a constant of the schema: changing it
// re-addresses every stored like.
const LikeShards = 16

// Store is everything the posts service needs from a database. Both
// backends (cassandrastore, pebblestore) implement it and pass the
// conformance suite in poststest. Every write that takes events writes them
// to the outbox in the same durable batch as its data, and only when the
// write changes something.
type Store interface {
	// CreatePost writes p with the events evs(p) and adds it to its
	// author's timeline. With a non-empty key, a second create by the same
	// author with the same key within 24 hours writes nothing and returns
	// the first post (created=false), whatever its state now; exactly one
	// of concurrent creates with one key reports created. The returned
	// post's ID may then differ from p.ID.
	CreatePost(ctx context.Context, p Post, key string, evs EventsFunc) (stored Post, created bool, err error)
	// GetPost reads a post, deleted or not; ErrNotFound.
	GetPost(ctx context.Context, id int64) (Post, error)
	// EditPost rewrites a post through fn as one compare-and-set on the
	// whole row: ErrDeleted if it is deleted (before or concurrently),
	// ErrNotFound. It returns the post as written.
	EditPost(ctx context.Context, id int64, fn EditFunc) (Post, error)
	// DeletePost soft-deletes: Deleted set, Text "", Media and Mentions
	// emptied, the post off its author's timeline. changed=false (and no
	// event) if it was deleted already. ErrNotFound.
	DeletePost(ctx context.Context, id int64, at time.Time, ev events.Event) (changed bool, err error)
	// SetArchived archives (off the timeline) or unarchives (back on it) a
	// post. changed=false if it already was. ErrDeleted, ErrNotFound.
	SetArchived(ctx context.Context, id int64, archived bool, ev events.Event) (changed bool, err error)
	// Timeline returns up to limit ids of author's posts below before
	// (0: from the newest), newest first; deleted and archived posts are
	// not on it (a post deleted while its create was in flight may linger
	// on Cassandra: readers skip deleted posts).
	Timeline(ctx context.Context, author, before int64, limit int) ([]int64, error)

	// Like records user's like of post with ev; changed=false (no event)
	// if they already liked it.
	Like(ctx context.Context, post, user int64, at time.Time, ev events.Event) (changed bool, err error)
	// Unlike removes the like with ev; changed=false if there was none.
	Unlike(ctx context.Context, post, user int64, ev events.Event) (changed bool, err error)
	// Liked reports whether user likes post.
	Liked(ctx context.Context, post, user int64) (bool, error)
	// LikeCount is the exact number of likes of post.
	LikeCount(ctx context.Context, post int64) (int64, error)
	// Likers returns up to limit likes of post with user id above after,
	// in user id order.
	Likers(ctx context.Context, post, after int64, limit int) ([]Like, error)

	// AddComment writes c with evs. With a non-empty key, a second add by
	// the same author to the same post with the same key within 24 hours
	// writes nothing and returns the first comment (created=false),
	// whatever the second's text; exactly one of concurrent adds with one
	// key reports created. A key whose comment was deleted is free again.
	// ErrBusy: the key's first add is still in flight (on another edge);
	// retrying after a moment answers with its comment.
	AddComment(ctx context.Context, c Comment, key string, evs []events.Event) (stored Comment, created bool, err error)
	// GetComment reads one comment of post; ErrNotFound.
	GetComment(ctx context.Context, post, id int64) (Comment, error)
	// DeleteComment removes a comment with ev; changed=false if it was gone.
	DeleteComment(ctx context.Context, post, id int64, ev events.Event) (changed bool, err error)
	// Comments returns up to limit comments of post with id above after,
	// oldest first.
	Comments(ctx context.Context, post, after int64, limit int) ([]Comment, error)
	// CommentCount is the exact number of comments of post.
	CommentCount(ctx context.Context, post int64) (int64, error)
}
