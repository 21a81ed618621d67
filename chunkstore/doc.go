// Package chunkstore stores files as fixed-size chunks in a database
// (Cassandra or an embedded Pebble, behind the small Backend interface) and
// reads them back as io.ReaderAt/io.ReadSeeker.
//
// The model, shared by every backend:
//   - A file is immutable and identified by 128 random bits (NewID). Its
//     bytes are chunks (id, idx) of Config.ChunkSize (the last one shorter),
//     each stored with its CRC32C; its metadata is one files row.
//   - Writes put the chunks first (WriteConcurrency in flight, memory bounded
//     by that many chunks) and the files row last: the row is the commit
//     point, so a crash never leaves a half file visible — only unreferenced
//     chunks, which the sweeper or a retry overwrites.
//   - Reads fetch only the chunks a range touches, with ReadAhead chunks
//     prefetched for sequential readers, and check every CRC: a damaged
//     chunk is ErrCorrupt, never wrong bytes. WriteTo streams whole chunks
//     and, on a backend that reads into a caller's buffer
//     (ChunkIntoGetter), recycles their memory.
//   - Deletes mark the row deleting (reads stop at once); chunks, then the
//     row, go in the background, finished by the sweeper after a crash.
//   - Uploads (tus sessions) write their chunks under their own id, which
//     becomes the media id: finishing writes only the files row. The durable
//     offset in the uploads row is the truth: a tail chunk may hold bytes past
//     it (a discarded append) which readers ignore, so an append never has to
//     undo a chunk it rewrote. The SHA-256 state at the offset is kept in the
//     row so finishing a multi-GB upload never reads it back.
//   - A read error on an append (client gone) keeps the bytes received, as
//     tusd does; a failed Verify (tus checksum) or an overflow keeps none
//     (an overflow's checkpoints are undone: the offset goes back to where
//     the append began).
//   - Checkpoints: an Append without Verify makes its offset durable every
//     4 x WriteConcurrency full chunks (16 MiB by default) and at its end,
//     not after every chunk: each checkpoint waits for the chunks in flight
//     and, on the embedded backend, costs two fsyncs (blob and WAL), too
//     many to pay per MiB. A crash loses at most the bytes since the last
//     checkpoint; the client resumes from the durable offset (tus HEAD).
//     No checkpoint lands on the upload's length: only the stream's end
//     tells a body that fills the upload from one a byte too long.
//   - One writer per upload, across a fleet: every change of an uploads
//     row is a compare-and-set on its version (Cassandra: lightweight
//     transactions only, never mixed with plain writes on that row). An
//     Append takes the row's writer lease in one such CAS before it reads
//     a byte, renews it every LeaseTTL/3 while it writes, and advances the
//     offset and lets it go in one more; every chunk write carries the
//     lease's fence, which a backend never lets an older fence overwrite
//     (embedded: refused; Cassandra: the fence is the cell timestamp). So
//     of two Appends at one offset exactly one writes (the other is
//     ErrLocked or ErrOffsetMismatch with nothing written), and a holder
//     that lost its lease keeps nothing. A crashed holder's lease lapses
//     after LeaseTTL. Per Append on Cassandra: one read and two LWTs (plus
//     one per checkpoint, and one per LeaseTTL/3 of a slow body). See
//     lease.go. In one process a busy map refuses overlapping calls early
//     (ErrLocked) without asking the database.
//   - Commit against termination: FinishUpload first moves the row to
//     finishing by a compare-and-set that a held lease refuses, then writes
//     the files row, then marks it finished; Terminate holds the lease while
//     it deletes and refuses a finishing row. So a commit and a termination
//     on two edges never both go through: the upload ends a whole file or
//     gone, never a files row over deleted chunks. A commit cut short (the
//     finisher died) is completed by the next FinishUpload.
//   - Expiry: an upload row lives UploadTTL after its last activity, then
//     GetUpload says ErrNotFound and the sweeper removes it: with its chunks
//     when unfinished or a concatenation part, without them when it became a
//     file (the file stays until deleted; for a finishing row, when its files
//     row was written). Removing one first moves its row to purging by a
//     compare-and-set on the version the sweep judged: a row that changed
//     since (a commit that came in between) is left alone with its chunks,
//     and once purging, no Append or FinishUpload goes through. So a sweep
//     and a commit never leave a files row over deleted chunks either.
//
// Backends implement the Backend interface (backend.go) and may add the
// optional ChunkRangeDeleter when they can drop an id's chunks at once. The
// storetest package is the conformance suite every backend runs.
package chunkstore
