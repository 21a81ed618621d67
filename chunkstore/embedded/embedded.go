// Package embedded is the zero-set-up chunkstore.Backend: a Pebble database
// in a local folder, with the keys and semantics of the Cassandra tables.
//
// Keys mirror the tables: f/<id> (files), c/<id>/<idx as 4 big-endian bytes>
// (chunks; the CRC32C is the value's first 4 bytes), u/<id> (uploads),
// d/<source>\x00<variant> (derived). Rows are JSON: they are small, read once
// per request, and JSON keeps a data folder inspectable with any Pebble tool;
// chunk values are raw bytes, the only hot path.
//
// Durability: chunk writes do not fsync; the files and uploads rows (the
// commit points) do. Pebble has one write-ahead log in write order, so the
// fsync of a row also makes every chunk written before it durable: a file
// visible after a crash has all its chunks. ClaimDerived is a get-then-set
// under a mutex, which is atomic because one process owns the folder (Pebble
// locks it).
package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/chunkstore"
)

// Config says where the database lives.
type Config struct {
	// Dir is the database folder, created if missing.
	Dir string
	// Sync makes commit points (file and upload rows) durable before they
	// return. Turn off only in tests.
	Sync bool
}

// Backend implements chunkstore.Backend on Pebble.
type Backend struct {
	db     *pebble.DB
	commit *pebble.WriteOptions
	mu     sync.Mutex // guards ClaimDerived's read-then-write
	once   sync.Once
	err    error
}

var _ chunkstore.Backend = (*Backend)(nil)

// Open opens (or creates) the database in cfg.Dir.
func Open(cfg Config) (*Backend, error) {
	if cfg.Dir == "" {
		return nil, errors.New("embedded: a folder is required")
	}
	db, err := pebble.Open(cfg.Dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		return nil, fmt.Errorf("embedded: open %s: %w", cfg.Dir, err)
	}
	commit := pebble.NoSync
	if cfg.Sync {
		commit = pebble.Sync
	}
	return &Backend{db: db, commit: commit}, nil
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

// PutChunk stores a chunk with its CRC in front.
func (b *Backend) PutChunk(_ context.Context, id string, idx int, data []byte, crc uint32) error {
	v := make([]byte, 4+len(data))
	binary.BigEndian.PutUint32(v, crc)
	copy(v[4:], data)
	if err := b.db.Set(chunkKey(id, idx), v, pebble.NoSync); err != nil {
		return fmt.Errorf("put chunk %d of %s: %w", idx, id, err)
	}
	return nil
}

// GetChunk returns a chunk and its stored CRC.
func (b *Backend) GetChunk(_ context.Context, id string, idx int) ([]byte, uint32, error) {
	v, closer, err := b.db.Get(chunkKey(id, idx))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, 0, fmt.Errorf("get chunk %d of %s: %w", idx, id, chunkstore.ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get chunk %d of %s: %w", idx, id, err)
	}
	defer closer.Close()
	if len(v) < 4 {
		return nil, 0, fmt.Errorf("get chunk %d of %s: %w", idx, id, chunkstore.ErrCorrupt)
	}
	return bytes.Clone(v[4:]), binary.BigEndian.Uint32(v), nil
}

// DeleteChunk removes a chunk.
func (b *Backend) DeleteChunk(_ context.Context, id string, idx int) error {
	return b.db.Delete(chunkKey(id, idx), pebble.NoSync)
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
	if err := b.putJSON(fileKey(f.ID), f); err != nil {
		return fmt.Errorf("put file %s: %w", f.ID, err)
	}
	return nil
}

// GetFile reads a files row.
func (b *Backend) GetFile(_ context.Context, id string) (chunkstore.FileInfo, error) {
	var f chunkstore.FileInfo
	if err := b.getJSON(fileKey(id), &f); err != nil {
		return chunkstore.FileInfo{}, fmt.Errorf("get file %s: %w", id, err)
	}
	return f, nil
}

// DeleteFile removes a files row.
func (b *Backend) DeleteFile(_ context.Context, id string) error {
	return b.db.Delete(fileKey(id), b.commit)
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

// PutUpload writes an upload row, durably.
func (b *Backend) PutUpload(_ context.Context, u chunkstore.UploadInfo) error {
	if err := b.putJSON(uploadKey(u.ID), u); err != nil {
		return fmt.Errorf("put upload %s: %w", u.ID, err)
	}
	return nil
}

// GetUpload reads an upload row.
func (b *Backend) GetUpload(_ context.Context, id string) (chunkstore.UploadInfo, error) {
	var u chunkstore.UploadInfo
	if err := b.getJSON(uploadKey(id), &u); err != nil {
		return chunkstore.UploadInfo{}, fmt.Errorf("get upload %s: %w", id, err)
	}
	return u, nil
}

// DeleteUpload removes an upload row.
func (b *Backend) DeleteUpload(_ context.Context, id string) error {
	return b.db.Delete(uploadKey(id), b.commit)
}

// ScanUploads calls fn for every upload row.
func (b *Backend) ScanUploads(ctx context.Context, fn func(chunkstore.UploadInfo) error) error {
	return b.scan(ctx, "u/", func(v []byte) error {
		var u chunkstore.UploadInfo
		if err := json.Unmarshal(v, &u); err != nil {
			return fmt.Errorf("scan uploads: %w", chunkstore.ErrCorrupt)
		}
		return fn(u)
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

// Ping always succeeds on an open local database.
func (b *Backend) Ping(context.Context) error { return nil }

// Close flushes and closes the database; closing twice is harmless (Pebble
// itself panics on a second Close).
func (b *Backend) Close() error {
	b.once.Do(func() { b.err = b.db.Close() })
	return b.err
}

// quietLogger keeps Pebble's informational chatter out of the server log.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)      {}
func (quietLogger) Errorf(f string, a ...any) { fmt.Printf("pebble: "+f+"\n", a...) }
func (quietLogger) Fatalf(f string, a ...any) { panic(fmt.Sprintf("pebble: "+f, a...)) }
