package embedded_test

import (
	"bytes"
	"context"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mediaedge/mediaedge/chunkstore/embedded"
)

// TestDirectWrites checks the O_DIRECT path on what it must get right: chunks
// of any length and at any address read back exactly (a partial chunk is
// padded inside its slot, an unaligned slice is copied), a partial chunk
// rewritten longer reads as the new bytes, and the bytes did bypass the page
// cache (mincore: none of a directly written chunk's pages are resident, all
// of a buffered one's are), which is the point of the path.
func TestDirectWrites(t *testing.T) {
	ctx := context.Background()
	const slot = 256 << 10
	open := func(t *testing.T, buffered bool) *embedded.Backend {
		b, err := embedded.Open(embedded.Config{Dir: t.TempDir(), ChunkSize: slot, Sync: true, BufferedWrites: buffered})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	b := open(t, false)
	direct, why := b.DirectWrites()
	if !direct {
		if strings.Contains(why, "refused") {
			t.Skipf("this folder's file system takes no O_DIRECT writes: %s", why)
		}
		t.Fatalf("direct writes off by default: %s", why)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	random := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return p
	}
	big := random(slot + 1)
	chunks := map[int][]byte{
		0: big[:slot],        // aligned address and length: written as it is
		1: big[1 : slot+1],   // a full chunk at an odd address
		2: random(1),         // one byte
		3: random(4096 + 17), // a partial chunk
	}
	id := "directtest01"
	for idx, data := range chunks {
		if err := b.PutChunk(ctx, id, idx, data, crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))); err != nil {
			t.Fatalf("put chunk %d: %v", idx, err)
		}
	}
	// The partial chunk grows, as a resumed upload rewrites its tail.
	chunks[3] = append(chunks[3], random(10000)...)
	if err := b.PutChunk(ctx, id, 3, chunks[3], crc32.Checksum(chunks[3], crc32.MakeTable(crc32.Castagnoli))); err != nil {
		t.Fatal(err)
	}
	for idx, want := range chunks {
		got, sum, err := b.GetChunk(ctx, id, idx)
		if err != nil || !bytes.Equal(got, want) || sum != crc32.Checksum(want, crc32.MakeTable(crc32.Castagnoli)) {
			t.Fatalf("chunk %d: %d bytes (want %d), equal %v, err %v", idx, len(got), len(want), bytes.Equal(got, want), err)
		}
	}

	// Page cache: write a fresh chunk each way and look before reading it.
	resident := func(t *testing.T, dir string, id string, idx int) (in, all int) {
		var path string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Name() == id {
				path = p
			}
			return nil
		})
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Munmap(m)
		off := 4096 + idx*slot
		vec := make([]byte, slot/os.Getpagesize())
		// x/sys/unix has no wrapper for mincore(2).
		if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[off])), slot, uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
			t.Fatal(e)
		}
		for _, v := range vec {
			in += int(v & 1)
		}
		return in, len(vec)
	}
	for _, buffered := range []bool{false, true} {
		dir := t.TempDir()
		bb, err := embedded.Open(embedded.Config{Dir: dir, ChunkSize: slot, Sync: true, BufferedWrites: buffered})
		if err != nil {
			t.Fatal(err)
		}
		data := random(slot)
		if err := bb.PutChunk(ctx, "cachetest01", 1, data, 0); err != nil {
			t.Fatal(err)
		}
		in, all := resident(t, dir, "cachetest01", 1)
		bb.Close()
		if buffered && in != all {
			t.Fatalf("buffered write: %d of %d pages resident, want all (is mincore telling?)", in, all)
		}
		if !buffered && in != 0 {
			t.Fatalf("direct write: %d of %d pages resident in the page cache, want none", in, all)
		}
	}

	if d, why := open(t, true).DirectWrites(); d || why == "" {
		t.Fatalf("BufferedWrites: direct %v, why %q", d, why)
	}
}
