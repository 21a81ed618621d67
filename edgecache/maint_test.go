package edgecache

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// fill200K fills key with 200 KiB.
func fill200K(key string) FillFunc {
	return func(_ context.Context, w io.Writer) (Meta, error) {
		_, err := w.Write(bytes.Repeat([]byte(key[len(key)-1:]), 200<<10))
		return Meta{}, err
	}
}

// TestNoEvictKeepsEveryEntry: the maintenance commands open the folders with
// whatever sizes were typed (here 1 MiB for a cache of 4 MiB); with NoEvict the
// start-up scan, Verify, Rebalance (moves onto a small disk) and Purge of one
// key remove nothing else.
func TestNoEvictKeepsEveryEntry(t *testing.T) {
	base := t.TempDir()
	a, b := filepath.Join(base, "a"), filepath.Join(base, "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Open(context.Background(), testConfig(DiskConfig{Path: a, Budget: 1 << 30}), nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 20)
	for i := range keys {
		keys[i] = fmt.Sprintf("big/%d", i)
		e, err := c.GetOrFill(context.Background(), keys[i], fill200K(keys[i]))
		if err != nil {
			t.Fatal(err)
		}
		e.Close()
	}
	c.Close()

	count := func(what string) int {
		t.Helper()
		n := 0
		for _, d := range []string{a, b} {
			n += len(bodiesOnDisk(t, d))
		}
		return n
	}
	cfg := testConfig(DiskConfig{Path: a, Budget: 1 << 20}, DiskConfig{Path: b, Budget: 1 << 20})
	cfg.NoEvict = true
	m := mustOpen(t, cfg)
	if n := count("open"); n != len(keys) {
		t.Fatalf("after opening with a 1 MiB budget: %d of %d entries left", n, len(keys))
	}
	if rep, err := m.Verify(context.Background(), nil); err != nil || rep.Checked != len(keys) || rep.Bad != 0 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	rep, err := m.Rebalance(context.Background(), false, nil)
	if err != nil || rep.Moved == 0 || rep.Failed != 0 {
		t.Fatalf("rebalance: %+v, %v", rep, err)
	}
	if n := count("rebalance"); n != len(keys) {
		t.Fatalf("after rebalance: %d of %d entries left", n, len(keys))
	}
	if rep, err := m.Purge(context.Background(), MatchKey(keys[0])); err != nil || rep.Entries != 1 {
		t.Fatalf("purge: %+v, %v", rep, err)
	}
	if n := count("purge"); n != len(keys)-1 {
		t.Fatalf("after purging one key: %d entries left, want %d", n, len(keys)-1)
	}
	for _, s := range m.Stats() {
		if s.Evictions != 0 {
			t.Errorf("%s: %d evictions with NoEvict", s.Path, s.Evictions)
		}
	}
}
