package embedded_test

import (
	"context"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/chunkstore/embedded"
	"github.com/mediaedge/mediaedge/chunkstore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		dir := t.TempDir()
		var last *embedded.Backend
		return func() chunkstore.Backend {
			// Pebble locks its folder: a "restart" closes the previous handle.
			if last != nil {
				last.Close()
			}
			b, err := embedded.Open(embedded.Config{Dir: dir, Sync: true})
			if err != nil {
				t.Fatal(err)
			}
			last = b
			return b
		}
	})
}

// TestStreamingMemoryBounded writes and reads 256 MiB through the store while
// sampling the Go heap: it must stay near (WriteConcurrency+ReadAhead+2)
// chunks, not grow with the file. Memory, not time, so a fair pass/fail.
func TestStreamingMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	b, err := embedded.Open(embedded.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := chunkstore.New(b, chunkstore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const size = 256 << 20
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	ctx := context.Background()
	f, err := s.Put(ctx, io.LimitReader(zeroes{}, size), chunkstore.PutOptions{})
	if err == nil {
		var r *chunkstore.Reader
		if r, err = s.Open(ctx, f.ID); err == nil {
			var n int64
			n, err = io.Copy(io.Discard, r)
			r.Close()
			if n != size {
				t.Errorf("read %d bytes", n)
			}
		}
	}
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	// Pebble's memtable (64 MiB by default, off the Go heap only in part)
	// counts here too; the point is that 256 MiB of data did not land on it.
	if p := peak.Load(); p > 128<<20 {
		t.Fatalf("peak heap %d MiB while streaming 256 MiB", p>>20)
	}
	t.Logf("peak heap %d MiB", peak.Load()>>20)
}

type zeroes struct{}

func (zeroes) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
