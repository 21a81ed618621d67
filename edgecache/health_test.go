package edgecache

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/edgecache/vfs"
	"github.com/mediaedge/mediaedge/edgecache/vfs/errorfs"
)

func stateOf(c *Cache, path string) DiskState {
	for _, s := range c.Stats() {
		if s.Path == filepath.Clean(path) {
			return s.State
		}
	}
	return -1
}

// keysOn fills keys until n of them are indexed on the disk at path.
func keysOn(t *testing.T, c *Cache, f *filler, path string, n int) []string {
	t.Helper()
	var all []string
	on := 0
	for i := 0; on < n; i++ {
		k := fmt.Sprintf("media/%d", i)
		e := getOrFillOK(t, c, f, k)
		all = append(all, k)
		if e.Disk == filepath.Clean(path) {
			on++
		}
	}
	return all
}

func TestDiskFailingAtRuntimeByFaultInjection(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		// match picks the operations that fail: all, or writes only (a disk that
		// reads but no longer takes writes, like a full or read-only one).
		match func(errorfs.Op) bool
	}{
		{"EIO", syscall.EIO, nil},
		{"ENOSPC", syscall.ENOSPC, func(op errorfs.Op) bool { return op.Kind.IsWrite() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := &errorfs.Toggle{Prefix: "/d2/", Err: tc.err, Match: tc.match}
			cfg := testConfig(DiskConfig{Path: "/d1", Budget: 1 << 30}, DiskConfig{Path: "/d2", Budget: 1 << 30}, DiskConfig{Path: "/d3", Budget: 1 << 30})
			cfg.FS = errorfs.Wrap(vfs.NewMem(), bad)
			cfg.CreateDirs = true
			c := mustOpen(t, cfg)
			var f filler
			keys := keysOn(t, c, &f, "/d2", 20)

			bad.On()
			// Every request keeps succeeding while the disk fails under it: old keys
			// (some were on /d2) and new ones.
			for round := 0; round < 2; round++ {
				for _, k := range keys {
					getOrFillOK(t, c, &f, k)
				}
				for i := 0; i < 40; i++ {
					getOrFillOK(t, c, &f, fmt.Sprintf("new/%d", i))
				}
			}
			if bad.Injected() == 0 {
				t.Fatal("no fault was injected")
			}
			if st := stateOf(c, "/d2"); st != Offline {
				t.Fatalf("failing disk is %v, want offline; stats %+v", st, c.Stats())
			}
			for _, s := range c.Stats() {
				if s.Path == "/d2" && (s.Entries != 0 || s.LastError == "") {
					t.Errorf("offline disk stats: %+v", s)
				}
			}
			// Its share went to the others.
			for i := 0; i < 50; i++ {
				if e := getOrFillOK(t, c, &f, fmt.Sprintf("more/%d", i)); e.Disk == "/d2" {
					t.Fatal("a fill landed on the offline disk")
				}
			}
			// Repaired: the probe brings it back and its old entries are indexed again.
			bad.Off()
			c.Probe(context.Background())
			if st := stateOf(c, "/d2"); st != Online {
				t.Fatalf("after a passing probe the disk is %v", st)
			}
			waitFor(t, "rescan of /d2", func() bool { return c.Stats()[1].Indexed })
			for _, k := range keys {
				getOrFillOK(t, c, &f, k)
			}
		})
	}
}

func TestStalledWriteFallsBackToAnotherDisk(t *testing.T) {
	stall := &errorfs.Stall{Prefix: "/slow/", Err: syscall.EIO, Match: func(op errorfs.Op) bool { return op.Kind == errorfs.OpWrite }}
	cfg := testConfig(DiskConfig{Path: "/slow", Budget: 1 << 30}, DiskConfig{Path: "/fast", Budget: 1 << 30})
	cfg.FS = errorfs.Wrap(vfs.NewMem(), stall)
	cfg.CreateDirs = true
	cfg.WriteDeadline = 50 * time.Millisecond
	cfg.FailThreshold = 2
	c := mustOpen(t, cfg)
	t.Cleanup(stall.Release) // before Close (cleanups run last-in first-out)
	var f filler
	stall.On()
	for i := 0; i < 20; i++ {
		e := getOrFillOK(t, c, &f, fmt.Sprintf("s/%d", i))
		if e.Disk != "/fast" {
			t.Fatalf("entry on %s while /slow stalls", e.Disk)
		}
	}
	if st := stateOf(c, "/slow"); st != Offline {
		t.Fatalf("stalled disk is %v, want offline", st)
	}
	if s := c.Stats()[0]; !strings.Contains(s.LastError, ErrStalled.Error()) {
		t.Errorf("stalled disk stats: %+v", s)
	}
}

// TestRealFolderRemovedAtRuntime makes a real folder unusable. Tests run as root,
// for whom chmod 000 does not stop writes, and a read-only bind mount needs
// privileges a CI container may lack; replacing the folder with a plain file
// gives every later open, create and rename ENOTDIR or ENOENT, which is what a
// vanished mount point does.
func TestRealFolderRemovedAtRuntime(t *testing.T) {
	base := t.TempDir()
	d1, d2 := filepath.Join(base, "d1"), filepath.Join(base, "d2")
	for _, d := range []string{d1, d2} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := mustOpen(t, testConfig(DiskConfig{Path: d1, Budget: 1 << 30}, DiskConfig{Path: d2, Budget: 1 << 30}))
	var f filler
	keys := keysOn(t, c, &f, d2, 8)

	if err := os.RemoveAll(d2); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d2, []byte("not a folder"), 0o644); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		for _, k := range keys {
			getOrFillOK(t, c, &f, k)
		}
		for i := 0; i < 15; i++ {
			getOrFillOK(t, c, &f, fmt.Sprintf("after/%d", i))
		}
	}
	if st := stateOf(c, d2); st != Offline {
		t.Fatalf("removed folder's disk is %v, want offline", st)
	}
	// The disk is replaced: the probe brings it back, empty.
	os.Remove(d2)
	os.Mkdir(d2, 0o755)
	c.Probe(context.Background())
	if st := stateOf(c, d2); st != Online {
		t.Fatalf("after the folder is back the disk is %v", st)
	}
}

func TestStartWithOneFolderMissing(t *testing.T) {
	base := t.TempDir()
	d1, missing := filepath.Join(base, "d1"), filepath.Join(base, "missing")
	os.Mkdir(d1, 0o755)
	c := mustOpen(t, testConfig(DiskConfig{Path: d1, Budget: 1 << 30}, DiskConfig{Path: missing, Budget: 1 << 30}))
	if st := stateOf(c, missing); st != Offline {
		t.Fatalf("missing folder's disk is %v, want offline", st)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatal("the cache created a missing disk folder (it may be an unmounted disk)")
	}
	var f filler
	for i := 0; i < 15; i++ {
		if e := getOrFillOK(t, c, &f, fmt.Sprintf("k/%d", i)); e.Disk != d1 {
			t.Fatalf("entry on %s", e.Disk)
		}
	}
	// The disk gets mounted: the next probe brings it in.
	os.Mkdir(missing, 0o755)
	c.Probe(context.Background())
	if st := stateOf(c, missing); st != Online {
		t.Fatalf("after mounting, the disk is %v", st)
	}
	got := map[string]int{}
	for i := 0; i < 60; i++ {
		got[getOrFillOK(t, c, &f, fmt.Sprintf("late/%d", i)).Disk]++
	}
	if got[missing] == 0 {
		t.Fatalf("the returned disk takes no fills: %v", got)
	}
}
