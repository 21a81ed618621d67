package edge

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/edgecache"
	"github.com/mediaedge/mediaedge/edgecache/vfs"
)

// gatedFile is a cache file whose ReadAt waits at a gate: admit reads the
// body between its ghost check and its add, so two admits held there have
// both passed the ghost check and race for the add.
type gatedFile struct {
	vfs.File // nil: admit only calls ReadAt
	body     []byte
	arrived  chan<- struct{}
	gate     <-chan struct{}
}

func (f *gatedFile) ReadAt(p []byte, off int64) (int, error) {
	f.arrived <- struct{}{}
	<-f.gate
	return copy(p, f.body[off:]), nil
}

// TestHotAdmitCountsBytesOnce: two disk hits of one key admitted at the same
// time keep one entry, and the tier counts its bytes once. Bytes counted
// twice are never given back: over time the tier believes itself full and
// evicts everything on every admit.
//
// The two admits' look-then-add is a window of a few microseconds with no
// hook to hold it open, so the race is run over many keys: with the window
// open, some of them lose bytes.
func TestHotAdmitCountsBytesOnce(t *testing.T) {
	const keys, size = 500, 1000
	h := newHotCache(keys*size*2, size) // room for every key: nothing is evicted
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i)
	}
	for i := range keys {
		o := origin{key: fmt.Sprintf("id%d/w=10", i), etag: `"e"`, modTime: time.Unix(1e9, 0)}
		arrived, gate := make(chan struct{}), make(chan struct{})
		entry := func() *edgecache.Entry {
			f := &gatedFile{body: body, arrived: arrived, gate: gate}
			return &edgecache.Entry{File: f, Key: o.key, Size: size, Meta: edgecache.Meta{ContentType: "image/webp"}}
		}
		h.admit(entry(), o) // seen once: remembered as a ghost, not read
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() { h.admit(entry(), o) })
		}
		<-arrived
		<-arrived // both past the ghost check
		close(gate)
		wg.Wait()
	}
	if n := h.entries.Len(); n != keys {
		t.Fatalf("%d entries, want %d", n, keys)
	}
	if got, want := h.bytes.Load(), int64(keys*size); got != want {
		t.Fatalf("hot tier counts %d bytes for %d entries of %d: %d leaked", got, keys, size, got-want)
	}
	// Evicting everything brings the count back to zero.
	h.entries.Purge()
	if got := h.bytes.Load(); got != 0 {
		t.Fatalf("empty hot tier counts %d bytes", got)
	}
}
