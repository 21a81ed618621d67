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
	// ErrLocked: another request holds the upload.
	ErrLocked = errors.New("chunkstore: upload locked")
)

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
	State       string   // UploadActive, UploadPartial or UploadFinished
	ChunkSize   int
	// HashState is the marshalled SHA-256 state over bytes [0, Offset), so that
	// finishing a multi-GB upload does not read it back to hash it.
	HashState []byte
	CreatedAt time.Time
}

// Backend is what the Store needs from a database: a handful of keyed reads and
// writes. Semantics every backend must keep (the conformance suite checks them):
//
//   - PutChunk is an idempotent overwrite of (id, idx).
//   - GetChunk returns ErrNotFound for a missing chunk; it does not check the CRC
//     (the Store does, so one place decides what corrupt means).
//   - PutFile is the commit point of a file; GetFile of a missing id is ErrNotFound.
//   - PutUpload overwrites the whole upload row.
//   - ClaimDerived records (source, variant) -> fileID only if no record exists and
//     returns the record that won.
type Backend interface {
	PutChunk(ctx context.Context, id string, idx int, data []byte, crc uint32) error
	GetChunk(ctx context.Context, id string, idx int) (data []byte, crc uint32, err error)
	DeleteChunk(ctx context.Context, id string, idx int) error

	PutFile(ctx context.Context, f FileInfo) error
	GetFile(ctx context.Context, id string) (FileInfo, error)
	DeleteFile(ctx context.Context, id string) error
	// ScanFiles calls fn for every file row in an unspecified order; fn returning an
	// error stops the scan with that error. Used by the sweeper (state deleting).
	ScanFiles(ctx context.Context, fn func(FileInfo) error) error

	PutUpload(ctx context.Context, u UploadInfo) error
	GetUpload(ctx context.Context, id string) (UploadInfo, error)
	DeleteUpload(ctx context.Context, id string) error
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

// ChunkRangeDeleter is an optional Backend capability: removing chunks
// [from, to) of id in one operation. A backend that keeps an id's chunk bytes
// together (the embedded blob files) frees them at once when from is 0; one
// that cannot (Cassandra: one partition per chunk) need not implement it, and
// the Store then deletes chunk by chunk. Deleting chunks that do not exist is
// not an error.
type ChunkRangeDeleter interface {
	DeleteChunkRange(ctx context.Context, id string, from, to int) error
}
