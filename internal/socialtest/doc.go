// Package socialtest holds the test helpers shared by the social services'
// tests (social/...): the header authenticator the service tests plug in,
// a JSON request helper, fresh databases (Pebble in a temp folder, a
// Cassandra keyspace with the schema applied as production applies it),
// outbox readers for both, and the ledger a conformance suite keeps of the
// events a case built and expects.
//
// Real databases only: there is no fake store here. The Cassandra helpers
// go through internal/cassandratest, so a missing node skips the test, or
// fails it under CI=true.
//
// Outbox readers are plain functions, func(ctx) ([]events.Event, error),
// the shape every suite's Backend.Outbox has: a backend's test plugs
// PebbleOutbox or CassandraOutbox in as they are. Both check every event
// is stored where the relay will look for it (its key, or its shard and
// id), so a misplaced event fails the reading case.
package socialtest
