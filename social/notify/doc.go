// Package notify is the notification service (issue #12): a durable
// consumer ("notify") turns follow, like, comment, mention, story.like,
// story.created and chat.message events into grouped notifications for
// their recipients, served under /v1/notifications and pushed live.
//
// # Grouping
//
// Notifications of one kind on one object are one group per recipient
// ("A and 3 others liked your post"): likes, comments and mentions of a
// post (post:<id>), follows (user:<recipient>), likes of a story and new
// stories (story:<id>), messages of a conversation (conversation:<id>). A
// group keeps its up to RecentActors latest distinct actors, the exact
// number of distinct actors (a set of actor rows per group, not a
// counter), its first and last activity times, and Pos, its activity id.
//
// Every new activity gives the group a fresh Pos, a social/ids id raised
// above the recipient's highest Pos and read mark (the store does this
// under the recipient's lock, so clock skew between edges cannot put new
// activity below what a client has already seen). The list is in Pos
// order, newest first, and the cursor is a Pos.
//
// # Read and unread
//
// The read state is one mark per recipient, not a flag per group: a group
// is read when its Pos is at or below the mark. POST
// /v1/notifications/read {"upto": "<activity_id>"} takes an item's
// activity_id (its Pos; the top item's marks everything read) and raises
// the mark to it, clamped to the recipient's highest Pos, so a mark never
// covers activity that does not exist yet. New activity on a read group
// gives it a Pos above the mark: it reopens as unread and moves to the
// top. The unread count is computed, exact, as the number of groups above
// the mark within the bounded set of groups (at most MaxPerUser): no
// counter, nothing to keep in step, and a read mark is a single write that
// needs no lock. See the stores for how each counts.
//
// # Idempotency and live delivery
//
// Each Apply records (recipient, event id) in the same batch as the
// group, so a redelivered event finds it and writes nothing. Every new or
// updated group writes, in that batch, an outbox event "notification" To
// the recipient with the group's JSON as Data; the push gateway delivers
// it to the recipient's sockets.
//
// # Bounds
//
// Each recipient keeps at most MaxPerUser groups: when a new group opens
// beyond that, the oldest (lowest Pos) are deleted with their actor rows
// in the same batch. Cassandra rows also live 30 days after their last
// write (TTL).
package notify
