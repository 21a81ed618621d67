// Package stories is the stories service (issue #12): a user posts one of
// their own uploads (an image or a video) with an optional caption, and
// it is shown for Config.TTL (24 h), then gone everywhere.
//
// Routes (Register): POST /v1/stories {media_id, caption?, hide_from?}
// (Idempotency-Key replays the same story), GET /v1/stories/{id},
// POST /v1/stories/{id}/view, GET /v1/stories/{id}/viewers (owner only),
// PUT/DELETE /v1/stories/{id}/like, GET /v1/stories/feed (the tray: one
// entry per followee with live stories the viewer may see, unseen authors
// first, then by newest story) and GET /v1/users/{id}/stories.
//
// # Expiry
//
// A story, its place in its owner's list, its views, likes and
// Idempotency-Key live exactly until its ExpiresAt. Reads judge that by the
// clock (a row still on disk past its time is gone to every reader), and
// the space is reclaimed by the store: Cassandra writes every row of a
// story USING TTL its remaining lifetime, in tables of their own
// (schema/cql/0009_social_stories.cql); Pebble, which has no TTLs, keeps an
// expiry index that Service.RunSweeper walks (the store's Sweep), deleting
// each expired story and everything under it in one batch.
//
// A missing story whose id is older than the lifetime is answered 404
// story_expired rather than not_found: ids are time-ordered, so the service
// can tell an expired story from one that never existed even after the
// database forgot it (a made-up old id is told the same, which reveals
// nothing).
//
// # Likers
//
// Each owner has a set of "likers", the users who liked any of their
// stories in the last 30 days (the store's LikersTTL, renewed by every
// like, kept through unlikes); a new story's story.created event names
// them (at most Config.MaxLikers), so notify can tell them, but never the
// users the new story is hidden from: a notification would reveal it. The
// set outlives the stories on purpose.
//
// # Events
//
// story.created {story_id, likers} To=[]; story.like {story_id, owner}
// To=[owner] (none when liking your own). Each is written to the outbox in
// the same batch as its data, and only when the write changed something
// (a replayed create, a repeated like, views and unlikes write none).
package stories
