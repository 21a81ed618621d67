package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/chunkstore/embedded"
	"github.com/mediaedge/mediaedge/edge"
	"github.com/mediaedge/mediaedge/edgecache"
)

// TestCacheStatsFromServer: `cache stats --server` prints the running
// server's own view of its disks.
func TestCacheStatsFromServer(t *testing.T) {
	b, err := embedded.Open(embedded.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	store, err := chunkstore.New(b, chunkstore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	dir := t.TempDir()
	cc := edgecache.DefaultConfig()
	cc.Disks = []edgecache.DiskConfig{{Path: dir, Budget: 1 << 30}}
	cache, err := edgecache.Open(context.Background(), cc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close() })
	srv, err := edge.New(edge.DefaultConfig(), edge.Deps{Store: store, Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"cache", "stats", "--server", ts.URL})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), dir) || !strings.Contains(out.String(), "online") || strings.Contains(out.String(), "read from the folders") {
		t.Fatalf("cache stats --server:\n%s", out.String())
	}
}

// runCache runs `mediaedge cache ARGS...` and returns its stdout.
func runCache(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"cache"}, args...))
	err := root.Execute()
	return out.String(), err
}

// bodiesIn counts the entry bodies in the fan-out folders of a cache folder.
func bodiesIn(t *testing.T, dirs ...string) int {
	t.Helper()
	n := 0
	for _, dir := range dirs {
		matches, err := filepath.Glob(filepath.Join(dir, "[0-9a-f][0-9a-f]", "*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range matches {
			if filepath.Ext(m) == "" {
				n++
			}
		}
	}
	return n
}

// TestCacheCommandsNeverEvict: verify, rebalance and purge run with the sizes
// given on their command line (here 1 MiB for 4 MiB of entries, as a server's
// 200 GiB disk given without its size gets 10 GiB); they must not evict down to
// them. Only the purged key goes.
func TestCacheCommandsNeverEvict(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	cc := edgecache.DefaultConfig()
	cc.Disks = []edgecache.DiskConfig{{Path: a, Budget: 1 << 30}}
	cache, err := edgecache.Open(context.Background(), cc, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := 0; i < n; i++ {
		e, err := cache.GetOrFill(context.Background(), fmt.Sprintf("big/%d", i), func(_ context.Context, w io.Writer) (edgecache.Meta, error) {
			_, err := w.Write(bytes.Repeat([]byte{byte(i)}, 200<<10))
			return edgecache.Meta{}, err
		})
		if err != nil {
			t.Fatal(err)
		}
		e.Close()
	}
	cache.Close()

	for _, step := range []struct {
		args []string
		want int
	}{
		{[]string{"verify", "--cache-dir", a + ":1MiB"}, n},
		{[]string{"rebalance", "--cache-dir", a + ":1MiB", "--cache-dir", b + ":1MiB"}, n},
		{[]string{"purge", "--key", "big/0", "--cache-dir", a + ":1MiB", "--cache-dir", b + ":1MiB"}, n - 1},
	} {
		out, err := runCache(t, step.args...)
		if err != nil {
			t.Fatalf("cache %s: %v\n%s", strings.Join(step.args, " "), err, out)
		}
		if got := bodiesIn(t, a, b); got != step.want {
			t.Fatalf("after cache %s: %d entries on disk, want %d\n%s", strings.Join(step.args, " "), got, step.want, out)
		}
	}
	if got := bodiesIn(t, b); got == 0 {
		t.Errorf("rebalance moved nothing to the new folder")
	}
}

// TestCacheCommandsRefuseLiveServer: while a server has the folder open, the
// commands that write refuse with the lock holder's pid and touch nothing;
// stats and rebalance --dry-run (read-only) still run.
func TestCacheCommandsRefuseLiveServer(t *testing.T) {
	dir := t.TempDir()
	cc := edgecache.DefaultConfig()
	cc.Disks = []edgecache.DiskConfig{{Path: dir, Budget: 1 << 30}}
	cache, err := edgecache.Open(context.Background(), cc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close() })
	e, err := cache.GetOrFill(context.Background(), "k", func(_ context.Context, w io.Writer) (edgecache.Meta, error) {
		_, err := w.Write([]byte("hello"))
		return edgecache.Meta{}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	// A fill of the server in progress: its temp file must survive the commands.
	tmp := filepath.Join(dir, "tmp", "0000000000000000-0000000000000001")
	if err := os.WriteFile(tmp, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}

	pid := fmt.Sprintf("pid %d", os.Getpid())
	for _, tc := range []struct {
		args   []string
		advice string
	}{
		{[]string{"verify"}, "stop it first"},
		{[]string{"purge", "--all"}, "stop it first"},
		{[]string{"rebalance"}, "use --dry-run"},
	} {
		_, err := runCache(t, append(tc.args, "--cache-dir", dir)...)
		if err == nil || !strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), pid) || !strings.Contains(err.Error(), tc.advice) {
			t.Errorf("cache %s beside a live server: %v; want refused, naming %s, advising %q", tc.args[0], err, pid, tc.advice)
		}
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("the server's temp file: %v", err)
	}
	if got := bodiesIn(t, dir); got != 1 {
		t.Fatalf("%d entries on disk, want 1", got)
	}
	for _, args := range [][]string{{"stats"}, {"rebalance", "--dry-run"}} {
		if out, err := runCache(t, append(args, "--cache-dir", dir)...); err != nil {
			t.Errorf("cache %s beside a live server: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
