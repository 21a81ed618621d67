// Package chattest is the conformance suite every chat.Store runs (Run):
// the same cases against the Pebble and the Cassandra stores, so both keep
// the semantics chat.Store documents. Real databases only: Pebble on a temp
// folder, Cassandra on a keyspace that cases may share.
//
// Cases never assume an empty database: every user, conversation and event
// id comes from a social/ids generator on a random node, and every check
// reads only what the case made (its conversations, its users, its events).
//
// Every case checks the outbox too: a write that changes something adds
// exactly its event, in the same batch, and one that changes nothing (an
// idempotent repeat, a retried send, a refused write) adds none. The suite
// knows the ids of the events it built, and compares the outbox's events
// of those ids with the ones it expects.
//
// The property the suite guards hardest is Send's sequence: concurrent
// senders, with retries of the same client message ids racing each other,
// get seqs 1..n with no gap and each client id exactly once. A backend may
// answer chat.ErrBusy while a retry's original is in flight; the suite
// retries then, as the service does.
package chattest
