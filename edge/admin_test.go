package edge_test

import (
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"

	"github.com/mediaedge/mediaedge/edge"
	"github.com/mediaedge/mediaedge/edgecache"
	"github.com/mediaedge/mediaedge/edgecache/vfs"
	"github.com/mediaedge/mediaedge/edgecache/vfs/errorfs"
)

// TestAdminCacheShowsServerState: a disk that fails under the running
// server (every write ENOSPC, injected at the file system) is offline in the
// server's own view, and that view is what /admin/cache and /metrics show:
// an operator is not told "online" about a disk the server stopped using.
func TestAdminCacheShowsServerState(t *testing.T) {
	full := &errorfs.Toggle{Prefix: "/full/", Err: syscall.ENOSPC, Match: func(op errorfs.Op) bool { return op.Kind.IsWrite() }}
	cc := edgecache.DefaultConfig()
	cc.Disks = []edgecache.DiskConfig{{Path: "/ok", Budget: 64 << 20}, {Path: "/full", Budget: 64 << 20}}
	cc.FS = errorfs.Wrap(vfs.NewMem(), full)
	cc.CreateDirs = true
	cache, err := edgecache.Open(context.Background(), cc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close() })
	if err := cache.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, false, func(_ *edge.Config, d *edge.Deps) { d.Cache = cache })
	full.On()
	for i := 0; i < 200 && cache.Stats()[1].State != edgecache.Offline; i++ {
		info := e.put(t, randBytes(2000+i, int64(i)))
		resp, _ := do(t, "GET", e.ts.URL+"/m/"+info.ID, nil, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET while a disk fails: %d", resp.StatusCode)
		}
	}
	if full.Injected() == 0 {
		t.Fatal("no fault was injected")
	}

	resp, body := do(t, "GET", e.ts.URL+"/admin/cache", nil, nil)
	var got struct {
		Disks []struct {
			Path  string `json:"Path"`
			State string `json:"State"`
		} `json:"disks"`
	}
	if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/admin/cache: %d %s %v", resp.StatusCode, body, err)
	}
	states := map[string]string{}
	for _, d := range got.Disks {
		states[d.Path] = d.State
	}
	if states["/ok"] != "online" || states["/full"] != "offline" {
		t.Fatalf("/admin/cache states %v, want /ok online and /full offline", states)
	}
	_, m := do(t, "GET", e.ts.URL+"/metrics", nil, nil)
	for _, want := range []string{
		`mediaedge_cache_disk_state{disk="/full",state="offline"} 1`,
		`mediaedge_cache_disk_state{disk="/ok",state="online"} 1`,
		`mediaedge_cache_requests_total{disk="/ok",result="miss"}`,
	} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
