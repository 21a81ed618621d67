package chunkstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/mediaedge/mediaedge/mediatype"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc is the CRC32C of a chunk, the checksum stored beside it.
func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// Store is the chunk store: files written as chunks plus a files row (the
// commit point), ranged readers over them, and resumable upload sessions.
type Store struct {
	b   Backend
	cfg Config
	now func() time.Time

	bufs *bufPool // chunk buffers (bufpool.go)

	bg     sync.WaitGroup // background deletes
	closed chan struct{}
	once   sync.Once

	busyMu sync.Mutex          // guards busy
	busy   map[string]struct{} // uploads with a mutating call in progress
}

// lockUpload marks upload id busy for one mutating call (Append,
// DeclareLength, FinishUpload, Terminate) or returns ErrLocked. It is a
// cheap local refusal that saves the database a compare-and-set between two
// calls of one process; what guarantees one writer per upload, in one
// process or across a fleet, is the writer lease in the uploads row
// (lease.go).
func (s *Store) lockUpload(id string) (release func(), err error) {
	s.busyMu.Lock()
	defer s.busyMu.Unlock()
	if _, ok := s.busy[id]; ok {
		return nil, &LockedError{ID: id, Reason: "busy in this process"}
	}
	s.busy[id] = struct{}{}
	return func() {
		s.busyMu.Lock()
		delete(s.busy, id)
		s.busyMu.Unlock()
	}, nil
}

// New returns a Store over b.
func New(b Backend, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{b: b, cfg: cfg, now: cfg.Clock, closed: make(chan struct{}), busy: map[string]struct{}{}}
	if s.now == nil {
		s.now = time.Now
	}
	// Up to 32 MiB of idle buffers kept, and never fewer than two writers'.
	s.bufs = newBufPool(cfg.ChunkSize, max(2*(cfg.WriteConcurrency+1), (32<<20)/cfg.ChunkSize))
	return s, nil
}

// Config returns the store's configuration.
func (s *Store) Config() Config { return s.cfg }

// Backend returns the database underneath (for tools and tests).
func (s *Store) Backend() Backend { return s.b }

func (s *Store) getBuf() *[]byte {
	return s.bufs.Get()
}

// PutOptions describe a file being written.
type PutOptions struct {
	// Owner is recorded with the file (the uploader's token name).
	Owner string
	// StripLocation removes GPS data and maker notes from an image before
	// the file is committed (location.go).
	StripLocation bool
}

// Put streams r into a new file: chunks first, with at most WriteConcurrency
// in flight, then the files row, so the id is readable only once every byte
// is stored. The SHA-256 and the content type (from the first bytes) are
// computed on the way.
func (s *Store) Put(ctx context.Context, r io.Reader, opt PutOptions) (FileInfo, error) {
	id := NewID()
	h := sha256.New()
	cw := s.newChunkWriter(ctx, id, s.cfg.ChunkSize, 0, s.cfg.MaxFileSize, 0)
	n, err := cw.copyFrom(io.TeeReader(r, h), nil)
	if err == nil {
		err = cw.close()
	} else {
		cw.abort()
	}
	if err != nil {
		s.deleteChunks(context.WithoutCancel(ctx), id, cw.maxIdx+1)
		return FileInfo{}, fmt.Errorf("put %s: %w", id, err)
	}
	f := FileInfo{
		ID: id, Size: n, ChunkSize: s.cfg.ChunkSize, ContentType: mediatype.Sniff(cw.head),
		SHA256: h.Sum(nil), Owner: opt.Owner, CreatedAt: s.now().UTC().Truncate(time.Millisecond), State: StateComplete,
	}
	if opt.StripLocation && strings.HasPrefix(f.ContentType, "image/") {
		// The id is new and not yet visible: no lease to take.
		sh, err := s.stripLocation(ctx, id, n, s.cfg.ChunkSize, func(idx int, data []byte) error {
			return s.b.PutChunk(ctx, id, idx, data, crc(data))
		})
		if err != nil {
			s.deleteChunks(context.WithoutCancel(ctx), id, f.Chunks())
			return FileInfo{}, fmt.Errorf("put %s: %w", id, err)
		}
		if sh != nil {
			f.SHA256 = sh.Sum(nil)
		}
	}
	if err := s.b.PutFile(ctx, f); err != nil {
		s.deleteChunks(context.WithoutCancel(ctx), id, f.Chunks())
		return FileInfo{}, fmt.Errorf("commit %s: %w", id, err)
	}
	return f, nil
}

// Usage is the bytes of owner's complete files (for quotas).
func (s *Store) Usage(ctx context.Context, owner string) (int64, error) {
	uc, ok := s.b.(UsageCounter)
	if !ok {
		return 0, errors.New("chunkstore: this backend keeps no usage per owner")
	}
	return uc.OwnerUsage(ctx, owner)
}

// Stat returns a complete file's row; a file being deleted is not found.
func (s *Store) Stat(ctx context.Context, id string) (FileInfo, error) {
	f, err := s.b.GetFile(ctx, id)
	if err != nil {
		return FileInfo{}, err
	}
	if f.State != StateComplete {
		return FileInfo{}, fmt.Errorf("stat %s: %w", id, ErrNotFound)
	}
	return f, nil
}

// Open returns a reader over a complete file.
func (s *Store) Open(ctx context.Context, id string) (*Reader, error) {
	f, err := s.Stat(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.newReader(ctx, f.ID, f.Size, f.ChunkSize, f), nil
}

// Delete makes a file unreadable at once (its row is marked deleting) and
// removes its chunks, then its row, in the background; the sweeper finishes
// any delete a crash interrupted.
func (s *Store) Delete(ctx context.Context, id string) error {
	f, err := s.Stat(ctx, id)
	if err != nil {
		return err
	}
	f.State = StateDeleting
	if err := s.b.PutFile(ctx, f); err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	select {
	case <-s.closed:
		return nil // closing: the sweeper of the next start finishes the purge
	default:
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		_ = s.purgeFile(ctx, f)
	}()
	return nil
}

func (s *Store) purgeFile(ctx context.Context, f FileInfo) error {
	if err := s.deleteChunks(ctx, f.ID, f.Chunks()); err != nil {
		return err
	}
	return s.b.DeleteFile(ctx, f.ID)
}

// deleteChunks removes chunks [0, n) of id.
func (s *Store) deleteChunks(ctx context.Context, id string, n int) error {
	return s.deleteChunkRange(ctx, id, 0, n)
}

// deleteChunkRange removes chunks [from, to) of id, in one call when the
// backend can (ChunkRangeDeleter), else one by one, going on past a failure
// so that one bad chunk does not keep the others; the first error is returned.
func (s *Store) deleteChunkRange(ctx context.Context, id string, from, to int) error {
	if from >= to {
		return nil
	}
	if rd, ok := s.b.(ChunkRangeDeleter); ok {
		if err := rd.DeleteChunkRange(ctx, id, from, to); err != nil {
			return fmt.Errorf("delete chunks %d..%d of %s: %w", from, to-1, id, err)
		}
		return nil
	}
	var firstErr error
	for i := from; i < to; i++ {
		if err := s.b.DeleteChunk(ctx, id, i); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("delete chunk %d of %s: %w", i, id, err)
		}
	}
	return firstErr
}

// GetDerived returns the file recorded for (sourceID, variant).
func (s *Store) GetDerived(ctx context.Context, sourceID, variant string) (FileInfo, error) {
	id, err := s.b.GetDerived(ctx, sourceID, variant)
	if err != nil {
		return FileInfo{}, err
	}
	return s.Stat(ctx, id)
}

// ClaimDerived records fileID for (sourceID, variant) unless another edge got
// there first; it returns the winner.
func (s *Store) ClaimDerived(ctx context.Context, sourceID, variant, fileID string) (string, bool, error) {
	return s.b.ClaimDerived(ctx, sourceID, variant, fileID)
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.b.Ping(ctx) }

// Close waits for background deletes and closes the backend.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closed)
		s.bg.Wait()
		err = s.b.Close()
	})
	return err
}

// readChunk fetches chunk idx of id and checks it: the CRC32C must match and
// the chunk must hold at least want bytes (it may hold more: an upload's tail
// chunk can carry bytes past the durable offset, which are cut off).
func (s *Store) readChunk(ctx context.Context, id string, idx, want int) ([]byte, error) {
	return s.readChunkInto(ctx, id, idx, want, nil)
}

// readChunkInto is readChunk into dst's memory when the backend can
// (ChunkIntoGetter) and dst is not nil.
func (s *Store) readChunkInto(ctx context.Context, id string, idx, want int, dst []byte) ([]byte, error) {
	var (
		data []byte
		sum  uint32
		err  error
	)
	if into, ok := s.b.(ChunkIntoGetter); ok && dst != nil {
		data, sum, err = into.GetChunkInto(ctx, id, idx, dst)
	} else {
		data, sum, err = s.b.GetChunk(ctx, id, idx)
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("chunk %d of %s is missing: %w", idx, id, ErrCorrupt)
		}
		return nil, err
	}
	if crc(data) != sum {
		return nil, fmt.Errorf("chunk %d of %s: checksum mismatch: %w", idx, id, ErrCorrupt)
	}
	if len(data) < want {
		return nil, fmt.Errorf("chunk %d of %s: %d bytes, want %d: %w", idx, id, len(data), want, ErrCorrupt)
	}
	return data[:want], nil
}

// DeleteDerived removes the record for (sourceID, variant).
func (s *Store) DeleteDerived(ctx context.Context, sourceID, variant string) error {
	return s.b.DeleteDerived(ctx, sourceID, variant)
}

// GetDerivedID returns the file id recorded for (sourceID, variant), without
// requiring it to be a readable file (locks and markers use it).
func (s *Store) GetDerivedID(ctx context.Context, sourceID, variant string) (string, error) {
	return s.b.GetDerived(ctx, sourceID, variant)
}
