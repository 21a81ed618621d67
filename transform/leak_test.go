package transform

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"testing"
)

// TestNoNativeLeak runs a few thousand cold transforms (every one a different
// width and so a real decode, resize and encode) and checks that the
// process' resident set stops growing once warmed up. libvips memory is
// invisible to Go's GC and heap profiles: an image whose reference is never
// dropped (the final image of every transform, once) shows only here: it
// measured about 0.5 MB per transform on 12 MP photos, and 300 KB on this
// test's 640x480 ones (VmRSS 37 MiB at start, then 246, 433, 610 and 793
// MiB after each 600 transforms; 54, 54, 56, 58 MiB once fixed). The bound
// is generous, never a timing: allocator arenas and Go's heap settle within
// it, a leak of even 50 KB per transform does not.
func TestNoNativeLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of transforms; skipped under -short")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc/self/status")
	}
	p := newProc(t)
	// A JPEG and a PNG that takes the PNG fast path (pngfast.go), whose
	// decoded pixels libvips frees when their image closes.
	srcs := []struct {
		b   []byte
		typ string
	}{{photo(t, 640, 480), "image/jpeg"}, {makePNG(t, 640, 480, 2, photoPix(640, 480, 3, 5), []byte{0, 1, 2, 3, 4}, 1), "image/png"}}
	if _, ok := parseRawPNG(srcs[1].b); !ok {
		t.Fatal("the PNG does not take the fast path")
	}
	const n, workers = 2400, 2
	formats := []string{"webp", "jpg", "png"}
	var rss []int64 // VmRSS after each quarter
	do := func(from, to int) {
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for g := 0; g < workers; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := from + g; i < to; i += workers {
					// Widths 160..479 and three encoders: nothing repeats
					// within a quarter, so no cache of any kind can answer.
					q := fmt.Sprintf("w=%d&fm=%s", 160+i%320, formats[i%len(formats)])
					spec, err := Parse(p.Config(), "", mustQuery(t, q), "")
					if err == nil {
						src := srcs[(i/len(formats))%len(srcs)]
						_, err = p.Process(context.Background(), src.b, src.typ, spec)
					}
					if err != nil {
						errs <- fmt.Errorf("%s: %w", q, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		debug.FreeOSMemory() // Go's own garbage is not what this measures
		rss = append(rss, vmRSS(t))
	}
	rss = append(rss, vmRSS(t))
	for q := 0; q < 4; q++ {
		do(q*n/4, (q+1)*n/4)
	}
	t.Logf("VmRSS: start %d MiB, after %d/%d/%d/%d transforms %d/%d/%d/%d MiB",
		rss[0]>>20, n/4, n/2, 3*n/4, n, rss[1]>>20, rss[2]>>20, rss[3]>>20, rss[4]>>20)
	// The first half warms up (libvips' per-thread buffers, malloc arenas,
	// Go's heap); the second half must not keep growing.
	if grew := rss[4] - rss[2]; grew > 64<<20 {
		t.Fatalf("VmRSS grew %d MiB over the last %d transforms (from %d to %d MiB): native memory leaks",
			grew>>20, n/2, rss[2]>>20, rss[4]>>20)
	}
}

// vmRSS is the process' current resident set in bytes.
func vmRSS(t testing.TB) int64 { return procStatus(t, "VmRSS") }
