// Package pebblestore is the posts.Store on the embedded Pebble database,
// under the key prefix "p/".
//
// Keys (ids big-endian, so keys sort by id):
//
//	p/post/<post>                the post row (JSON)
//	p/idem/<author><key>         an Idempotency-Key: the post it made and when (ignored after IdempotencyTTL, deleted by SweepIdempotency)
//	p/tl/<author><post>          the author's timeline (scanned backwards: newest first)
//	p/like/<post><user>          a like (its time)
//	p/nlike/<post>               the post's like count (8 bytes)
//	p/cmt/<post><comment>        a comment (JSON)
//	p/cidem/<post><author><key>  a comment's Idempotency-Key: the comment it made and when (ignored after IdempotencyTTL, deleted by SweepIdempotency)
//	p/ncmt/<post>                the post's comment count (8 bytes)
//
// Every read-then-write of a post (its row, likes, comments and counts)
// runs under the post's stripe mutex and commits one batch holding the
// data, the count and the events, so counts are exact: a like and its
// count change together or not at all. Post idempotency keys are guarded
// by the author's stripe, comment ones (per post) by the post's.
package pebblestore
