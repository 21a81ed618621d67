// Package push is the live push gateway (issue #10): one WebSocket per
// client, a per-user update stream with a monotonic sequence, resume after
// a reconnect, bounded send queues and pings, and a Pusher for users with
// no socket.
//
// # The model
//
//	event stream SOCIAL_EVENTS ── durable consumer "push-fanout" (every edge shares it)
//	      │ one update per user in Event.To, Nats-Msg-Id "<event id>/<uid>"
//	      ▼
//	stream SOCIAL_UPDATES, subject social.updates.<uid>, MaxMsgsPerSubject, MaxAge
//	      │ RePublish by the stream leader, in stream order:
//	      │ social.live.<uid> + Nats-Sequence (seq) + Nats-Last-Sequence (the user's previous seq)
//	      ▼
//	each edge: one core-NATS subscription per connected user, all on one channel
//	      │ dispatcher: uid -> sockets, non-blocking offer to each socket's queue (256)
//	      ▼
//	socket writer goroutine ── frames ──▶ client
//
// An update's seq is its sequence in SOCIAL_UPDATES: monotonic per user
// but not contiguous (other users' updates sit between), so a client must
// compare, never count. The fan-out acknowledges an event only after every
// recipient's update is stored (commit after effect); a re-delivered event
// stores nothing twice within DuplicateWindow.
//
// # Protocol (a contract, see DESIGN.md)
//
//	POST /v1/ws/ticket   Authorization: Bearer <session> -> 201 {"ticket","expires_at"}
//	GET  /v1/ws?ticket=  -> the socket (401 JSON before the upgrade on a bad ticket)
//
// Client frames: {"type":"hello","since":N} first (since omitted: live
// only), {"type":"ping"} (answered {"type":"pong"}). Server frames:
// {"type":"update","seq":N,"kind":"follow","event":"<id>","actor":"<id>","at":...,"data":{...}},
// {"type":"resync"} (the stream no longer holds everything after since:
// reload state over the REST API, then carry on from the next update),
// {"type":"ready","seq":N} once the replay is done and the socket is live
// (seq omitted when it has no base). A signal (Handler.Signal: typing) is
// an update with no seq, sent to the sockets connected at that moment and
// stored nowhere: it is never replayed and must not move a client's since.
// Without a hello the socket goes live after HelloWait. Close codes: 1008
// slow consumer, a late hello or the user's sessions revoked ("sessions
// revoked": reconnect with a new ticket), 1009 a frame over ReadLimit
// (4 KiB), 1007 malformed JSON, 1003 a binary frame or an unknown type,
// 1013 the stream is unavailable, 1001 shutdown. A dead
// peer (no pong within PongTimeout) and a peer that does not read for
// WriteTimeout are closed without a close frame.
//
// # Replay, then live, with no gap and no duplicate
//
// A socket registers in the hub (and the subscription is flushed to the
// server) before the replay reads the stream. An update stored before the
// read is in the replay; one stored after it is republished after the
// subscription exists, so it is in the queue. The writer remembers the
// last seq it sent and drops queued updates at or below it: the overlap is
// removed by seq at the switch. Live updates carry the user's previous seq;
// when that is past the last one sent, the socket missed something (NATS
// dropped messages on a full LiveBuffer, or a republish was lost) and reads
// the gap back from the stream before going on. That check needs a next
// update, so drops are also caught as they happen: NATS reports a slow
// consumer on the user's live subscription to the connection's error
// handler, and the gateway gives the user a fresh subscription (NATS
// reports a subscription once until a message gets through again), flushes
// it, and has the user's sockets read the stream from their last seq. A
// socket with no base yet (live only, no update so far) has nothing to
// read from and takes the next update. Republishing by the stream
// leader is what keeps live updates in stream order on a fleet: if each
// fan-out worker announced its own publishes, two edges could announce one
// user's updates out of order.
//
// A since is too old (resync) when since+1 is below the stream's first
// sequence (MaxAge or a recreated stream), above its last, or when the user
// is at MaxPerUser and since is below their oldest kept update. The last
// check errs safe: a client whose own last-seen update was dropped, and
// nothing after it, is told to resync though it missed nothing.
//
// # Cost per connection (100k sockets)
//
// Two goroutines per socket (the writer is the HTTP handler's own, plus a
// reader), a 256-slot queue of pointers to shared frames (2 KiB), the
// hijacked connection's buffers, no compression context, no timer
// goroutine (coder/websocket uses context.AfterFunc). Per connected user
// one core-NATS subscription, delivered through nats.go's ChanSubscribe to
// one process-wide channel: no goroutine per subscription, and NATS routes
// a user's updates only to the edges that hold one of their sockets (a
// process-wide wildcard would carry every user's updates to every edge).
// JetStream is touched only to catch up: a stream-info request and one
// direct get per replayed update, no server-side consumer per socket.
// Estimated, not measured: some 20-30 KiB per idle socket, mostly stacks
// and buffers.
//
// # Tickets
//
// The socket URL carries a ticket, never the session: base64url of user id,
// expiry (TicketTTL, 30 s), a 128-bit random nonce and an HMAC-SHA256 over
// them with Config.TicketKey. Any edge with the key verifies it without a
// store lookup; OldTicketKeys allows rotation. A redeemed nonce is kept
// until its ticket expires (MaxUsedTickets bounds the set; full, upgrades
// fail closed with 503), so a ticket opens one socket per process.
// Residual risk, stated: within its 30 s, a stolen ticket could be used once
// on each other edge of the fleet (used nonces are not shared), and a
// ticket logged by a proxy is usable until then if not yet used.
//
// # Revocation
//
// A ticket carries a tag of the login it was issued to, when the
// Authenticator names one (SessionAuthenticator; users gives
// 64 bits of a hash of the session's stored hash), and the socket keeps
// it. The accounts service, through a Closer, publishes a revocation on
// one fleet-wide core-NATS subject (SubjectPrefix.revoke) that every
// gateway subscribes to: a logout ends its own login (1008 "session
// ended"); a password change every login of the user but the requester's,
// a log-out-everywhere all of them (1008 "sessions revoked"). Each edge
// closes the matching sockets it holds and, for one TicketTTL, refuses the
// matching tickets issued before the revocation (401 session_revoked), so
// a ticket fetched just before a logout opens nothing after it. The
// remembered revocations are bounded (MaxUsedTickets users); past that,
// every ticket issued before the newest one is refused, whoever's, and
// clients ask for a fresh ticket (fail closed). Residual risk, stated: a
// revocation lost on the way (core NATS, at most once) leaves that edge's
// sockets open until they end otherwise, and a ticket of the format before
// session tags (a rolling upgrade's, 30 s) ends only with a user-wide
// revocation.
//
// # Offline devices
//
// After storing an event's updates the fan-out queues one offline push per
// recipient (PushQueue, 10000) and acknowledges the event: it never waits
// for the Pusher, whose webhook may take 26 s with its retries, so a slow
// or down receiver delays no one's live updates and has no event delivered
// again or dead-lettered. PushWorkers (8) serve the queue: each asks
// whether any edge holds a socket of the user (a core-NATS request on the
// user's live subject, answered by every edge subscribed there; no
// subscriber is NATS's immediate "no responders"), and hands users with
// none to the Pusher (Webhook: POST with a timeout, retries on errors, 429
// and 5xx, Idempotency-Key event/user). A push that finds the queue full
// is dropped and counted (Stats.PushDropped, logged at most once a
// second), and so is one still queued when Close has waited PushCloseWait.
// A Pusher error after its own retries is logged and counted, not retried
// with the event. Neither loses the update: it is in the stream, and the
// device reads it when it connects.
//
// One activity is one push. The kinds social/notify turns into
// notifications (follow, likes, comments, mentions, story likes and new
// stories, chat messages) reach an offline user as the "notification"
// event notify builds, so the fan-out pushes only that; every other kind
// (chat's member and conversation changes) is pushed as it is. The rule
// is pushesOffline, in fanout.go.
//
// # Why coder/websocket and our own protocol, not centrifuge
//
// centrifugal/centrifuge gives a hub of clients and channels, its own
// protocol (JSON or protobuf) with client SDKs for the browser and mobile,
// history with offset/epoch recovery per channel, presence, and brokers
// (in-memory, Redis, NATS without history). Its recovery is what we need,
// but it keeps history in its own broker (Redis streams or memory) with its
// own epoch; our per-user stream already lives in JetStream, durable,
// replicated and de-duplicated, written by a consumer of the same event
// backbone. Adopting it would mean a second history (or a custom broker
// mapping offsets to JetStream sequences), its protocol and SDKs as the
// public contract instead of the frames DESIGN.md fixes, and a dependency
// larger than this package. What we take from it: one writer per client
// with a bounded queue that disconnects a slow client, closes with a
// reason, recovery as "replay after offset or tell the client to start
// over" (its recovered=false is our resync), and pings from the server.
// coder/websocket is a small, context-based WebSocket library with read
// limits, concurrent-safe writes, Ping and close handshakes done right.
package push
