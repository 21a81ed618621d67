package feed

import "context"

// Entry is one row of a home feed: a post and its author. Feeds are keyed
// (user, post), so writing an entry twice is writing it once.
type Entry struct {
	Post, Author int64
}

// Store holds the home feeds and the celebrity set. Both backends
// (pebblestore, cassandrastore) implement it and run the conformance suite
// in feedtest. Every method is idempotent: the fan-out consumer is at least
// once.
type Store interface {
	// Add puts entries into user's feed. An entry already there stays as it
	// is. It does not trim: the caller calls Trim.
	Add(ctx context.Context, user int64, entries []Entry) error
	// Fanout puts e into the feed of every user in users (one post, many
	// feeds: the write side of fan-out on write). Idempotent; a failure may
	// leave it in some of the feeds, and a retry completes it.
	Fanout(ctx context.Context, users []int64, e Entry) error
	// Read returns up to limit entries of user's feed whose post id is
	// below before (0: from the newest), newest first.
	Read(ctx context.Context, user, before int64, limit int) ([]Entry, error)
	// Trim deletes every entry of user's feed but the newest keep.
	Trim(ctx context.Context, user int64, keep int) error
	// RemoveAuthor deletes every entry of author from user's feed
	// (unfollow, block). It scans the feed, which Trim keeps bounded.
	RemoveAuthor(ctx context.Context, user, author int64) error
	// MarkCelebrity adds author to the celebrity set: authors whose posts
	// are not fanned out but merged into their followers' feeds at read
	// time. Idempotent; an author is never removed (see doc.go).
	MarkCelebrity(ctx context.Context, author int64) error
	// Celebrities lists the celebrity set in increasing id order.
	Celebrities(ctx context.Context) ([]int64, error)
}
