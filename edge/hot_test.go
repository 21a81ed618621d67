package edge_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mediaedge/mediaedge/edge"
)

// ramHits reads mediaedge_cache_requests_total{disk="ram",result="hit"}.
func ramHits(t *testing.T, e *env) string {
	t.Helper()
	_, body := do(t, "GET", e.ts.URL+"/metrics", nil, nil)
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, `mediaedge_cache_requests_total{disk="ram",result="hit"}`) {
			return l[strings.LastIndexByte(l, ' ')+1:]
		}
	}
	return "none"
}

// TestHotTier: an entry hit twice on disk is then served from memory, with
// the same headers, conditionals, ranges and HEAD as from disk.
func TestHotTier(t *testing.T) {
	e := newEnv(t, true, func(c *edge.Config, _ *edge.Deps) { c.CacheRAM, c.CacheRAMMaxEntry = 1<<20, 64<<10 })
	data := randBytes(20_000, 7)
	f := e.put(t, data)
	url := e.ts.URL + "/m/" + f.ID
	var disk http.Header
	for i := range 2 { // a fill, then a disk hit that admits it
		resp, body := do(t, "GET", url, nil, nil)
		if resp.StatusCode != 200 || !bytes.Equal(body, data) {
			t.Fatalf("request %d: %d, %d bytes", i, resp.StatusCode, len(body))
		}
		disk = resp.Header
	}
	if got := ramHits(t, e); got != "0" {
		t.Fatalf("ram hits before any: %s", got)
	}
	resp, body := do(t, "GET", url, nil, nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("from memory: %d, %d bytes", resp.StatusCode, len(body))
	}
	if got := ramHits(t, e); got != "1" {
		t.Fatalf("ram hits after the third request: %s, want 1", got)
	}
	for _, h := range []string{"Content-Type", "Etag", "Cache-Control", "Content-Length", "Last-Modified", "Accept-Ranges", "Access-Control-Allow-Origin", "X-Content-Type-Options"} {
		if resp.Header.Get(h) != disk.Get(h) || resp.Header.Get(h) == "" {
			t.Errorf("%s: %q from memory, %q from disk", h, resp.Header.Get(h), disk.Get(h))
		}
	}
	etag := resp.Header.Get("Etag")
	if resp, _ := do(t, "GET", url, map[string]string{"If-None-Match": etag}, nil); resp.StatusCode != 304 {
		t.Errorf("If-None-Match from memory: %d, want 304", resp.StatusCode)
	}
	resp, body = do(t, "GET", url, map[string]string{"Range": "bytes=100-199"}, nil)
	if resp.StatusCode != 206 || !bytes.Equal(body, data[100:200]) || resp.Header.Get("Content-Range") != "bytes 100-199/20000" {
		t.Errorf("range from memory: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Range"), len(body))
	}
	req, _ := http.NewRequest("HEAD", url, nil)
	hresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := io.ReadAll(hresp.Body)
	hresp.Body.Close()
	if hresp.StatusCode != 200 || len(hb) != 0 || hresp.Header.Get("Content-Length") != "20000" {
		t.Errorf("HEAD: %d, %d body bytes, length %q", hresp.StatusCode, len(hb), hresp.Header.Get("Content-Length"))
	}
	// GET, 304 and 206 from memory; a HEAD of an original is answered
	// from the store's row before any cache tier.
	if got := ramHits(t, e); got != "3" {
		t.Errorf("ram hits: %s, want 3", got)
	}
	// A delete is seen at once: the store's row is checked before any tier.
	if resp, _ := do(t, "DELETE", url, map[string]string{"Authorization": "Bearer " + token}, nil); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", url, nil, nil); resp.StatusCode != 404 {
		t.Errorf("after delete: %d, want 404", resp.StatusCode)
	}
}

// TestHotTierBounds: entries above the size limit stay on disk, and the
// byte budget evicts the least recently used.
func TestHotTierBounds(t *testing.T) {
	e := newEnv(t, true, func(c *edge.Config, _ *edge.Deps) { c.CacheRAM, c.CacheRAMMaxEntry = 50_000, 30_000 })
	big := e.put(t, randBytes(40_000, 1))
	for range 4 {
		do(t, "GET", e.ts.URL+"/m/"+big.ID, nil, nil)
	}
	if got := ramHits(t, e); got != "0" {
		t.Errorf("an entry above cache-ram-max-entry was served from memory (%s hits)", got)
	}
	var ids []string
	for i := range 3 { // 3 x 20 KB in a 50 KB budget: the first is evicted
		f := e.put(t, randBytes(20_000, int64(10+i)))
		ids = append(ids, f.ID)
		for range 3 {
			do(t, "GET", e.ts.URL+"/m/"+f.ID, nil, nil)
		}
	}
	_, body := do(t, "GET", e.ts.URL+"/metrics", nil, nil)
	if !strings.Contains(string(body), "mediaedge_cache_ram_bytes 40000") || !strings.Contains(string(body), "mediaedge_cache_ram_entries 2") {
		t.Errorf("ram tier over budget: %s", grepLines(string(body), "mediaedge_cache_ram"))
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "; ")
}
