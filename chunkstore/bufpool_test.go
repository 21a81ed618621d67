package chunkstore

import (
	"runtime"
	"testing"
)

// TestBufPoolSurvivesGC is why bufPool is not a sync.Pool: a buffer given
// back is still there after garbage collections, so a steady load reuses its
// buffers instead of faulting in fresh pages for every new one.
func TestBufPoolSurvivesGC(t *testing.T) {
	p := newBufPool(1<<20, 2)
	a, b := p.Get(), p.Get()
	*a = append(*a, 1, 2, 3)
	p.Put(a)
	p.Put(b)
	runtime.GC()
	runtime.GC()
	got := map[*[]byte]bool{p.Get(): true, p.Get(): true}
	if !got[a] || !got[b] {
		t.Fatal("a buffer given back was dropped by the collections")
	}
	if len(*a) != 0 || cap(*a) != 1<<20 {
		t.Errorf("reused buffer has len %d cap %d, want 0 and 1 MiB", len(*a), cap(*a))
	}

	// Bounded: past max, buffers are dropped; a buffer of another size never
	// comes back.
	p.Put(a)
	p.Put(b)
	c := p.Get()
	p.Put(p.Get())
	p.Put(c)
	extra := p.Get()
	p.Put(extra)
	if n := len(p.free); n > 2 {
		t.Errorf("%d buffers kept, want at most 2", n)
	}
	big := make([]byte, 0, 2<<20)
	p2 := newBufPool(1<<20, 4)
	p2.Put(&big)
	if g := p2.Get(); cap(*g) != 1<<20 {
		t.Errorf("a 2 MiB buffer came back from a 1 MiB pool")
	}
}
