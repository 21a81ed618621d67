// Package cassandrastore is the stories.Store on Apache Cassandra (through
// github.com/apache/cassandra-gocql-driver/v2), over the tables of
// schema/cql/0009_social_stories.cql.
//
// # Expiry
//
// Every row of a story (stories, stories_by_owner, story_idem,
// story_views, story_seen, story_likes, story_liked) is written USING TTL
// the whole seconds left until its ExpiresAt, rounded up, so all of it
// vanishes together and compaction reclaims it (the tables are TTL'd
// tables of their own, with default_time_to_live, time-window compaction
// and a short gc_grace_seconds). There is nothing to sweep. Reads also
// judge by expires_at against the client's clock, so a row the server has
// not dropped yet (clock skew, TTL rounding) is still gone
// (stories.ErrExpired). Likers (story_likers) are written USING TTL
// Config.LikersTTL at every like: they outlive the stories.
//
// # Writes
//
// A create is one LOGGED batch (story, owner's row, story.created outbox
// row). With an Idempotency-Key it first claims (owner, key) in story_idem
// with INSERT ... IF NOT EXISTS; a retry finding the claim returns its
// story, waits ReplayWait for one in flight (then stories.ErrBusy), or
// takes over a claim older than ClaimGrace whose story never came (its
// create died before its batch) with UPDATE ... IF story_id = ?.
//
// A view is a plain LOGGED batch (story_views and story_seen) USING
// TIMESTAMP 2^53 minus the view's time in microseconds: the earliest view
// has the highest timestamp and wins, so "the first view's time is kept"
// needs no read and no lightweight transaction, and a repeat is harmless.
//
// A like reads its row and, when there is none, writes story_likes,
// story_liked, the owner's liker and the story.like outbox row in one
// LOGGED batch. Design note: two likes by the same user of the same story
// racing each other may both pass the read and tell the owner twice; the
// rows are the same either way. A lightweight transaction would make the
// event exact but cannot share a batch with the outbox row, trading a
// rare duplicate notification for a possible lost one; we keep the
// duplicate (consumers are at-least-once anyway).
package cassandrastore
