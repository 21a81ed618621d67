package embedded

// The uploads rows: stored as JSON with the incarnation that wrote them,
// compare-and-set under a striped lock, and the fenced chunk writes of an
// upload's lease holder (see the package comment).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/chunkstore"
)

// uploadRow is an uploads row as stored: the upload, and the incarnation of
// the backend that wrote it.
type uploadRow struct {
	chunkstore.UploadInfo
	Boot string `json:",omitempty"`
}

// decodeUpload reads a stored uploads row; a lease taken by an earlier
// incarnation reads as free (its fence stays).
func (b *Backend) decodeUpload(raw []byte) (chunkstore.UploadInfo, error) {
	var r uploadRow
	if err := json.Unmarshal(raw, &r); err != nil {
		return chunkstore.UploadInfo{}, fmt.Errorf("%w: %v", chunkstore.ErrCorrupt, err)
	}
	if r.Boot != b.boot {
		r.Lease.Holder, r.Lease.Until = "", time.Time{}
	}
	return r.UploadInfo, nil
}

func (b *Backend) getUpload(id string) (chunkstore.UploadInfo, error) {
	raw, err := b.get(uploadKey(id))
	if err != nil {
		return chunkstore.UploadInfo{}, err
	}
	return b.decodeUpload(raw)
}

func (b *Backend) rowLock(id string) *sync.RWMutex {
	h := fnv.New32a()
	h.Write([]byte(id))
	return &b.rows[h.Sum32()%uint32(len(b.rows))]
}

// putUploadRow writes an upload row. A row whose durable state moved (the
// offset, length or state: a commit point) is written durably, after an
// fsync of the blob its offset now covers; a change of the lease alone is
// not synced (a crash ends every holder with the process, so a lease that
// is lost with it is of no account).
func (b *Backend) putUploadRow(u chunkstore.UploadInfo, prev *chunkstore.UploadInfo) error {
	opts := b.commit
	if prev != nil && u.Offset == prev.Offset && u.Length == prev.Length && u.State == prev.State {
		opts = pebble.NoSync
	} else if u.Offset > 0 {
		if err := b.syncBlob(u.ID); err != nil {
			return fmt.Errorf("sync chunks: %w", err)
		}
	}
	raw, err := json.Marshal(uploadRow{UploadInfo: u, Boot: b.boot})
	if err != nil {
		return err
	}
	err = b.db.Set(uploadKey(u.ID), raw, opts)
	if err == nil && u.Lease.Holder != "" {
		b.held.Store(u.ID, u.Lease.Fence)
	} else {
		b.held.Delete(u.ID) // let go, or not known to be written: fenced reads the row
	}
	return err
}

// CreateUpload writes a new upload row; ErrExists if the id is taken.
func (b *Backend) CreateUpload(_ context.Context, u chunkstore.UploadInfo) error {
	mu := b.rowLock(u.ID)
	mu.Lock()
	defer mu.Unlock()
	if _, err := b.get(uploadKey(u.ID)); err == nil {
		return fmt.Errorf("create upload %s: %w", u.ID, chunkstore.ErrExists)
	} else if !errors.Is(err, chunkstore.ErrNotFound) {
		return fmt.Errorf("create upload %s: %w", u.ID, err)
	}
	if err := b.putUploadRow(u, nil); err != nil {
		return fmt.Errorf("create upload %s: %w", u.ID, err)
	}
	return nil
}

// UpdateUpload writes u if the stored row is still at version prev.
func (b *Backend) UpdateUpload(_ context.Context, u chunkstore.UploadInfo, prev int64) (chunkstore.UploadInfo, error) {
	mu := b.rowLock(u.ID)
	mu.Lock()
	defer mu.Unlock()
	cur, err := b.getUpload(u.ID)
	if err != nil {
		return chunkstore.UploadInfo{}, fmt.Errorf("update upload %s: %w", u.ID, err)
	}
	if cur.Version != prev {
		return cur, fmt.Errorf("update upload %s at version %d, stored %d: %w", u.ID, prev, cur.Version, chunkstore.ErrConflict)
	}
	// The fields fixed at creation stay as stored.
	next := cur
	next.Length, next.Offset, next.Metadata, next.ExpiresAt = u.Length, u.Offset, u.Metadata, u.ExpiresAt
	next.State, next.HashState, next.Lease = u.State, u.HashState, u.Lease
	next.Version = prev + 1
	if err := b.putUploadRow(next, &cur); err != nil {
		return cur, fmt.Errorf("update upload %s: %w", u.ID, err)
	}
	return next, nil
}

// fenced runs fn (a chunk write or delete of upload id) while no
// compare-and-set of the row can run, if fence is the row's and its lease
// is held.
func (b *Backend) fenced(id string, fence int64, fn func() error) error {
	mu := b.rowLock(id)
	mu.RLock()
	defer mu.RUnlock()
	// Every write of an uploads row goes through putUploadRow or
	// DeleteUpload under the row's write lock, which keep held in step: so
	// while we hold the read lock, an entry is the stored row's lease. The
	// row is read (and its JSON decoded) only when there is none: after a
	// restart, or to say why a write is refused. That read was 1.5% of an
	// upload's CPU, once per chunk.
	if f, ok := b.held.Load(id); ok && f.(int64) == fence {
		return fn()
	}
	u, err := b.getUpload(id)
	if err != nil {
		return err
	}
	if u.Lease.Fence != fence || u.Lease.Holder == "" {
		return fmt.Errorf("fence %d, upload's %d (holder %q): %w", fence, u.Lease.Fence, u.Lease.Holder, chunkstore.ErrConflict)
	}
	return fn()
}

// PutUploadChunk writes a chunk of an upload for the holder of fence; a
// stale fence is refused with ErrConflict.
func (b *Backend) PutUploadChunk(ctx context.Context, id string, idx int, data []byte, crc uint32, fence int64) error {
	err := b.fenced(id, fence, func() error { return b.PutChunk(ctx, id, idx, data, crc) })
	if err != nil {
		return fmt.Errorf("put chunk %d of upload %s: %w", idx, id, err)
	}
	return nil
}

// DeleteUploadChunks removes chunks [from, to) of an upload for the holder
// of fence.
func (b *Backend) DeleteUploadChunks(ctx context.Context, id string, from, to int, fence int64) error {
	err := b.fenced(id, fence, func() error {
		if err := b.db.DeleteRange(chunkKey(id, from), chunkKey(id, to), pebble.NoSync); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete chunks %d..%d of upload %s: %w", from, to-1, id, err)
	}
	return nil
}

// GetUpload reads an upload row.
func (b *Backend) GetUpload(_ context.Context, id string) (chunkstore.UploadInfo, error) {
	u, err := b.getUpload(id)
	if err != nil {
		return chunkstore.UploadInfo{}, fmt.Errorf("get upload %s: %w", id, err)
	}
	return u, nil
}

// DeleteUpload removes an upload row at version, and its blob unless the
// upload became a file (same id, same blob).
func (b *Backend) DeleteUpload(_ context.Context, id string, version int64) error {
	mu := b.rowLock(id)
	mu.Lock()
	defer mu.Unlock()
	cur, err := b.getUpload(id)
	switch {
	case errors.Is(err, chunkstore.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("delete upload %s: %w", id, err)
	case cur.Version != version:
		return fmt.Errorf("delete upload %s at version %d, stored %d: %w", id, version, cur.Version, chunkstore.ErrConflict)
	}
	b.held.Delete(id)
	if err := b.db.Delete(uploadKey(id), b.commit); err != nil {
		return err
	}
	if _, err := b.get(fileKey(id)); errors.Is(err, chunkstore.ErrNotFound) {
		return b.removeBlob(id)
	}
	return nil
}

// ScanUploads calls fn for every upload row.
func (b *Backend) ScanUploads(ctx context.Context, fn func(chunkstore.UploadInfo) error) error {
	return b.scan(ctx, "u/", func(v []byte) error {
		u, err := b.decodeUpload(v)
		if err != nil {
			return fmt.Errorf("scan uploads: %w", err)
		}
		return fn(u)
	})
}
