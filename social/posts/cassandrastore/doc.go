// Package cassandrastore is the posts.Store on Apache Cassandra (through
// github.com/apache/cassandra-gocql-driver/v2), over the tables of
// schema/cql/0007_social_posts.cql.
//
// # Posts: compare-and-set rows, then a batch
//
// The posts table is written by lightweight transactions only: a create
// is INSERT ... IF NOT EXISTS, an edit a compare-and-set on the editable
// columns as the editor read them (IF deleted = false AND text = ? AND
// media = ? AND ...), a delete IF deleted = false, an archive IF deleted =
// false AND archived = ?. A LOGGED batch cannot hold a compare-and-set
// across partitions, so the rest of the write (the timeline row and the
// outbox rows of its events) is a LOGGED batch written after the
// transaction applied. A crash between the two loses the events (and, for
// a create, the timeline row); a retry finds the post written and writes
// nothing more. The transactions are not marked idempotent: a driver retry
// of one that applied would answer "not applied" and be mistaken for
// someone else's write.
//
// Idempotency-Key: posts_idempotency (author, key) -> post id, INSERT ...
// IF NOT EXISTS USING TTL 24 h. The request that claims the key writes the
// post under its id; a request that finds the key held by post P reads P:
// there, it answers with it (created=false); missing (the first request is
// in flight, or died before its insert), it tries to create P itself with
// INSERT ... IF NOT EXISTS, so exactly one request creates P and writes
// its events, and every other one answers with the post that won.
//
// A comment's Idempotency-Key is claimed in the same table, per (author,
// "comment <post id> <key>"), the row's post_id holding the comment id (an
// Idempotency-Key has no space, so no post create's key is ever a
// comment's; a table of their own would need a migration). Comments are
// plain rows, so a request finding the key held cannot race the holder
// with IF NOT EXISTS as a post create does; it follows the stories and
// chat direct-pair protocol instead: the holder's comment there answers
// (created=false); missing, the claim is in flight for ClaimGrace after
// the comment id's time (the id's 41 time bits: the claim has no column
// of its own), and the request waits ReplayWait for the comment, then
// answers posts.ErrBusy; older, the add died before its batch (or the
// comment was deleted since) and the request takes the claim over (UPDATE
// ... IF post_id = the stale one) and writes its own comment. So one add
// per key writes its comment and events.
//
// # Likes and comments: rows, counted exactly
//
// No counters. A like is a row in post_likes, partition (post_id, user_id %
// 16), written plainly in the LOGGED batch of its event after a point read
// found none (an unlike deletes it likewise): every write is idempotent,
// and 10,000 likes a second on one post spread over 16 partitions. The
// count is SELECT COUNT(*) over the 16 partitions (one IN query): exact as
// soon as the writes were acknowledged, with nothing cached. Concurrent
// counts of one post on one edge share a query, but only one that starts
// after they asked (count.go): at 10,000 likes a second an edge runs one
// COUNT(*) of the post at a time, and every answer still includes every
// write acknowledged before its request. Two requests
// of the same user racing past the point read both write the same row and
// both events go out; the count stays exact. Comments are the same, shard
// comment_id % 16; a page oldest first merges the shards by comment id.
//
// # Timelines
//
// posts_by_author, partition (author, post_id >> 54: ~50 days of ids),
// newest first; posts_author_buckets lists an author's buckets so a read
// steps from one non-empty bucket to the next.
package cassandrastore
