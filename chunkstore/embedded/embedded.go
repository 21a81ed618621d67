// Package embedded is the zero-set-up chunkstore.Backend: a Pebble database
// in a local folder, with the keys and semantics of the Cassandra tables.
//
// Keys mirror the tables: f/<id> (files), c/<id>/<idx as 4 big-endian bytes>
// (chunks), u/<id> (uploads), d/<source>\x00<variant> (derived: NUL rather
// than "/" between the two, so no source or variant text can make two pairs
// share a key). Rows are JSON: small, read once per request, inspectable
// with any Pebble tool, and tolerant of fields added later; a binary
// encoding would save a few dozen bytes per row and nothing measurable.
//
// Chunk bytes do not go through the LSM tree. A first version stored them as
// Pebble values and measured 230 MB/s against 1,360 MB/s for a plain file:
// every MiB was written to the WAL, again to an sstable at flush, and again
// at each compaction. Now each id has one sparse blob file, chunk idx at
// offset idx x 4 MiB (the largest chunk size), and the chunk key in Pebble
// holds only the chunk's CRC32C and length; the blob is written with
// O_DIRECT where the file system allows (direct.go), else pwrite, and read
// with pread. The blob starts with a small header naming its slot
// (the chunk size when it was created), and chunk idx sits at
// header + idx x slot, so the file is contiguous: ext4 measured 14x slower
// writing 1 MiB chunks 4 MiB apart (a sparse layout that would have needed no
// header) than back to back.
//
// Durability: chunk writes do not fsync (the blob write, and the chunk key with
// pebble.NoSync); the files and uploads rows (the commit points) do, after an
// fsync of the id's blob file. Pebble's WAL is in write order, so the row's
// WAL sync also covers the chunk keys written before it: a file visible after
// a crash has all its chunks. A new blob file's folder is fsynced once when
// the blob is created, since fsync of a file does not promise its name.
//
// Deletes: DeleteChunkRange (chunkstore.ChunkRangeDeleter) drops a range of
// chunk keys with one range tombstone and, from chunk 0, unlinks the blob, so
// purging a 5 GiB file is one unlink. Deleting a files or uploads row also
// removes the blob unless the other row still needs it (an upload's id is its
// file's id).
//
// Compare-and-set: one process owns the folder (Pebble locks it), so a
// get-then-set under a mutex is atomic. ClaimDerived uses one mutex; the
// uploads rows use a striped read-write lock per upload id: CreateUpload,
// UpdateUpload and DeleteUpload take it for writing, and the fenced chunk
// writes (PutUploadChunk, DeleteUploadChunks) take it for reading and check
// that their fence is still the upload's and its lease still held. So once
// a new holder's lease is written, no older holder's chunk write is in
// progress or can start: stale writes are refused (ErrConflict), not merely
// outvoted as on Cassandra. Several Stores over one Backend (tests of
// "several edges") get the same guarantees as several processes on one
// Cassandra. A lease outlives no process: each row records the incarnation
// (a random token per Open) that wrote it, and a lease written by an earlier
// one reads as free, so a server restarted after a crash is never blocked
// by its own dead writers (Cassandra cannot know an edge died and waits out
// the lease).
package embedded

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/diskio"
)

// Config says where the database lives.
type Config struct {
	// Dir is the database folder, created if missing.
	Dir string
	// ChunkSize is the slot of new blob files: the store's chunk size
	// (0 means 1 MiB, the store's default). A chunk larger than its blob's
	// slot makes the blob's slot that chunk's size when the blob is new and
	// is refused otherwise, so set it to the Store's ChunkSize.
	ChunkSize int
	// Sync makes commit points (file and upload rows) durable before they
	// return: the blob file is fsynced, then the row is written with a WAL
	// sync. DefaultConfig sets it; turn it off only in tests and benchmarks
	// that do not care about crashes.
	Sync bool
	// BufferedWrites writes chunk bytes through the page cache. By default
	// they are written with O_DIRECT wherever the folder's file system takes
	// it (probed at Open; see direct.go for why and what it costs).
	BufferedWrites bool
	// Logger receives Pebble's errors (its informational lines are dropped);
	// nil is slog.Default().
	Logger *slog.Logger
}

// DefaultConfig is a durable store in ./data/store.
func DefaultConfig() Config {
	return Config{Dir: "data/store", ChunkSize: 1 << 20, Sync: true}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("embedded: a folder (Dir) is required"))
	}
	if c.ChunkSize < 0 || c.ChunkSize > maxSlot {
		errs = append(errs, fmt.Errorf("embedded: chunk size %d: want 0 (default) to %d", c.ChunkSize, maxSlot))
	}
	return errors.Join(errs...)
}

// Backend implements chunkstore.Backend on Pebble.
type Backend struct {
	db     *pebble.DB
	blobs  string // folder of blob files
	commit *pebble.WriteOptions
	sync   bool
	slot   int
	// direct is set while chunk bytes go out with O_DIRECT (direct.go);
	// cleared for good if the file system refuses a write.
	direct    atomic.Bool
	directWhy atomic.Pointer[string] // why direct writes are off, for DirectWrites
	bounce    *bouncePool

	slotsMu sync.Mutex        // guards slots and blob creation
	slots   map[string]uint32 // slot of each blob seen, by id
	mu      sync.Mutex        // guards ClaimDerived's read-then-write
	// rows guards uploads rows: held for writing by their compare-and-sets,
	// for reading by fenced chunk writes (see the package doc). Striped by
	// id hash; two uploads may share a stripe, which only costs waiting.
	rows [64]sync.RWMutex
	// held maps the id of each upload whose row, as this incarnation last
	// wrote it, has its lease held, to that lease's fence (uploads.go).
	held   sync.Map
	boot   string // this incarnation: leases of other ones are void (see the package doc)
	once   sync.Once
	err    error
	closed atomic.Bool // set by Close; Ping reports it
}

var _ chunkstore.Backend = (*Backend)(nil)

// Open opens (or creates) the database in cfg.Dir.
func Open(cfg Config) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// diskio.FS: a synced commit's WAL sync must not hold the scheduler's
	// P (diskio's doc).
	db, err := pebble.Open(cfg.Dir, &pebble.Options{FS: diskio.FS(vfs.Default), Logger: pebbleLogger{log: cmp.Or(cfg.Logger, slog.Default())}})
	if err != nil {
		return nil, fmt.Errorf("embedded: open %s: %w", cfg.Dir, err)
	}
	blobs := filepath.Join(cfg.Dir, "blobs")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		db.Close()
		return nil, fmt.Errorf("embedded: %w", err)
	}
	commit := pebble.NoSync
	if cfg.Sync {
		commit = pebble.Sync
	}
	slot := cfg.ChunkSize
	if slot <= 0 {
		slot = 1 << 20
	}
	b := &Backend{db: db, blobs: blobs, commit: commit, sync: cfg.Sync, slot: slot, slots: map[string]uint32{},
		boot: chunkstore.NewID(), bounce: newBouncePool(slot)}
	why := ""
	switch {
	case cfg.BufferedWrites:
		why = "buffered writes asked for"
	case slot%directAlign != 0:
		why = fmt.Sprintf("chunk size %d is not a multiple of %d", slot, directAlign)
	default:
		if err := probeDirect(blobs); err != nil {
			why = fmt.Sprintf("the file system refused an O_DIRECT write: %v", err)
		}
	}
	b.directWhy.Store(&why)
	b.direct.Store(why == "")
	return b, nil
}

// DirectWrites reports whether chunk bytes are written with O_DIRECT and,
// when not, why.
func (b *Backend) DirectWrites() (bool, string) {
	if b.direct.Load() {
		return true, ""
	}
	return false, *b.directWhy.Load()
}

func fileKey(id string) []byte   { return []byte("f/" + id) }
func uploadKey(id string) []byte { return []byte("u/" + id) }
func chunkKey(id string, idx int) []byte {
	k := make([]byte, 0, 2+len(id)+1+4)
	k = append(k, "c/"...)
	k = append(k, id...)
	k = append(k, '/')
	return binary.BigEndian.AppendUint32(k, uint32(idx))
}
func derivedKey(src, variant string) []byte { return []byte("d/" + src + "\x00" + variant) }

func (b *Backend) get(key []byte) ([]byte, error) {
	v, closer, err := b.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, chunkstore.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(v)
	closer.Close()
	return out, nil
}

// Blob header: magic, then the slot (the distance between chunks) as a
// big-endian uint32; chunks start at headerSize.
const (
	blobMagic  = "MEB1"
	headerSize = 4096
	maxSlot    = 4 << 20 // the largest chunk size the Store allows
)

// blobPath spreads blob files over 256 folders.
func (b *Backend) blobPath(id string) string {
	if len(id) < 2 {
		return filepath.Join(b.blobs, "_", id)
	}
	return filepath.Join(b.blobs, id[:2], id)
}

// blobSlot returns the slot of id's blob, creating the blob (with its
// header) when create is set and it does not exist.
func (b *Backend) blobSlot(id string, create bool, minSlot int) (uint32, error) {
	b.slotsMu.Lock()
	defer b.slotsMu.Unlock()
	if s, ok := b.slots[id]; ok {
		return s, nil
	}
	p := b.blobPath(id)
	f, err := os.Open(p)
	if err == nil {
		defer f.Close()
		var h [8]byte
		if _, err := f.ReadAt(h[:], 0); err != nil || string(h[:4]) != blobMagic {
			return 0, fmt.Errorf("blob %s: bad header: %w", id, chunkstore.ErrCorrupt)
		}
		s := binary.BigEndian.Uint32(h[4:])
		b.remember(id, s)
		return s, nil
	}
	if !errors.Is(err, fs.ErrNotExist) || !create {
		return 0, err
	}
	dir := filepath.Dir(p)
	newDir := false
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return 0, err
		}
		newDir = true
	}
	s := uint32(max(b.slot, minSlot))
	var h [8]byte
	copy(h[:], blobMagic)
	binary.BigEndian.PutUint32(h[4:], s)
	if err := os.WriteFile(p, h[:], 0o644); err != nil {
		return 0, err
	}
	if b.sync {
		// fsync of the blob (at the commit point) makes its bytes durable but
		// POSIX does not promise its name: the folder holding it must be
		// synced too, and the blobs folder when the subfolder is new. Once
		// per blob, here, rather than at every commit point.
		if newDir {
			if err := syncDir(b.blobs); err != nil {
				return 0, err
			}
		}
		if err := syncDir(dir); err != nil {
			return 0, err
		}
	}
	b.remember(id, s)
	return s, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = diskio.Fsync(d.Fd())
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}

// remember caches a slot; the map is bounded (cleared when large) since a
// lookup costs only a header read. slotsMu is held.
func (b *Backend) remember(id string, s uint32) {
	if len(b.slots) > 4096 {
		clear(b.slots)
	}
	b.slots[id] = s
}

func (b *Backend) forget(id string) {
	b.slotsMu.Lock()
	delete(b.slots, id)
	b.slotsMu.Unlock()
}

// PutChunk writes the chunk's bytes into the id's blob file, then its CRC and
// length under the chunk key.
func (b *Backend) PutChunk(_ context.Context, id string, idx int, data []byte, crc uint32) error {
	slot, err := b.blobSlot(id, true, len(data))
	if err != nil {
		return fmt.Errorf("put chunk %d of %s: %w", idx, id, err)
	}
	if len(data) > int(slot) {
		return fmt.Errorf("put chunk %d of %s: %d bytes exceed the blob's %d-byte slot", idx, id, len(data), slot)
	}
	off := headerSize + int64(idx)*int64(slot)
	if err := b.writeChunk(id, data, off, slot); err != nil {
		return fmt.Errorf("put chunk %d of %s: %w", idx, id, err)
	}
	var v [8]byte
	binary.BigEndian.PutUint32(v[:4], crc)
	binary.BigEndian.PutUint32(v[4:], uint32(len(data)))
	if err := b.db.Set(chunkKey(id, idx), v[:], pebble.NoSync); err != nil {
		return fmt.Errorf("put chunk %d of %s: %w", idx, id, err)
	}
	return nil
}

// writeChunk writes a chunk's bytes at off of the id's blob: with O_DIRECT
// while the file system takes it, else through the page cache with its
// writeback started at once.
func (b *Backend) writeChunk(id string, data []byte, off int64, slot uint32) error {
	path := b.blobPath(id)
	if b.direct.Load() && slot%directAlign == 0 {
		err := b.writeDirect(path, data, off)
		if !errors.Is(err, errDirectRefused) {
			return err
		}
		// The probe passed but this write was refused (the folder moved to
		// another file system?): buffered from now on.
		why := err.Error()
		b.directWhy.Store(&why)
		b.direct.Store(false)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, off)
	if err == nil && b.sync {
		startWriteback(f, off, len(data))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// GetChunk returns a chunk and its stored CRC.
func (b *Backend) GetChunk(ctx context.Context, id string, idx int) ([]byte, uint32, error) {
	return b.GetChunkInto(ctx, id, idx, nil)
}

// GetChunkInto implements chunkstore.ChunkIntoGetter.
func (b *Backend) GetChunkInto(_ context.Context, id string, idx int, dst []byte) ([]byte, uint32, error) {
	v, err := b.get(chunkKey(id, idx))
	if err != nil {
		return nil, 0, fmt.Errorf("get chunk %d of %s: %w", idx, id, err)
	}
	if len(v) != 8 {
		return nil, 0, fmt.Errorf("get chunk %d of %s: %w", idx, id, chunkstore.ErrCorrupt)
	}
	n := binary.BigEndian.Uint32(v[4:])
	slot, err := b.blobSlot(id, false, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("get chunk %d of %s: blob missing: %w", idx, id, chunkstore.ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get chunk %d of %s: %w", idx, id, err)
	}
	f, err := os.Open(b.blobPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("get chunk %d of %s: blob missing: %w", idx, id, chunkstore.ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get chunk %d of %s: %w", idx, id, err)
	}
	defer f.Close()
	off := headerSize + int64(idx)*int64(slot)
	// A chunk is read whole: tell the kernel so (a larger readahead). It
	// matters for chunks written with O_DIRECT, whose pages the reads bring
	// in: 10 warm GETs of a fresh 64 MiB original took 13% less CPU with it
	// (direct.go). Only advice, so its error is not ours.
	_ = unix.Fadvise(int(f.Fd()), off, int64(n), unix.FADV_SEQUENTIAL)
	data := dst[:0]
	if cap(data) < int(n) {
		data = make([]byte, n)
	}
	data = data[:n]
	if _, err := f.ReadAt(data, off); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, fmt.Errorf("get chunk %d of %s: blob short: %w", idx, id, chunkstore.ErrCorrupt)
		}
		return nil, 0, fmt.Errorf("get chunk %d of %s: %w", idx, id, err)
	}
	return data, binary.BigEndian.Uint32(v), nil
}

// DeleteChunk removes a chunk's key; its bytes go with the blob file when the
// file or upload row is deleted.
func (b *Backend) DeleteChunk(_ context.Context, id string, idx int) error {
	return b.db.Delete(chunkKey(id, idx), pebble.NoSync)
}

// DeleteChunkRange removes the keys of chunks [from, to) with one range
// deletion; from 0 it also removes the id's blob file, freeing every byte at
// once (a sweep of a 5 GiB file is one unlink, not 5,120 deletes).
func (b *Backend) DeleteChunkRange(_ context.Context, id string, from, to int) error {
	if from >= to {
		return nil
	}
	if err := b.db.DeleteRange(chunkKey(id, from), chunkKey(id, to), pebble.NoSync); err != nil {
		return fmt.Errorf("delete chunks %d..%d of %s: %w", from, to-1, id, err)
	}
	if from == 0 {
		if err := b.removeBlob(id); err != nil {
			return fmt.Errorf("delete chunks of %s: %w", id, err)
		}
	}
	return nil
}

// startWriteback asks the kernel to start writing a chunk's bytes to disk
// now, without waiting (sync_file_range, SYNC_FILE_RANGE_WRITE), as
// RocksDB's bytes_per_sync does: the fsync at the next commit point then
// waits for what is already under way instead of starting all of it, and
// the disk works while the next chunks arrive. It promises nothing; the
// fsync does. Its errors are the fsync's to report.
func startWriteback(f *os.File, off int64, n int) {
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = unix.SyncFileRange(int(fd), off, int64(n), unix.SYNC_FILE_RANGE_WRITE)
		})
	}
}

// syncBlob makes the id's chunk bytes durable before a commit point.
func (b *Backend) syncBlob(id string) error {
	if !b.sync {
		return nil
	}
	f, err := os.OpenFile(b.blobPath(id), os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // no chunks (an empty file)
	}
	if err != nil {
		return err
	}
	err = diskio.Fsync(f.Fd())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (b *Backend) removeBlob(id string) error {
	b.forget(id)
	if err := os.Remove(b.blobPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (b *Backend) putJSON(key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.db.Set(key, raw, b.commit)
}

func (b *Backend) getJSON(key []byte, v any) error {
	raw, err := b.get(key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %v", chunkstore.ErrCorrupt, err)
	}
	return nil
}

// PutFile writes a files row, durably.
func (b *Backend) PutFile(_ context.Context, f chunkstore.FileInfo) error {
	if f.State == chunkstore.StateComplete {
		if err := b.syncBlob(f.ID); err != nil {
			return fmt.Errorf("put file %s: sync chunks: %w", f.ID, err)
		}
	}
	raw, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("put file %s: %w", f.ID, err)
	}
	// The owner's index changes in the same batch: a complete file counts
	// toward its owner's usage (OwnerUsage), one being deleted no longer.
	batch := b.db.NewBatch()
	defer batch.Close()
	_ = batch.Set(fileKey(f.ID), raw, nil)
	if f.Owner != "" {
		if f.State == chunkstore.StateComplete {
			_ = batch.Set(ownedKey(f.Owner, f.ID), binary.BigEndian.AppendUint64(nil, uint64(f.Size)), nil)
		} else {
			_ = batch.Delete(ownedKey(f.Owner, f.ID), nil)
		}
	}
	if err := batch.Commit(b.commit); err != nil {
		return fmt.Errorf("put file %s: %w", f.ID, err)
	}
	return nil
}

// ownedKey indexes a complete file under its owner (the value is its size).
func ownedKey(owner, id string) []byte { return []byte("o/" + owner + "\x00" + id) }

// OwnerUsage is the bytes of owner's complete files.
func (b *Backend) OwnerUsage(ctx context.Context, owner string) (int64, error) {
	var n int64
	err := b.scan(ctx, "o/"+owner+"\x00", func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("usage of %s: %w", owner, chunkstore.ErrCorrupt)
		}
		n += int64(binary.BigEndian.Uint64(v))
		return nil
	})
	return n, err
}

// GetFile reads a files row.
func (b *Backend) GetFile(_ context.Context, id string) (chunkstore.FileInfo, error) {
	var f chunkstore.FileInfo
	if err := b.getJSON(fileKey(id), &f); err != nil {
		return chunkstore.FileInfo{}, fmt.Errorf("get file %s: %w", id, err)
	}
	return f, nil
}

// DeleteFile removes a files row and the file's blob.
func (b *Backend) DeleteFile(ctx context.Context, id string) error {
	f, err := b.GetFile(ctx, id)
	if err != nil && !errors.Is(err, chunkstore.ErrNotFound) {
		return err
	}
	batch := b.db.NewBatch()
	defer batch.Close()
	_ = batch.Delete(fileKey(id), nil)
	if f.Owner != "" {
		_ = batch.Delete(ownedKey(f.Owner, id), nil)
	}
	if err := batch.Commit(b.commit); err != nil {
		return err
	}
	return b.removeBlob(id)
}

func (b *Backend) scan(ctx context.Context, prefix string, fn func(v []byte) error) error {
	upper := []byte(prefix)
	upper[len(upper)-1]++
	it, err := b.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefix), UpperBound: upper})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(bytes.Clone(it.Value())); err != nil {
			return err
		}
	}
	return it.Error()
}

// ScanFiles calls fn for every files row.
func (b *Backend) ScanFiles(ctx context.Context, fn func(chunkstore.FileInfo) error) error {
	return b.scan(ctx, "f/", func(v []byte) error {
		var f chunkstore.FileInfo
		if err := json.Unmarshal(v, &f); err != nil {
			return fmt.Errorf("scan files: %w", chunkstore.ErrCorrupt)
		}
		return fn(f)
	})
}

// GetDerived reads a derived record.
func (b *Backend) GetDerived(_ context.Context, src, variant string) (string, error) {
	v, err := b.get(derivedKey(src, variant))
	if err != nil {
		return "", fmt.Errorf("get derived %s/%s: %w", src, variant, err)
	}
	return string(v), nil
}

// ClaimDerived stores fileID unless a record exists.
func (b *Backend) ClaimDerived(_ context.Context, src, variant, fileID string) (string, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, err := b.get(derivedKey(src, variant))
	if err == nil {
		return string(v), false, nil
	}
	if !errors.Is(err, chunkstore.ErrNotFound) {
		return "", false, err
	}
	if err := b.db.Set(derivedKey(src, variant), []byte(fileID), b.commit); err != nil {
		return "", false, err
	}
	return fileID, true, nil
}

// DeleteDerived removes a derived record.
func (b *Backend) DeleteDerived(_ context.Context, src, variant string) error {
	return b.db.Delete(derivedKey(src, variant), b.commit)
}

// Ping fails once the database is closed; an open local database always
// answers.
func (b *Backend) Ping(context.Context) error {
	if b.closed.Load() {
		return fmt.Errorf("embedded: %w", pebble.ErrClosed)
	}
	return nil
}

// Close flushes and closes the database; closing twice is harmless (Pebble
// itself panics on a second Close).
func (b *Backend) Close() error {
	b.once.Do(func() { b.closed.Store(true); b.err = b.db.Close() })
	return b.err
}

// pebbleLogger keeps Pebble's informational chatter (flushes, compactions)
// out of the server log and sends its errors to slog.
type pebbleLogger struct{ log *slog.Logger }

func (pebbleLogger) Infof(string, ...any) {}
func (l pebbleLogger) Errorf(f string, a ...any) {
	l.log.Error(fmt.Sprintf(f, a...), "component", "pebble")
}
func (pebbleLogger) Fatalf(f string, a ...any) { panic(fmt.Sprintf("pebble: "+f, a...)) }
