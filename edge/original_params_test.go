package edge_test

import (
	"bytes"
	"net/url"
	"testing"

	"github.com/mediaedge/mediaedge/transform"
)

// TestParamsThatKeepTheOriginal: valid parameters that change nothing are
// answered with the original's own bytes and ETag, never a 400 and never a
// re-encoding; and whatever they are asked first, the original's cache entry
// keeps the original. auto=format with an Accept that takes neither AVIF nor
// WebP once had the original's cache key while being rendered, so the first
// such request replaced the original in the cache for everyone.
func TestParamsThatKeepTheOriginal(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	tcfg := transform.DefaultConfig()
	tcfg.SignKeys = [][]byte{key}
	e := newMediaEnv(t, tcfg)
	src := pngImage(t, 200, 100)
	star := map[string]string{"Accept": "*/*"}
	tests := []struct {
		name, query string
		hdr         map[string]string
		vary        bool
	}{
		{"auto=format, no AVIF or WebP accepted", "auto=format", star, true},
		{"auto=format, both refused", "auto=format", map[string]string{"Accept": "image/avif;q=0,image/webp;q=0,*/*"}, true},
		{"auto=compress", "auto=compress", nil, false},
		{"dpr=1", "dpr=1", nil, false},
		{"fit=clip", "fit=clip", nil, false},
		{"crop without a cropping fit", "crop=top", nil, false},
		{"defaults spelled out", "dpr=1&fit=clip&crop=center", nil, false},
		{"bare signature", "s=SIGN", nil, false},
	}
	for _, tt := range tests {
		for _, originalFirst := range []bool{false, true} {
			name := tt.name
			if originalFirst {
				name += ", original asked first"
			}
			t.Run(name, func(t *testing.T) {
				info := e.put(t, src)
				path := "/m/" + info.ID
				q := tt.query
				if q == "s=SIGN" {
					q = "s=" + url.QueryEscape(transform.Sign(key, path, url.Values{}))
				}
				orig := func() string {
					t.Helper()
					resp, body := do(t, "GET", e.ts.URL+path, nil, nil)
					if resp.StatusCode != 200 || !bytes.Equal(body, src) {
						t.Fatalf("GET %s: %d, %d bytes, want the original's %d", path, resp.StatusCode, len(body), len(src))
					}
					return resp.Header.Get("ETag")
				}
				var etag string
				if originalFirst {
					etag = orig()
				}
				for i := 0; i < 2; i++ { // the fill, then the cached answer
					resp, body := do(t, "GET", e.ts.URL+path+"?"+q, tt.hdr, nil)
					if resp.StatusCode != 200 {
						t.Fatalf("?%s: %d %.200s", q, resp.StatusCode, body)
					}
					if !bytes.Equal(body, src) {
						t.Fatalf("?%s: %d bytes of %s, want the original's %d", q, len(body), resp.Header.Get("Content-Type"), len(src))
					}
					if got := resp.Header.Get("Vary") == "Accept"; got != tt.vary {
						t.Errorf("?%s: Vary %q", q, resp.Header.Get("Vary"))
					}
					if etag != "" && resp.Header.Get("ETag") != etag {
						t.Errorf("?%s: ETag %s, the original's is %s", q, resp.Header.Get("ETag"), etag)
					}
				}
				if got := orig(); etag != "" && got != etag {
					t.Errorf("the original's ETag moved: %s then %s", etag, got)
				}
			})
		}
	}
}
