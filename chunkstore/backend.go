package chunkstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Backends and the Store wrap them with %w and the operation;
// callers test them with errors.Is.
var (
	// ErrNotFound: no such file, upload, chunk or derived record.
	ErrNotFound = errors.New("chunkstore: not found")
	// ErrCorrupt: a stored chunk failed its CRC32C check or has an impossible length.
	ErrCorrupt = errors.New("chunkstore: corrupt chunk")
	// ErrExists: a record that must be new already exists.
	ErrExists = errors.New("chunkstore: already exists")
	// ErrOffsetMismatch: an append did not start at the upload's durable offset.
	ErrOffsetMismatch = errors.New("chunkstore: offset mismatch")
	// ErrTooLarge: the data would exceed the upload's length or the size limit.
	ErrTooLarge = errors.New("chunkstore: too large")
	// ErrIncomplete: the upload cannot be finished because bytes are missing.
	ErrIncomplete = errors.New("chunkstore: upload incomplete")
	// ErrFinished: the upload is already finished and takes no more bytes.
	ErrFinished = errors.New("chunkstore: upload already finished")
	// ErrExpired: the upload outlived its TTL. It wraps ErrNotFound, so code
	// that only knows "not found" keeps working; tus answers 410 Gone for it.
	ErrExpired = fmt.Errorf("chunkstore: upload expired: %w", ErrNotFound)
	// ErrLocked: another request holds the upload (its writer lease, or this
	// process's own guard). A *LockedError carries how long to wait.
	ErrLocked = errors.New("chunkstore: upload locked")
	// ErrConflict: a compare-and-set lost. Backends return it from
	// UpdateUpload and DeleteUpload when the row's version moved, and from
	// fenced chunk writes whose fence is no longer the upload's.
	ErrConflict = errors.New("chunkstore: concurrent update")
)

// LockedError is ErrLocked with the time left on the lease that blocks:
// RetryAfter is how long until it lapses if its holder stops renewing it
// (zero when unknown). errors.Is(err, ErrLocked) holds.
type LockedError struct {
	ID         string
	RetryAfter time.Duration
	Reason     string // "held", "lost", "busy"
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("upload %s: %s: %v", e.ID, e.Reason, ErrLocked)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// File states as stored in the files table.
const (
	StateComplete = "complete"
	StateDeleting = "deleting"
)

// Upload states as stored in the uploads table.
const (
	UploadActive   = "active"   // taking bytes
	UploadPartial  = "partial"  // a tus concatenation part; never becomes a file itself
	UploadFinished = "finished" // its file row is written; kept until it expires so HEAD still answers
	// UploadFinishing: complete, and a commit has begun (its files row may
	// be written): it takes no more bytes and Terminate refuses it, so the
	// chunks under a files row are never deleted. Any FinishUpload takes it
	// on to finished (a commit cut by a crash is completed by the next).
	UploadFinishing = "finishing"
	// UploadPurging: expired, and its removal has begun (its chunks may be
	// partly gone): nothing may append to it or commit it, and the next
	// sweep or Terminate takes the removal on.
	UploadPurging = "purging"
)

// FileInfo is one row of the files table: a complete, immutable file.
type FileInfo struct {
	ID          string
	Size        int64
	ChunkSize   int
	ContentType string
	SHA256      []byte
	Width       int
	Height      int
	DurationMS  int
	Owner       string
	CreatedAt   time.Time
	State       string // StateComplete or StateDeleting
}

// Chunks is the number of chunks the file occupies.
func (f FileInfo) Chunks() int {
	if f.Size == 0 || f.ChunkSize <= 0 {
		return 0
	}
	return int((f.Size + int64(f.ChunkSize) - 1) / int64(f.ChunkSize))
}

// UploadLease is an upload's writer lease, kept in its row. Exactly one
// Append at a time may write an upload's chunks and advance its offset: the
// one whose Holder token is in the row. The lease lapses at Until unless its
// holder renews it, so a crashed writer blocks the upload for one LeaseTTL at
// most. Fence is bumped by every acquisition and never goes down; every chunk
// write of the holder carries it, and a backend never lets a write with an
// older fence replace one with a newer (see Backend.PutUploadChunk).
type UploadLease struct {
	Holder string    // the holding Append's random token; "" when free
	Until  time.Time // the lease lapses after this unless renewed
	Fence  int64     // strictly increasing per upload; kept when the lease is released
}

// Held reports whether someone other than token holds the lease at now.
func (l UploadLease) Held(now time.Time, token string) bool {
	return l.Holder != "" && l.Holder != token && now.Before(l.Until)
}

// UploadInfo is one row of the uploads table: a resumable upload session.
// An upload's chunks are written under its own ID, so finishing an upload only
// writes the files row: the upload id becomes the media id with no copy.
type UploadInfo struct {
	ID          string
	Length      int64 // total length; -1 while DeferLength and not yet declared
	Offset      int64 // durable offset: every byte before it is in the store
	DeferLength bool
	Metadata    map[string]string
	Owner       string
	ExpiresAt   time.Time
	ConcatParts []string // for a final concatenation: the part upload ids, in order
	State       string   // UploadActive, UploadPartial, UploadFinishing, UploadFinished or UploadPurging
	ChunkSize   int
	// HashState is the marshalled SHA-256 state over bytes [0, Offset), so that
	// finishing a multi-GB upload does not read it back to hash it.
	HashState []byte
	CreatedAt time.Time
	// Version is bumped by every change of the row (UpdateUpload): the key
	// of its compare-and-set. 1 when created.
	Version int64
	// Lease is the writer lease (see UploadLease).
	Lease UploadLease
}

// Backend is what the Store needs from a database: a handful of keyed reads and
// writes. Semantics every backend must keep (the conformance suite checks them):
//
//   - PutChunk is an idempotent overwrite of (id, idx).
//   - GetChunk returns ErrNotFound for a missing chunk; it does not check the CRC
//     (the Store does, so one place decides what corrupt means).
//   - PutFile is the commit point of a file; GetFile of a missing id is ErrNotFound.
//   - An uploads row is written only by compare-and-set: CreateUpload (if the id
//     is new), UpdateUpload and DeleteUpload (if the row's Version is still the
//     one given). Nothing else writes it, so a fleet agrees on who holds an
//     upload and on its offset (on Cassandra: lightweight transactions only,
//     never mixed with plain writes on that row).
//   - Upload chunks are written with a fence (PutUploadChunk): a write whose
//     fence is older than one already applied to the chunk never wins.
//   - ClaimDerived records (source, variant) -> fileID only if no record exists and
//     returns the record that won.
type Backend interface {
	PutChunk(ctx context.Context, id string, idx int, data []byte, crc uint32) error
	GetChunk(ctx context.Context, id string, idx int) (data []byte, crc uint32, err error)
	DeleteChunk(ctx context.Context, id string, idx int) error
	// PutUploadChunk writes chunk (id, idx) of an upload for the lease holder
	// whose fence is given. A backend either refuses a write whose fence is
	// not the upload's current one (ErrConflict; embedded, which can check
	// atomically) or applies it so that it loses to any write or delete with
	// a newer fence, whatever the order they arrive in (Cassandra: the fence
	// is the cell timestamp). Either way a stale holder never overwrites a
	// newer holder's bytes.
	PutUploadChunk(ctx context.Context, id string, idx int, data []byte, crc uint32, fence int64) error
	// DeleteUploadChunks removes chunks [from, to) of an upload, fenced as
	// PutUploadChunk: it removes what this holder wrote and never a newer
	// holder's chunk.
	DeleteUploadChunks(ctx context.Context, id string, from, to int, fence int64) error

	PutFile(ctx context.Context, f FileInfo) error
	GetFile(ctx context.Context, id string) (FileInfo, error)
	DeleteFile(ctx context.Context, id string) error
	// ScanFiles calls fn for every file row in an unspecified order; fn returning an
	// error stops the scan with that error. Used by the sweeper (state deleting).
	ScanFiles(ctx context.Context, fn func(FileInfo) error) error

	// CreateUpload writes a new uploads row (u.Version is 1); ErrExists if
	// the id is taken.
	CreateUpload(ctx context.Context, u UploadInfo) error
	// GetUpload reads an uploads row; ErrNotFound when missing. It may lag a
	// compare-and-set that has not completed (Cassandra: a plain quorum
	// read); UpdateUpload is the arbiter.
	GetUpload(ctx context.Context, id string) (UploadInfo, error)
	// UpdateUpload writes the mutable fields of u (Length, Offset, Metadata,
	// ExpiresAt, State, HashState, Lease) with Version prev+1, only if the
	// stored row's Version is still prev. It returns the row as stored: u
	// on success; on ErrConflict the current row, read linearizably (or
	// ErrNotFound if there is none). A backend that cannot tell whether its
	// write applied (a timeout) finds out before answering.
	UpdateUpload(ctx context.Context, u UploadInfo, prev int64) (UploadInfo, error)
	// DeleteUpload removes an uploads row if its Version is still version
	// (ErrConflict otherwise); deleting a missing row is not an error.
	DeleteUpload(ctx context.Context, id string, version int64) error
	// ScanUploads calls fn for every upload row, like ScanFiles.
	ScanUploads(ctx context.Context, fn func(UploadInfo) error) error

	GetDerived(ctx context.Context, sourceID, variant string) (fileID string, err error)
	// ClaimDerived stores fileID for (sourceID, variant) if none is stored and
	// returns the stored value and whether this call stored it.
	ClaimDerived(ctx context.Context, sourceID, variant, fileID string) (winner string, stored bool, err error)
	DeleteDerived(ctx context.Context, sourceID, variant string) error

	// Ping checks the database answers (for /readyz).
	Ping(ctx context.Context) error
	Close() error
}

// UsageCounter is an optional Backend capability: the bytes of an owner's
// complete files, kept exactly (an index written in the files row's own
// batch, never a counter). Both backends have it; Store.Usage needs it.
type UsageCounter interface {
	OwnerUsage(ctx context.Context, owner string) (int64, error)
}

// ChunkRangeDeleter is an optional Backend capability: removing chunks
// [from, to) of id in one operation. A backend that keeps an id's chunk bytes
// together (the embedded blob files) frees them at once when from is 0; one
// that cannot (Cassandra: one partition per chunk) need not implement it, and
// the Store then deletes chunk by chunk. Deleting chunks that do not exist is
// not an error.
type ChunkRangeDeleter interface {
	DeleteChunkRange(ctx context.Context, id string, from, to int) error
}

// ChunkExister is an optional Backend capability: whether a chunk exists,
// without reading its bytes. The sweeper probes for chunks a crash left past
// an upload's durable offset; Cassandra answers from the row's small column.
type ChunkExister interface {
	HasChunk(ctx context.Context, id string, idx int) (bool, error)
}

// ChunkIntoGetter is an optional Backend capability: GetChunk into a
// caller's buffer (dst's capacity; a larger chunk gets a new slice). A
// reader streaming a file then recycles its chunk memory instead of
// allocating a chunk per chunk: measured on a 64 MiB original (issue 16),
// the garbage collector's share of the serving CPU fell from about a
// quarter. The embedded store has it; the Cassandra driver allocates each
// value itself.
type ChunkIntoGetter interface {
	GetChunkInto(ctx context.Context, id string, idx int, dst []byte) (data []byte, crc uint32, err error)
}
