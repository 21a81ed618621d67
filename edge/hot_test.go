package edge_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mediaedge/mediaedge/edge"
	"github.com/mediaedge/mediaedge/internal/promtext"
	"github.com/mediaedge/mediaedge/transform"
)

// metric sums the samples of name (with leading labels) on /metrics.
func metric(t *testing.T, e *env, name string) float64 {
	t.Helper()
	_, body := do(t, "GET", e.ts.URL+"/metrics", nil, nil)
	return promtext.Sum(string(body), name)
}

// ramHits is mediaedge_cache_requests_total{disk="ram",result="hit"}.
func ramHits(t *testing.T, e *env) float64 {
	t.Helper()
	return metric(t, e, `mediaedge_cache_requests_total{disk="ram",result="hit"}`)
}

// hotEnv is an edge with a 1 MiB hot tier and one 20 KB original, GET n
// times (each must be a 200 with its bytes). It returns the original's URL,
// its bytes and the last response's headers.
func hotEnv(t *testing.T, seed int64, n int) (e *env, url string, data []byte, last http.Header) {
	t.Helper()
	e = newEnv(t, true, func(c *edge.Config, _ *edge.Deps) { c.CacheRAM, c.CacheRAMMaxEntry = 1<<20, 64<<10 })
	data = randBytes(20_000, seed)
	url = e.ts.URL + "/m/" + e.put(t, data).ID
	for i := range n {
		resp, body := do(t, "GET", url, nil, nil)
		if resp.StatusCode != 200 || !bytes.Equal(body, data) {
			t.Fatalf("request %d: %d, %d bytes", i, resp.StatusCode, len(body))
		}
		last = resp.Header
	}
	return e, url, data, last
}

// TestHotTier: an entry hit twice on disk is then served from memory, with
// the same headers, conditionals, ranges and HEAD as from disk.
func TestHotTier(t *testing.T) {
	e, url, data, disk := hotEnv(t, 7, 2) // a fill, then a disk hit that admits it
	if got := ramHits(t, e); got != 0 {
		t.Fatalf("ram hits before any: %v", got)
	}
	resp, body := do(t, "GET", url, nil, nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("from memory: %d, %d bytes", resp.StatusCode, len(body))
	}
	if got := ramHits(t, e); got != 1 {
		t.Fatalf("ram hits after the third request: %v, want 1", got)
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
	if got := ramHits(t, e); got != 3 {
		t.Errorf("ram hits: %v, want 3", got)
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
	if got := ramHits(t, e); got != 0 {
		t.Errorf("an entry above cache-ram-max-entry was served from memory (%v hits)", got)
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

// TestHotFirst: a request URI answered from memory through the routes is
// answered before them the next time, with the same bytes, headers and
// request metrics; a delete still wins at once; validators go the long way;
// a rendition that varies on Accept is never answered by its URI alone.
func TestHotFirst(t *testing.T) {
	e, url, data, routed := hotEnv(t, 9, 3) // fill, disk hit (admitted), memory through the routes (aliased)
	const first = "mediaedge_cache_ram_first_total"
	if got := metric(t, e, first); got != 0 {
		t.Fatalf("%s before any repeat: %v", first, got)
	}
	resp, body := do(t, "GET", url, nil, nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("repeat: %d, %d bytes", resp.StatusCode, len(body))
	}
	if got := metric(t, e, first); got != 1 {
		t.Fatalf("%s after a repeat: %v, want 1", first, got)
	}
	for _, h := range []string{"Content-Type", "Etag", "Cache-Control", "Content-Length", "Last-Modified", "Accept-Ranges", "Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "X-Content-Type-Options"} {
		if resp.Header.Get(h) != routed.Get(h) || resp.Header.Get(h) == "" {
			t.Errorf("%s: %q before the routes, %q through them", h, resp.Header.Get(h), routed.Get(h))
		}
	}
	if got := metric(t, e, `mediaedge_http_requests_total{route="GET /m/{id}",status="200"}`); got != 4 {
		t.Errorf("requests counted: %v, want 4 (both paths count)", got)
	}
	if got := ramHits(t, e); got != 2 {
		t.Errorf("ram hits: %v, want 2", got)
	}
	// A validator goes through the routes (ServeContent answers it).
	if resp, _ := do(t, "GET", url, map[string]string{"If-None-Match": resp.Header.Get("Etag")}, nil); resp.StatusCode != 304 {
		t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
	}
	if got := metric(t, e, first); got != 1 {
		t.Errorf("%s after a conditional: %v, want still 1", first, got)
	}
	if resp, _ := do(t, "DELETE", url, map[string]string{"Authorization": "Bearer " + token}, nil); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", url, nil, nil); resp.StatusCode != 404 {
		t.Errorf("after delete: %d, want 404", resp.StatusCode)
	}

	// auto=format varies on Accept: the same URI is two entries. A fixed
	// format through the same routes is answered first, the control (another
	// width: w=40&fm=webp is the key auto=format's WebP answers already made hot).
	m := newMediaEnv(t, transform.DefaultConfig())
	img := m.put(t, pngImage(t, 64, 48))
	auto := m.ts.URL + "/m/" + img.ID + "?w=40&auto=format"
	for range 4 {
		if resp, _ := do(t, "GET", auto, map[string]string{"Accept": "image/webp"}, nil); resp.Header.Get("Content-Type") != "image/webp" {
			t.Fatalf("auto=format with WebP accepted: %s", resp.Header.Get("Content-Type"))
		}
	}
	resp, _ = do(t, "GET", auto, map[string]string{"Accept": "image/jpeg"}, nil)
	if ct := resp.Header.Get("Content-Type"); ct == "image/webp" {
		t.Errorf("auto=format without WebP accepted, after WebP hits: %s", ct)
	}
	if got := metric(t, m, first); got != 0 {
		t.Errorf("%s after Accept-varying requests: %v, want 0", first, got)
	}
	for range 4 {
		do(t, "GET", m.ts.URL+"/m/"+img.ID+"?w=41&fm=webp", nil, nil)
	}
	if got := metric(t, m, first); got != 1 {
		t.Errorf("%s after four requests of a fixed format: %v, want 1", first, got)
	}
}
