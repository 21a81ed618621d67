package main

import (
	"bytes"
	"context"
	"net/http/httptest"
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
