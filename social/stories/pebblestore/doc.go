// Package pebblestore is the stories.Store on the embedded Pebble database
// the edge opens at DATA/social, shared by every social service, each
// under its own key prefix; this one's is "s/".
//
// Keys (ids and times big-endian, so keys sort by them):
//
//	s/st/<story>                    story (JSON, with its hide-from list and key)
//	s/own/<owner><story>            an owner's stories, oldest first (empty value)
//	s/exp/<expires ms><story>       the expiry index the sweep walks (empty value)
//	s/idem/<owner><key>             Idempotency-Key -> story id (JSON)
//	s/view/<story><viewer>          first view (JSON time)
//	s/seen/<viewer><story>          the viewer's seen mark (empty value)
//	s/like/<story><user>            like (JSON time)
//	s/liked/<user><story>           the user's liked mark (empty value)
//	s/likers/<owner><user>          an owner's liker, until when (JSON)
//	s/lexp/<until ms><owner><user>  the likers' expiry index (empty value)
//	outbox/<event id>               events.OutboxKey: the event, in the data's batch
//
// # Expiry
//
// Pebble has no TTLs. Every read judges a story by its ExpiresAt against
// Config.Now (an expired row still on disk is stories.ErrExpired), and
// Sweep reclaims: it walks s/exp/ up to now and, for each story, deletes
// in one batch its row, list and index entries, its key (if the key still
// names it), and every view, seen mark, like and liked mark (found by
// scanning s/view/<story> and s/like/<story>, whose mirrors it deletes by
// key). Then it walks s/lexp/ and deletes the likers whose time is over;
// a liker renewed by a later like has a later entry, and its older entry
// is dropped without touching the row. The service runs Sweep from
// RunSweeper.
//
// # Atomicity
//
// One process owns the database, so a read-then-write under a mutex is a
// compare-and-set. Two stripes of 64 mutexes: by owner (creates with their
// Idempotency-Key check, likes' likers rows, the sweep) and by story
// (views, likes and unlikes against the sweep). Calls that take both take
// the owner's first, so there is no deadlock. A view or like re-reads its
// story under the story's mutex, so none lands on a story the sweep has
// deleted (which would leave rows nothing reclaims).
package pebblestore
