// Package tus is mediaedge's resumable upload protocol, tus 1.0.0, over the
// chunk store: an http.Handler (mounted by edge at /files/) and a Go client
// (used by `mediaedge upload`).
//
// # Model
//
// An upload is a row in the store's uploads table and the chunks written
// under its id. PATCH appends at the durable offset; when the offset reaches
// the length the handler calls FinishUpload, which writes the file row (the
// commit point), and the upload id becomes the media id: no copy. A
// concatenation part (Upload-Concat: partial) is finished the same way but
// never becomes a file; the final upload (Upload-Concat: final;...) becomes
// the file at once.
//
// Extensions: creation, creation-with-upload, creation-defer-length,
// expiration (the store sets ExpiresAt and sweeps; the handler sends
// Upload-Expires), checksum (sha1, sha256, md5, crc32), termination and
// concatenation. OPTIONS advertises exactly these, Tus-Max-Size and
// Tus-Checksum-Algorithm.
//
// # Decisions
//
// Durability of a cut body. The store keeps every byte it read before the
// body failed (client gone, read deadline, interrupt), so a client resumes
// from there. With Upload-Checksum the chunk cannot be verified when it is
// cut, so then nothing of it is kept: the body's failure is reported to the
// store as EOF and Verify returns the failure, which discards the chunk. A
// checksum mismatch is 460 and discards the chunk too.
//
// One writer per upload. The store guarantees it, across a fleet: an
// append first takes the upload's writer lease with a compare-and-set in
// the uploads row (a Cassandra lightweight transaction), before it reads a
// byte of the body; it advances the offset and lets the lease go in one
// more at its end; its chunk writes carry the lease's fence, so a writer
// that lost the lease can never overwrite the new holder's chunks (see
// chunkstore/lease.go). Of two PATCHes at one offset, on one edge or two,
// exactly one writes and gets 204; the other gets 423 Locked with
// Retry-After (the lease is held) or 409 (the offset moved), having written
// nothing that is kept. A crashed writer's lease lapses after LeaseTTL.
//
// Inside one process a lock per upload id orders the requests first (see
// lock.go): a PATCH that finds another PATCH at its offset in progress gets
// 423 at once; any other request (HEAD, DELETE, a PATCH at another offset)
// interrupts the holder (its body read ends at once through a read deadline
// in the past, its bytes are kept and it answers 409 upload_interrupted
// with its Upload-Offset) and then proceeds. This is tusd's model, and it
// is what makes a resume after a dropped connection immediate: the new HEAD
// does not wait a read timeout for the dead PATCH. Across servers a HEAD or
// DELETE asks the PATCH holding the upload elsewhere to stop through the
// store (chunkstore Store.Interrupt): that PATCH stops at its next lease
// renewal (a third of LeaseTTL), keeps its bytes and lets go; the HEAD does
// not wait, so the client's next PATCH may get 423 or 409 first. Store
// calls run on a context detached from the client's, so a dropped client
// never stops the bytes it sent from becoming durable.
//
// Commit after a crash. If the server dies between the append that made an
// upload complete and FinishUpload, the next HEAD or PATCH sees offset ==
// length on an unfinished upload and commits it, so a client that thinks it
// is done also finds its file.
//
// Status codes. 412 + Tus-Version for a missing or other Tus-Resumable; 415
// for a PATCH without application/offset+octet-stream; 400 for a malformed
// header or an unsupported checksum algorithm; 409 for an offset mismatch,
// an interrupted PATCH (upload_interrupted, where tusd says 400: tus clients
// retry 409 and give up on 400) and bytes sent to an upload that has them
// all (upload_finished, where tusd answers 204 and drops them); 413 beyond
// the length, MaxSize or the owner's quota (a final concatenation too), and
// for a body without Content-Length found too long as it is read, of which
// nothing is kept, as of one refused up front; 460 for a checksum mismatch;
// 423 with Retry-After when another writer holds the upload or the lock is
// not let go within LockTimeout. tusd answers 404 for every
// missing upload; we answer 410 Gone where we can tell it existed: an id
// terminated by this process (remembered in a bounded LRU), or an upload
// row past its ExpiresAt (chunkstore.ErrExpired, which wraps ErrNotFound)
// until the sweeper removes the row, after which it is 404. A token that does not own an upload gets 403. Errors are JSON
// through httperr. A final concatenation is created only from finished
// parts (400 otherwise), each named once and at most maxConcatParts of
// them (400 naming Upload-Concat); the spec's option of a final upload over
// unfinished parts is not offered (tus-js-client does not use it).
//
// Responses carry Tus-Resumable always, Upload-Offset and Upload-Length (or
// Upload-Defer-Length) on HEAD, PATCH and POST, Upload-Expires while
// unfinished, Cache-Control: no-store on HEAD, and X-Media-Id (and
// X-Media-Url when Config.MediaURL is set) once the upload is a file. CORS
// headers let browser clients read all of these.
//
// # Client
//
// Client uploads a file with PATCHes of ChunkSize bytes, each with an
// Upload-Checksum sha256, and remembers the upload URL in StateDir keyed by
// the file's absolute path, size and modification time, so that running the
// same upload again resumes (HEAD, then PATCH from the offset). Network
// errors and 5xx/460 answers are retried with exponential backoff, a 409 at
// once and a 423 after its Retry-After (for LockWait in all), re-reading the
// offset with HEAD before each retry; a retry budget is spent only while
// the server's offset does not move.
package tus
