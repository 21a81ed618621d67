// Package events is the social tier's event backbone: every social write
// appends an Event to an outbox in the same store batch as the data, a relay
// publishes the outbox to NATS JetStream (embedded in the binary by default,
// an external cluster with --nats-url), and consumers read durable streams
// at least once through idempotent handlers, with a dead-letter after
// repeated failures.
//
// # The model
//
//	writer ── one synced batch: data + OutboxKey(id) ──▶ store (Pebble or Cassandra)
//	                                                        │ Relay: read in id order,
//	                                                        │ publish async, Nats-Msg-Id = id
//	                                                        ▼
//	             stream SOCIAL_EVENTS, subjects social.events.<kind>, duplicate window 2m
//	                                                        │ durable pull consumers
//	                                                        ▼
//	   Handler(ctx, Event) ── nil: ack ── error: nak + backoff ── MaxDeliver: SOCIAL_EVENTS_DLQ
//
// A write is acknowledged to its client when its batch is durable, and the
// batch holds the event: the event exists if and only if the write does.
// Writers call AddPebble or AddCassandra on their own batch, then
// Relay.Notify. The Relay (one per outbox) reads the outbox, publishes each
// entry with its id as Nats-Msg-Id (at most MaxInFlight awaiting an ack),
// and deletes an entry DeleteDelay after JetStream acknowledged it. After a
// crash it publishes whatever is left; JetStream drops the ones it already
// holds (same Nats-Msg-Id within its duplicate window). Consumers
// (Bus.Consume) are durable pull consumers: their cursor lives in
// JetStream, so a restarted consumer resumes at the first event it did not
// acknowledge.
//
// # Why JetStream and not a log of our own
//
// The outbox already is a durable log, and Pebble could carry cursors too.
// What it would not give: delivery to other processes and other edges,
// per-consumer cursors with ack, redelivery timers, backoff and a cap on
// deliveries, replication (R3 on a cluster, a Raft group per stream),
// retention by age and size, a duplicate window, and tools (the nats CLI)
// to look at all of it. JetStream is all of that, and nats-server is a Go
// library: the single-node default runs it inside the mediaedge process with
// no extra service, and a fleet points every edge at one external cluster
// (Config.URL) with the same code.
//
// # Durability: why an outbox, and what "acknowledged" means
//
// The requirement: an acknowledged event survives power loss, not only
// kill -9, at 50k events/s or more. JetStream alone does not give both. It
// acknowledges a publish once the message is in the operating system's page
// cache and fsyncs every sync_interval, 2 minutes by default, so a power
// loss drops up to 2 minutes of acknowledged messages (nats-server issue
// 7564); with sync_always it fsyncs every message, and publishing drops to
// ~6.6k events/s (measured for the design; 1-3k/s on the 2-core test box).
//
// The outbox moves the fsync to the store the write is in anyway: the
// event rides in the data's batch, and Pebble's commit pipeline shares one
// WAL fsync among all the batches waiting for it (group commit), so many
// concurrent writers pay for few fsyncs. Cassandra's LOGGED batch applies
// the data and the outbox row together, even if the coordinator dies.
//
// That covers the write. JetStream's own unsynced tail is covered by not
// deleting too early: the relay keeps an acknowledged event in the outbox
// for DeleteDelay = 2*SyncInterval+1s, and the embedded server fsyncs every
// SyncInterval (1s here, not 2 minutes). After a power loss the relay
// publishes everything still in the outbox again: what JetStream kept is
// dropped as a duplicate (it rebuilds its duplicate table from the stored
// messages when it starts), what it lost is stored again. So nothing the
// writer was told is durable can be lost, and the stream converges. The
// limits, stated: a restart later than DuplicateWindow after the crash
// stores the retained events a second time (consumers are idempotent, so
// that costs work); a JetStream fsync slower than SyncInterval+1s could
// leave a hole; an external cluster's SyncInterval must be stated in
// Config (set sync_interval there to a few seconds), or 0 to rely on R3
// replication alone.
//
// # Reading the outbox
//
// The relay reads in id order from a cursor. Ids are made before the batch
// commits, and concurrent writers commit out of id order, so an entry can
// appear below the cursor after the relay passed it. Every Sweep the relay
// reads again the ids made in the last Lookback (ids start with their
// millisecond, so this is a key range); every FullScan, and at start, it
// reads everything, and counts what only the full scan found
// (RelayStats.Late). The ids it holds (in flight, or acknowledged and
// waiting for their delete) are skipped, so a re-read costs a key
// comparison, not a publish. Cassandra leaves a tombstone per deleted row
// and fails a read that walks past too many, so a Cassandra outbox keeps a
// floor per shard (table outbox_floor) below which no unseen row exists,
// and full scans start there; the floor never rises above
// now-StragglerWindow (2 minutes: Cassandra's batchlog replays a LOGGED
// batch well within it). A full scan that keeps failing is given up until
// the next one, so it never holds up new events.
//
// # Consumers
//
// A Handler returns nil only once its effect is durable; nil acknowledges
// the event (commit after the effect, never before: committing first loses
// the event when the effect then fails). An error naks it with a backoff;
// on its MaxDeliver-th failed delivery the consumer republishes it to
// DeadLetterSubject.<consumer> with the reason in headers and acknowledges
// it. The server-side MaxDeliver is unlimited on purpose: JetStream's own
// limit stops delivering silently (an advisory only), so the consumer
// counts deliveries itself, and one delivered more than MaxDeliver times
// without an answer (a handler that outlives AckWait, a process that keeps
// dying on it) is dead-lettered without running the handler again.
// Delivery is at least once, so handlers are idempotent by key (a row
// named by the event id, a set membership, a read mark that only rises);
// Dedup.Once skips repeats within a process and nothing more.
//
// Events come through the library's Consume callback, at most Prefetch
// fetched ahead (see the design note on Consumer for why not its Messages
// iterator). With Concurrency 1 the callback runs the handler, in stream
// order; above, it hands each event to a goroutine once one of
// Concurrency slots is free, and while it waits the library pulls no more.
// A handler that runs past AckWait/3 tells JetStream every AckWait/3 that
// its event is in progress, so the event, which may have waited behind
// others since its delivery, is not delivered to someone else meanwhile.
// Close naks the events fetched and not yet handled: they go to the next
// consumer at once instead of after AckWait.
//
// # The embedded server
//
// It runs with DontListen and an in-process connection: nothing is
// reachable from the network (no port to secure or authenticate, no
// collision with another edge on the host), and in-process publishing
// measured the same as loopback TCP within the noise of the test box. Set
// Config.Listen to also serve clients on a port (the nats CLI, a second
// process); a fleet uses an external cluster instead.
//
// # Where data lives
//
//	Pebble:    outbox/<id, 8 bytes big-endian> in the social store's database
//	Cassandra: outbox (0003, and 0004 IF NOT EXISTS), outbox_floor (0004)
//	JetStream: Config.Dir (DATA/nats): streams SOCIAL_EVENTS and
//	           SOCIAL_EVENTS_DLQ, and the consumers' cursors
//
// # Throughput
//
// Measured by bench.Events (`mediaedge bench events`) on the shared 2-core
// test box: durable appends alone 50-57k events/s (256 writers, one event
// per synced Pebble batch, p99 ~30ms); the relay drains 26-34k events/s
// against 33-66k/s for a raw async-publish loop on the same embedded
// server; with both on the same two cores at once, ~12-23k events/s end to
// end; sync_always 1-3k/s. JetStream processes a stream's messages on one
// goroutine, so one stream tops out near the raw-publish rate; more would
// need partitioned streams.
package events
