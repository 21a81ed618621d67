// Package storiestest is the conformance suite every stories.Store runs
// (Run): the same cases against the Pebble and the Cassandra stores, so
// both keep the semantics stories.Store documents. Real databases only:
// Pebble on a temp folder, Cassandra on a keyspace that cases may share.
//
// Cases never assume an empty database: every user, story and event id
// comes from a social/ids generator on a random node, and every check reads
// only what the case made.
//
// Every case checks the outbox too: a write that changes something adds
// exactly its event, in the same batch, and one that changes nothing (a
// repeated like, a replayed create, a write on an expired story) adds none.
//
// Expiry is tested for real: a story made to live ExpiryTTL (2 s, since
// Cassandra's TTLs are whole seconds) is waited out (Backend.Wait: a real
// sleep on Cassandra, a clock moved on Pebble), then must be gone from
// every read, and — after a Sweep where the store is a stories.Sweeper —
// its views and likes too, while the owner's likers remain.
//
// The tray (GET /v1/stories/feed) is checked through a stories.Service on
// the backend's store, so its ordering and hide-from filter are proven on
// both databases.
package storiestest
