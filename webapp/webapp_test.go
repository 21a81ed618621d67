package webapp

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func testFS() fstest.MapFS {
	return fstest.MapFS{
		"index.html":         {Data: []byte(`<html data-sig="{{REQUIRE_SIGNATURE}}" data-missing="{{MISSING}}"><script type="module" src="{{APP}}/app.js"></script></html>`)},
		"app.js":             {Data: []byte("import './api.js';\n")},
		"api.js":             {Data: []byte("export const x = 1;\n")},
		"style.css":          {Data: []byte("body{}\n")},
		"vendor/.gitkeep":    {Data: nil},
		"vendor/tus.min.js":  {Data: []byte("var tus;\n")},
		"vendor/hls.min.js":  {Data: []byte("var Hls;\n")},
		"vendor/readme.json": {Data: []byte("{}")},
	}
}

func newTest(t *testing.T, cfg Config, fsys fstest.MapFS) *Handler {
	t.Helper()
	h, err := newFromFS(cfg, fsys)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestServe(t *testing.T) {
	h := newTest(t, Config{RequireSignature: true}, testFS())
	v := "/app/" + h.Version()
	for _, tc := range []struct {
		method, path string
		status       int
		ctype, cache string
		body         string // a substring of the body
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", "no-cache", `src="` + v + `/app.js"`},
		{"HEAD", "/", 200, "text/html; charset=utf-8", "no-cache", ""},
		{"GET", v + "/app.js", 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "import"},
		{"GET", v + "/style.css", 200, "text/css; charset=utf-8", "public, max-age=31536000, immutable", "body"},
		{"GET", v + "/vendor/hls.min.js", 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "Hls"},
		{"GET", v + "/vendor/readme.json", 200, "application/json; charset=utf-8", "public, max-age=31536000, immutable", "{}"},
		// Unversioned, or an older binary's version: never pinned for a year.
		{"GET", "/app/app.js", 200, "text/javascript; charset=utf-8", "public, max-age=300", "import"},
		{"GET", "/app/v-0123456789abcdef/app.js", 200, "text/javascript; charset=utf-8", "public, max-age=300", "import"},
		{"GET", v + "/missing.js", 404, "application/json", "", `"not_found"`},
		{"GET", "/app/", 404, "application/json", "", `"not_found"`},
		{"GET", v + "/vendor/.gitkeep", 404, "application/json", "", ""},
		{"GET", v + "/index.html", 404, "application/json", "", ""}, // only at /
		{"GET", v + "/vendor/../app.js", 404, "application/json", "", ""},
		{"GET", "/other", 404, "application/json", "", ""},
		{"POST", "/", 405, "application/json", "", ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://127.0.0.1:8080"+tc.path, nil)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			hdr := w.Header()
			if !strings.HasPrefix(hdr.Get("Content-Type"), tc.ctype) {
				t.Errorf("Content-Type %q, want %q", hdr.Get("Content-Type"), tc.ctype)
			}
			if hdr.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no X-Content-Type-Options: nosniff")
			}
			if hdr.Get("Cache-Control") != tc.cache && tc.cache != "" {
				t.Errorf("Cache-Control %q, want %q", hdr.Get("Cache-Control"), tc.cache)
			}
			if !strings.Contains(w.Body.String(), tc.body) {
				t.Errorf("body %q does not contain %q", w.Body, tc.body)
			}
			if tc.status == 200 {
				if hdr.Get("ETag") == "" {
					t.Error("no ETag")
				}
				if !strings.Contains(hdr.Get("Content-Security-Policy"), "script-src 'self'") {
					t.Errorf("CSP %q", hdr.Get("Content-Security-Policy"))
				}
			}
		})
	}
}

func TestCSP(t *testing.T) {
	h := newTest(t, Config{}, testFS())
	r := httptest.NewRequest("GET", "http://127.0.0.1:8080/", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	csp := w.Header().Get("Content-Security-Policy")
	for _, want := range []string{
		"default-src 'none'", "script-src 'self';", "style-src 'self';",
		"media-src 'self' blob:", "worker-src 'self' blob:",
		"connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;",
		"frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'",
	} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP %q allows %q", csp, bad)
		}
	}
	// A Host that could add a source is left out of the policy.
	r = httptest.NewRequest("GET", "/", nil)
	r.Host = "evil.example; script-src *"
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if csp := w.Header().Get("Content-Security-Policy"); strings.Contains(csp, "evil") || !strings.Contains(csp, "connect-src 'self';") {
		t.Errorf("CSP with a hostile Host: %q", csp)
	}
}

func TestConditionalGet(t *testing.T) {
	h := newTest(t, Config{}, testFS())
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/app/"+h.Version()+"/app.js", nil))
	r := httptest.NewRequest("GET", "/app/"+h.Version()+"/app.js", nil)
	r.Header.Set("If-None-Match", w.Header().Get("ETag"))
	w2 := httptest.NewRecorder()
	h.ServeHTTP(w2, r)
	if w2.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", w2.Code)
	}
}

func TestIndexPlaceholders(t *testing.T) {
	fsys := testFS()
	delete(fsys, "vendor/hls.min.js")
	h := newTest(t, Config{RequireSignature: true}, fsys)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	body := w.Body.String()
	if strings.Contains(body, "{{") {
		t.Errorf("placeholders left in index.html: %s", body)
	}
	if !strings.Contains(body, `data-sig="true"`) || !strings.Contains(body, `data-missing="vendor/hls.min.js"`) {
		t.Errorf("index.html: %s", body)
	}
	if m := h.Missing(); len(m) != 1 || m[0] != "vendor/hls.min.js" {
		t.Errorf("Missing() = %v", m)
	}
	// The version changes with any asset.
	fsys["app.js"] = &fstest.MapFile{Data: []byte("changed")}
	if h2 := newTest(t, Config{}, fsys); h2.Version() == h.Version() {
		t.Error("the version did not change with the assets")
	}
}

func TestNoIndex(t *testing.T) {
	fsys := testFS()
	delete(fsys, "index.html")
	if _, err := newFromFS(Config{}, fsys); err == nil {
		t.Error("no error without index.html")
	}
}

// TestEmbedded checks the real assets: the page and its modules are there
// and every asset index.html names is served.
func TestEmbedded(t *testing.T) {
	h, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"app.js", "api.js", "upload.js", "media.js", "social.js", "live.js", "style.css"} {
		if _, ok := h.assets[name]; !ok {
			t.Errorf("assets/%s is not embedded", name)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	body := w.Body.String()
	for _, ref := range []string{"/style.css", "/app.js", "/vendor/tus.min.js", "/vendor/hls.min.js"} {
		if !strings.Contains(body, "/app/"+h.Version()+ref) {
			t.Errorf("index.html does not name %s", ref)
		}
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, " style=") {
		t.Error("index.html has inline script or style, which the CSP forbids")
	}
}
