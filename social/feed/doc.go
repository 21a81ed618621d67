// Package feed is the home feed (issue #12): GET /v1/feed?limit=&cursor=
// answers {"items":[post...],"next_cursor":"<post id>"|""}, the newest posts
// of the people the user follows and the user's own, newest first.
//
// # Write side: fan-out on write, celebrities merged on read
//
// The durable consumer "feed-fanout" (Service.Start, handler Service.Handle)
// takes post.created, post.deleted, post.archived, follow, unfollow and
// block. On post.created by A the post id goes into A's own feed and, when
// A has at most Config.CelebrityThreshold followers (10,000 by default,
// inclusive), into every follower's feed: followers are paged from the
// graph 1,000 at a time and each page written by the store at once (Pebble:
// one synced batch; Cassandra: concurrent single-partition inserts, 64 in
// flight). Rows are keyed (user, post), so a redelivered event rewrites the
// same rows and the handler is idempotent. An author above the threshold is
// recorded in the celebrity set instead and nothing is written per
// follower; readers merge the author's timeline at read time.
//
// A follow back-fills the followee's newest Config.Backfill posts (unless
// the followee is a celebrity); it first checks the follow still stands, so
// a follow handled after its own unfollow (handlers run concurrently) adds
// nothing. Unfollow removes the followee's rows from the follower's feed,
// block both users' rows from the other's. Removal scans the feed rather
// than keeping a (user, author, post) index: the feed is capped, so the scan
// is bounded (~800 rows), and there is no second structure to keep in step.
// post.deleted and post.archived are removed lazily: the row stays until it
// is trimmed, and the read skips it because Posts skips deleted and
// archived posts. Eager removal would cost a second fan-out per delete.
//
// # The cap
//
// A feed keeps its newest Config.FeedCap (800) rows. Trimming on every
// fan-out write would add a read per follower; instead the write to a
// follower's feed trims it on one write in Config.TrimEvery (16), picked by
// a hash of (user, post), and a back-fill always trims. A feed so holds the
// cap plus about TrimEvery rows (exceeding it by k·TrimEvery has odds of
// roughly e^-k), which bounds every partition and every removal scan. Reads
// do not stop at the cap: a reader may see a few posts past it until the
// next trim.
//
// # Read side
//
// A page reads the user's feed rows below the cursor and, for each
// celebrity the user follows (the user's followings intersected with the
// celebrity set, which is cached for Config.CelebrityCacheTTL), that
// author's timeline below the cursor, each source limit·1.5+4 deep. The
// union, de-duplicated and newest first, is exact down to the last id of
// any source that came back full; the posts service renders it (skipping
// deleted and archived posts). A round that comes up short reads on below
// its last candidate, up to Config.MaxRounds rounds, so pages stay full;
// the cursor is the last post returned (or the last candidate examined when
// the rounds run out), so paging neither repeats nor skips a post.
//
// # Design notes
//
// An author becomes a celebrity when one of their posts finds them above
// the threshold, and stays one: their earlier posts are in their
// followers' feeds and later ones are merged, and de-duplication covers
// the overlap. Demoting an author whose following shrank would leave their
// merged posts in no feed; a demotion would need a back-fill of every
// follower, which is not built.
//
// The celebrity merge reads the whole followings list of a reader whenever
// the celebrity set is not empty. That costs one graph read per 1,000
// followings per page; a per-user list of followed celebrities kept by the
// follow events would avoid it but must be rebuilt whenever an author
// crosses the threshold.
package feed
