// Package posts is the posts service: posts with media, likes with exact
// counts, comments, @mentions and per-author timelines, under /v1/posts and
// /v1/users/{id}/posts. It also answers the feed's reads: Service.Posts
// (hydrate ids into PostJSON) and Service.Timeline (an author's post ids).
//
// # Writes and events
//
// Every changing write puts its events (post.created, post.edited,
// post.deleted, post.archived, post.unarchived, like, unlike, comment,
// comment.deleted, mention; see the Kind constants) in the outbox in the
// same durable batch as its data; a write that changes nothing (a second
// like, an unlike of no like, a retried create) writes no event.
//
// A delete is soft: the row stays with Deleted set and no text, media or
// mentions, and the post leaves its author's timeline; its likes and
// comments stay stored but unreachable (every route 404s on a deleted
// post). An edit is one compare-and-set of the whole row, so an edit racing
// a delete loses and never brings the text back.
//
// # Exact counts without counters
//
// Cassandra counters double-count when a write is retried, so likes and
// comments are rows and their counts are counts of rows. On Cassandra a
// post's likes are spread over LikeShards (16) partitions by user id
// (comments by comment id), so 10,000 likes a second on one post land on
// 16 partitions, each written by plain idempotent writes; the count is
// SELECT COUNT(*) over the 16 partitions, exact as soon as the writes are
// acknowledged, and nothing caches it (concurrent counts of one post share
// a query that started after they asked, so a hot post costs one count at
// a time per edge, not one per request). On Pebble the count is a key
// rewritten in the same batch as the like row, under the post's stripe
// lock, so it is exact by construction.
//
// Idempotent creates: an Idempotency-Key is stored per (author, key) for
// 24 hours, naming the post it made; a retry answers 200 with that post and
// writes nothing. A comment's key is stored per (author, post, key) the
// same way: a retry answers 200 with the first comment and writes nothing
// (no second comment event, so no second notification). A retry with
// another body is still a retry: it answers what the first request made.
package posts
