package edgecache

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/mediaedge/mediaedge/edgecache/vfs"
)

// body is the deterministic content of key: size and bytes derive from the key,
// so any reader can tell a correct entry from a partial or foreign one.
func body(key string) []byte {
	h := xxhash.Sum64String(key)
	r := rand.New(rand.NewPCG(h, h>>7))
	n := 1 + int(h%(96<<10))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// filler fills keys with body(key) and counts its calls.
type filler struct{ calls atomic.Int64 }

func (f *filler) fill(key string) FillFunc {
	return func(_ context.Context, w io.Writer) (Meta, error) {
		f.calls.Add(1)
		b := body(key)
		// Two writes, to cross the write path more than once.
		if _, err := w.Write(b[:len(b)/2]); err != nil {
			return Meta{}, err
		}
		if _, err := w.Write(b[len(b)/2:]); err != nil {
			return Meta{}, err
		}
		return Meta{ContentType: "application/octet-stream", ETag: fmt.Sprintf(`"%x"`, xxhash.Sum64(b))}, nil
	}
}

// memConfig is testConfig on a fresh in-memory file system.
func memConfig(disks ...DiskConfig) Config {
	cfg := testConfig(disks...)
	cfg.FS = vfs.NewMem()
	cfg.CreateDirs = true
	return cfg
}

func testConfig(disks ...DiskConfig) Config {
	cfg := DefaultConfig()
	cfg.Disks = disks
	cfg.ProbeInterval = time.Hour // tests call Probe themselves
	cfg.StatsInterval = time.Hour
	return cfg
}

func mustOpen(t *testing.T, cfg Config) *Cache {
	t.Helper()
	c, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c
}

// readEntry reads an entry like http.ServeContent does: seek to the end for the
// size, back to the start, then read.
func readEntry(t *testing.T, e *Entry) []byte {
	t.Helper()
	size, err := e.File.Seek(0, io.SeekEnd)
	if err != nil {
		t.Fatalf("seek: %v", err)
	}
	if size != e.Size {
		t.Fatalf("entry %q: file size %d, Size %d", e.Key, size, e.Size)
	}
	if _, err := e.File.Seek(0, io.SeekStart); err != nil {
		t.Fatalf("seek: %v", err)
	}
	b, err := io.ReadAll(e.File)
	if err != nil {
		t.Fatalf("read %q: %v", e.Key, err)
	}
	return b
}

// getOrFillOK fills or hits key and checks the bytes.
func getOrFillOK(t *testing.T, c *Cache, f *filler, key string) *Entry {
	t.Helper()
	e, err := c.GetOrFill(context.Background(), key, f.fill(key))
	if err != nil {
		t.Fatalf("GetOrFill(%q): %v", key, err)
	}
	if got := readEntry(t, e); !bytes.Equal(got, body(key)) {
		t.Fatalf("GetOrFill(%q): %d bytes, want %d, content differs", key, len(got), len(body(key)))
	}
	e.Close()
	return e
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
