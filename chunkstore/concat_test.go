package chunkstore_test

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"sync"
	"testing"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/chunkstore/embedded"
)

// heapProbe wraps the embedded backend, keeping its ChunkIntoGetter (so
// readers fetch into pooled chunk buffers, as in production), and measures
// the live heap (after a collection) at every chunk fetch.
type heapProbe struct {
	*embedded.Backend
	mu   sync.Mutex // guards peak
	peak uint64
}

func (h *heapProbe) GetChunkInto(ctx context.Context, id string, idx int, dst []byte) ([]byte, uint32, error) {
	h.sample()
	return h.Backend.GetChunkInto(ctx, id, idx, dst)
}

func (h *heapProbe) sample() {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h.mu.Lock()
	h.peak = max(h.peak, ms.HeapAlloc)
	h.mu.Unlock()
}

// TestConcatReadsPartsOneAtATime: a concatenation of many parts holds one
// part's reader (and its chunk buffer) at a time, not all of them: a final
// naming a 1-byte part 100 times over would otherwise keep 100 chunk
// buffers (1 MiB each) alive until it ends.
func TestConcatReadsPartsOneAtATime(t *testing.T) {
	const parts = 100
	b, err := embedded.Open(embedded.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	probe := &heapProbe{Backend: b}
	s, err := chunkstore.New(probe, chunkstore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	p, err := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: 1, State: chunkstore.UploadPartial})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, p.ID, 0, bytes.NewReader([]byte("x")), chunkstore.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishUpload(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, parts)
	for i := range ids {
		ids[i] = p.ID
	}
	probe.mu.Lock()
	probe.peak = 0 // measure from here
	probe.mu.Unlock()
	probe.sample()
	base := probe.peak
	u, f, err := s.ConcatUploads(ctx, "o", ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs := uint64(s.Config().ChunkSize)
	grew := probe.peak - base
	t.Logf("live heap grew by %d KiB while concatenating %d parts (chunk %d KiB)", grew>>10, parts, cs>>10)
	// The final's writer holds WriteConcurrency+1 chunks and the buffer pool
	// keeps some idle ones; a reader per part would add one chunk each.
	if limit := uint64(s.Config().WriteConcurrency+1)*cs + 32<<20; grew > limit {
		t.Errorf("live heap grew by %d MiB, want at most %d MiB: the parts' readers are held at once", grew>>20, limit>>20)
	}
	r, err := s.Open(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, bytes.Repeat([]byte("x"), parts)) || u.ID != f.ID {
		t.Fatalf("the final: %q, %v", got, err)
	}
}
