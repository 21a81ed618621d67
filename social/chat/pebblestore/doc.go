// Package pebblestore is the chat.Store on the embedded Pebble database the
// edge opens at DATA/social, shared by every social service, each under its
// own key prefix (users "u/", the outbox "outbox/"); this one's is "c/".
//
// Keys mirror the Cassandra tables (ids big-endian, so keys sort as ids and
// a conversation's rows are one contiguous range):
//
//	c/conv/<conv>                       conversation (JSON, with its tail)
//	c/pair/<lo><hi>                     a direct pair's conversation id (JSON)
//	c/gkey/<creator><key>               a group create's Idempotency-Key: the group and when (JSON; ignored after IdempotencyTTL, deleted by SweepIdempotency)
//	c/mem/<conv><user>                  member (JSON: role, joined, marks)
//	c/ucv/<user><conv>                  a user's conversations (empty value)
//	c/msg/<conv><seq>                   message (JSON)
//	c/cmid/<conv><sender><client id>    client message id -> seq (JSON)
//	c/hide/<conv><user><seq>            hidden for one user (empty value)
//	c/pin/<conv><seq>                   pin (JSON: by, at)
//	c/media/<conv><media id>            media sent in the conversation (empty value)
//	c/pushed/<conv>                     live delivery cursor (JSON seq)
//	outbox/<event id>                   events.OutboxKey: the event, in the data's batch
//
// Every write is one *pebble.Batch holding the data and its event
// (events.AddPebble), committed with a WAL sync (Config.Sync), so an
// acknowledged write and its event survive power loss together, or neither
// exists.
//
// # Atomicity
//
// One process owns the database (Pebble locks its folder), so a
// read-then-write under a mutex is a compare-and-set. Every write to a
// conversation (its header, members, messages, pins, cursor) takes the
// conversation's mutex, one of a stripe of 64 picked by the conversation
// id; creating a direct conversation takes the pair's, creating a group
// with an Idempotency-Key the creator's (the new conversation's id is
// known to nobody else yet). No call holds two mutexes, so there is no
// lock order to keep.
//
// That one mutex is what makes Send's seq gap-free and assigned once: under
// it Send reads the client message id index (a retry returns the stored
// message and writes nothing), reads the conversation's LastSeq, and
// writes the message at LastSeq+1 with the index, the raised tail, the
// media it used, the sender's raised marks and its event, in one batch.
// The tail therefore only rises, and ErrBusy never happens here: a second
// send of the same client id waits for the first and returns its result.
//
// Design note: one mutex per conversation serialises its sends, and each
// holds it across a WAL fsync, so one conversation takes a few hundred
// sends a second on a disk with a fast fsync. That is far above what a
// conversation sees; a counter handed out outside the lock would raise it
// but leave a gap whenever a write after it failed, which the contract
// forbids. Reads take no lock: Pebble's reads see whole batches.
package pebblestore
