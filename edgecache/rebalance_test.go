package edgecache

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bodiesOnDisk lists the entry bodies in a cache folder, by key, from their sidecars.
func bodiesOnDisk(t *testing.T, root string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for i := 0; i < 256; i++ {
		dir := filepath.Join(root, fmt.Sprintf("%02x", i))
		names, _ := os.ReadDir(dir)
		for _, n := range names {
			if strings.HasSuffix(n.Name(), metaExt) {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, n.Name()+metaExt))
			if err != nil {
				t.Fatalf("body %s without sidecar", n.Name())
			}
			key := string(b[strings.Index(string(b), `"key":"`)+7:])
			out[key[:strings.IndexByte(key, '"')]]++
		}
	}
	return out
}

func TestAddDiskThenRebalance(t *testing.T) {
	base := t.TempDir()
	dirs := []string{filepath.Join(base, "a"), filepath.Join(base, "b"), filepath.Join(base, "c")}
	for _, d := range dirs {
		os.Mkdir(d, 0o755)
	}
	two := testConfig(DiskConfig{Path: dirs[0], Budget: 1 << 30}, DiskConfig{Path: dirs[1], Budget: 1 << 30})
	c, err := Open(context.Background(), two, nil)
	if err != nil {
		t.Fatal(err)
	}
	var f filler
	keys := make([]string, 120)
	for i := range keys {
		keys[i] = fmt.Sprintf("m/%d?fm=webp", i)
		getOrFillOK(t, c, &f, keys[i])
	}
	c.Close()

	three := two
	three.Disks = append(append([]DiskConfig(nil), two.Disks...), DiskConfig{Path: dirs[2], Budget: 2 << 30})
	c3 := mustOpen(t, three)
	// Before the rebalance every key is still found where it was.
	for _, k := range keys[:20] {
		e, err := c3.Get(context.Background(), k)
		if err != nil {
			t.Fatalf("before rebalance Get(%q): %v", k, err)
		}
		e.Close()
	}
	dry, err := c3.Rebalance(context.Background(), true, nil)
	if err != nil || dry.Moved == 0 || dry.Checked != len(keys) {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	if got := bodiesOnDisk(t, dirs[2]); len(got) != 0 {
		t.Fatalf("dry run moved %d entries", len(got))
	}
	var last [2]int
	rep, err := c3.Rebalance(context.Background(), false, func(done, total int) { last = [2]int{done, total} })
	if err != nil || rep.Moved != dry.Moved || rep.Failed != 0 {
		t.Fatalf("rebalance: %+v, %v (dry run said %d)", rep, err, dry.Moved)
	}
	if last != [2]int{len(keys), len(keys)} {
		t.Errorf("last progress %v", last)
	}
	calls := f.calls.Load()
	for _, k := range keys {
		e, err := c3.Get(context.Background(), k)
		if err != nil {
			t.Fatalf("after rebalance Get(%q): %v", k, err)
		}
		if got := readEntry(t, e); !bytes.Equal(got, body(k)) {
			t.Fatalf("after rebalance %q differs", k)
		}
		if want := c3.place(k); e.Disk != want.root {
			t.Fatalf("%q on %s, placement names %s", k, e.Disk, want.root)
		}
		e.Close()
	}
	if f.calls.Load() != calls {
		t.Error("rebalance lost entries (they were refilled)")
	}
	// No copies left: every key has exactly one body across the three folders.
	count := map[string]int{}
	for _, d := range dirs {
		for k, n := range bodiesOnDisk(t, d) {
			count[k] += n
		}
	}
	if len(count) != len(keys) {
		t.Fatalf("%d keys on disk, want %d", len(count), len(keys))
	}
	for k, n := range count {
		if n != 1 {
			t.Fatalf("key %q has %d copies", k, n)
		}
	}
	// A second run has nothing to do.
	if rep, err := c3.Rebalance(context.Background(), false, nil); err != nil || rep.Moved != 0 {
		t.Fatalf("second rebalance: %+v, %v", rep, err)
	}
}

func TestScanResolvesDuplicatesFromAnInterruptedMove(t *testing.T) {
	base := t.TempDir()
	a, b := filepath.Join(base, "a"), filepath.Join(base, "b")
	os.Mkdir(a, 0o755)
	os.Mkdir(b, 0o755)
	cfg := testConfig(DiskConfig{Path: a, Budget: 1 << 30}, DiskConfig{Path: b, Budget: 1 << 30})
	c, _ := Open(context.Background(), cfg, nil)
	var f filler
	for i := 0; i < 40; i++ {
		getOrFillOK(t, c, &f, fmt.Sprintf("k%d", i))
	}
	// Simulate a move interrupted after the copy: copy every entry of a to b with
	// fresh names, keep the originals.
	for _, e := range c.snapshot() {
		if e.d.root != a {
			continue
		}
		ne, err := c.fillOnce(context.Background(), c.disks[1], e.key, f.fill(e.key), e.created)
		if err != nil {
			t.Fatal(err)
		}
		_ = ne
	}
	c.Close()
	c2 := mustOpen(t, cfg)
	count := map[string]int{}
	for _, d := range []string{a, b} {
		for k, n := range bodiesOnDisk(t, d) {
			count[k] += n
		}
	}
	for k, n := range count {
		if n != 1 {
			t.Fatalf("key %q has %d copies after the scan", k, n)
		}
	}
	for i := 0; i < 40; i++ {
		k := fmt.Sprintf("k%d", i)
		e, err := c2.Get(context.Background(), k)
		if err != nil {
			t.Fatalf("Get(%q): %v", k, err)
		}
		if e.Disk != c2.place(k).root {
			t.Errorf("kept the copy on %s, placement names %s", e.Disk, c2.place(k).root)
		}
		e.Close()
	}
}
