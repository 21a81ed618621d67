// Package cassandrastore is the chat.Store on Apache Cassandra (through
// github.com/apache/cassandra-gocql-driver/v2), over the tables of
// schema/cql/0006_social_chat.cql.
//
// # Three kinds of rows
//
// Plain rows (conversations, members, user lists, pins, hidden, media) are
// written in LOGGED batches that hold the outbox row of their event
// (events.AddCassandra): all or none, even if the coordinator dies. Rows
// that need a compare-and-set (chat_messages, chat_sends, chat_direct)
// are written by lightweight transactions only, never plainly: a plain
// write's client timestamp and a Paxos ballot do not order against each
// other. Rows that only rise (chat_tails, chat_marks, chat_pushed) are
// plain cells written USING TIMESTAMP the seq they carry: the highest
// seq wins whatever order writes land in, and such a write still fits in
// a LOGGED batch. They are never written with a wall-clock timestamp.
//
// # Send
//
// Messages live in chat_messages, partition (conv_id, seq / BucketSize).
// A message is claimed with INSERT ... IF NOT EXISTS at seq N, and N is
// tried only when N-1 is known to exist: N starts at the tail's last_seq +
// 1 (a finalized message's seq: it exists, though it may lag); a claim not
// applied at N proves N exists, so N+1 is next; every few misses a serial
// read of the bucket's last seq (and of the next bucket while one is full)
// jumps to the true end. A claim whose outcome is unknown (a timeout) is
// settled by a serial read of its row, which completes a round that was
// accepted. So seqs are gap-free and each is assigned once, across any
// number of edges.
//
// A client message id must never make two messages. chat_sends, one row
// per (conv_id, sender, client_msg_id), lightweight transactions only, USING
// TTL SendTTL (24 h):
//
//  1. INSERT ... IF NOT EXISTS a pending row: msg_id, a random attempt id,
//     the hint the claim starts from, deadline = now + SendTimeout, seq 0.
//  2. The owner claims a seq (above), starting no claim after deadline -
//     ClaimMargin (its context's deadline). The margin covers a Paxos
//     round that outlives its client (the server retries under contention
//     up to its CAS and write timeouts) and the clock skew between edges.
//  3. It builds the event and records seq and event in the row: UPDATE ...
//     IF attempt = ours AND seq = 0.
//  4. It writes the finalize batch (LOGGED): the tail (USING TIMESTAMP
//     seq), the sender's read and delivered marks (likewise), the media's
//     chat_media rows, chat_sends_done, and the event's outbox row.
//
// A request finding the row:
//
//   - seq > 0: a retry of a send that claimed. It returns the stored
//     message (created=false), after writing the finalize batch again,
//     with the event stored in the row (the same event id), unless
//     chat_sends_done shows it applied: a crash between 3 and 4 is healed.
//   - pending, before its deadline: chat.ErrBusy.
//   - pending, past its deadline: the attempt died, or will start no other
//     claim. A serial read of the history from the row's hint on (which
//     completes any round in flight) looks for its msg_id. Found: it
//     records that seq and the event (IF attempt = the dead one AND seq =
//     0, the attempt id kept) and finalizes, created=true; a crash between
//     2 and 3 is healed. Not found: it takes the row over (IF attempt =
//     the dead one AND seq = 0) with its own attempt, deadline and msg_id,
//     and claims.
//
// Exactly one call reports created=true for a message: the one whose event
// is in the row. An owner that claimed but lost step 3 to a retry that
// found its message (after the deadline) finishes with the retry's event
// and answers created=false.
//
// Why 3 is a compare-and-set and 4 a batch: chat_sends must stay LWT-only,
// and a LOGGED batch cannot hold a compare-and-set across partitions. Step
// 3 is the fence: an attempt whose row was taken over (its claim landed
// after the margin, against the protocol's timing assumption) fails it,
// and blanks its message (deleted, empty text, no media, IF msg_id = its
// own), so the seq stays and no second copy shows. If that process dies
// in that very window the copy stays: the one double fault not covered.
// A retry after SendTTL is a new message. A send without a client
// message id skips chat_sends (nothing to de-duplicate on); a crash
// between its claim and its batch leaves a message without tail, marks or
// event until the next message raises the tail.
//
// # Other compare-and-sets
//
// A direct pair is claimed in chat_direct (INSERT ... IF NOT EXISTS), then
// the conversation, both memberships and the event are one batch. A claim
// whose conversation has not appeared ClaimGrace after it is stale (its
// create died) and is taken over (UPDATE ... IF conv_id = the stale one);
// a batch refused outright releases the claim. As in the users store, a
// batch of unknown outcome keeps its claim: the batchlog may still apply
// it.
//
// A group create's Idempotency-Key is claimed the same way, in a
// chat_sends row of conversation 0 (no conversation has that id, so no
// send meets it): (0, creator, key), INSERT ... IF NOT EXISTS USING TTL
// SendTTL, msg_id and attempt the group's id, deadline the claim's time
// plus ClaimGrace, seq 0. A table of its own would need a migration; this
// row is a pending send that never finishes, with chat_sends' own rules
// (lightweight transactions only, every column rewritten with the TTL).
// The group's conversation row (written last, with the event) proves the
// create done: a retry finding it answers with the group (created=false);
// finding none before the deadline waits ReplayWait, then chat.ErrBusy;
// after the deadline it takes the row over (UPDATE ... IF attempt = the
// stale one AND seq = 0) and creates its own group. A batch refused
// outright releases the key, as for a pair.
//
// An edit is UPDATE ... IF deleted = false AND sender = ?, a delete UPDATE
// ... SET deleted = true, text and media emptied, IF deleted = false, so an
// edit racing a delete never brings back a part of the row. Their events
// follow in a batch of their own (the message row cannot share a LOGGED
// batch with a compare-and-set): a crash between the two loses the event.
// A retried edit applies again and writes it; a retried delete finds the
// message deleted and writes none.
//
// PushedSeq is chat_pushed, raised by a plain write USING TIMESTAMP seq.
//
// # Marks and read-then-write
//
// SetMark reads the mark and writes the cell USING TIMESTAMP seq only if
// it rises: the mark can never go down, and a seq at or below it writes no
// event. Two raises racing past one read both write their events (each
// raised the mark it read); consumers keep the highest. Pin, Unpin,
// HideMessage, SetRole and RemoveMember are read-then-batch the same way:
// concurrent duplicates write the same rows and the same kind of event.
// Plain writes of one row from two edges order by client timestamp, so
// edges need NTP, as for the users store.
//
// # Bounds
//
// AddMembers counts, then writes: the member cap is soft (concurrent adds
// may pass it by a few). Groups over BatchMembers are written in several
// batches, the conversation and the event last. Partitions are bounded as
// the CQL file says: 1,000 messages per bucket, 1,000 members per
// conversation.
package cassandrastore
