package edge_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/chunkstore/embedded"
	"github.com/mediaedge/mediaedge/edge"
	"github.com/mediaedge/mediaedge/edgecache"
)

const token = "test-token-0123456789"

type env struct {
	srv   *edge.Server
	store *chunkstore.Store
	ts    *httptest.Server
}

// newEnv serves a real embedded store (and, withCache, a real edge cache)
// through an httptest server; opts adjust the edge config.
func newEnv(t *testing.T, withCache bool, opts ...func(*edge.Config, *edge.Deps)) *env {
	t.Helper()
	b, err := embedded.Open(embedded.Config{Dir: t.TempDir(), Sync: false})
	if err != nil {
		t.Fatal(err)
	}
	cfg := chunkstore.DefaultConfig()
	cfg.ChunkSize = 256 << 10
	store, err := chunkstore.New(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	deps := edge.Deps{Store: store}
	if withCache {
		cc := edgecache.DefaultConfig()
		cc.Disks = []edgecache.DiskConfig{{Path: t.TempDir(), Budget: 64 << 20}}
		cache, err := edgecache.Open(context.Background(), cc, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cache.Close() })
		deps.Cache = cache
	}
	ecfg := edge.DefaultConfig()
	ecfg.UploadTokens = []string{token}
	ecfg.MaxUploadSize = 4 << 20
	for _, o := range opts {
		o(&ecfg, &deps)
	}
	srv, err := edge.New(ecfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &env{srv: srv, store: store, ts: ts}
}

func (e *env) put(t *testing.T, data []byte) chunkstore.FileInfo {
	t.Helper()
	info, err := e.store.Put(context.Background(), bytes.NewReader(data), chunkstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func do(t *testing.T, method, url string, hdr map[string]string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func randBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// TestOriginals is the table of what a client sees for GET/HEAD /m/{id}, with
// and without the edge cache in front of the store.
func TestOriginals(t *testing.T) {
	for _, cached := range []bool{false, true} {
		name := "store"
		if cached {
			name = "cache"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, cached)
			data := randBytes(600<<10+17, 1) // three chunks and a bit
			info := e.put(t, data)
			etag := edge.ETag(info)
			url := e.ts.URL + "/m/" + info.ID
			tests := []struct {
				name       string
				method     string
				hdr        map[string]string
				wantStatus int
				wantBody   []byte
				wantHdr    map[string]string
			}{
				{"full", "GET", nil, 200, data, map[string]string{"ETag": etag, "Cache-Control": "public, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff", "Accept-Ranges": "bytes", "Access-Control-Allow-Origin": "*",
					"Last-Modified": info.CreatedAt.UTC().Format(http.TimeFormat), "Content-Type": "application/octet-stream"}},
				{"head", "HEAD", nil, 200, []byte{}, map[string]string{"Content-Length": "614417", "ETag": etag}},
				{"range", "GET", map[string]string{"Range": "bytes=262140-262150"}, 206, data[262140:262151], map[string]string{"Content-Range": "bytes 262140-262150/614417"}},
				{"suffix range", "GET", map[string]string{"Range": "bytes=-5"}, 206, data[len(data)-5:], nil},
				{"unsatisfiable", "GET", map[string]string{"Range": "bytes=9999999-"}, 416, nil, map[string]string{"Content-Range": "bytes */614417"}},
				{"if-none-match", "GET", map[string]string{"If-None-Match": etag}, 304, []byte{}, map[string]string{"ETag": etag}},
				{"if-none-match other", "GET", map[string]string{"If-None-Match": `"nope"`}, 200, data, nil},
				{"if-range match", "GET", map[string]string{"Range": "bytes=0-3", "If-Range": etag}, 206, data[:4], nil},
				{"if-range mismatch", "GET", map[string]string{"Range": "bytes=0-3", "If-Range": `"old"`}, 200, data, nil},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					resp, body := do(t, tt.method, url, tt.hdr, nil)
					if resp.StatusCode != tt.wantStatus {
						t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tt.wantStatus, body)
					}
					if tt.wantBody != nil && !bytes.Equal(body, tt.wantBody) {
						t.Fatalf("body: %d bytes, want %d", len(body), len(tt.wantBody))
					}
					for k, v := range tt.wantHdr {
						if got := resp.Header.Get(k); got != v {
							t.Errorf("%s = %q, want %q", k, got, v)
						}
					}
				})
			}
			t.Run("multi range", func(t *testing.T) {
				resp, body := do(t, "GET", url, map[string]string{"Range": "bytes=0-9,300000-300009"}, nil)
				if resp.StatusCode != 206 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
				if err != nil || mt != "multipart/byteranges" {
					t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
				}
				mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
				want := [][]byte{data[0:10], data[300000:300010]}
				for i := range want {
					p, err := mr.NextPart()
					if err != nil {
						t.Fatal(err)
					}
					got, _ := io.ReadAll(p)
					if !bytes.Equal(got, want[i]) {
						t.Errorf("part %d wrong", i)
					}
				}
			})
		})
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t, false)
	info := e.put(t, []byte("hello"))
	tests := []struct {
		name       string
		method     string
		path       string
		hdr        map[string]string
		body       string
		wantStatus int
		wantCode   string
		wantParam  string
	}{
		{"unknown id", "GET", "/m/" + chunkstore.NewID(), nil, "", 404, "not_found", ""},
		{"malformed id", "GET", "/m/..%2f..%2fetc", nil, "", 404, "not_found", ""},
		{"unknown param", "GET", "/m/" + info.ID + "?zz=1", nil, "", 400, "invalid_parameter", "zz"},
		{"no token", "POST", "/upload", nil, "x", 401, "unauthorized", ""},
		{"bad token", "POST", "/upload", map[string]string{"Authorization": "Bearer nope-nope-nope-nope"}, "x", 401, "unauthorized", ""},
		{"too large", "POST", "/upload", map[string]string{"Authorization": "Bearer " + token}, strings.Repeat("x", 5<<20), 413, "too_large", ""},
		{"too large, length unknown", "POST", "/upload", map[string]string{"Authorization": "Bearer " + token, "X-Chunked": "1"}, strings.Repeat("y", 5<<20), 413, "too_large", ""},
		{"delete needs token", "DELETE", "/m/" + info.ID, nil, "", 401, "unauthorized", ""},
		{"no route", "GET", "/nope", nil, "", 404, "not_found", ""},
		{"unknown id info", "GET", "/m/" + chunkstore.NewID() + "/info", nil, "", 404, "not_found", ""},
		{"format without transformer", "GET", "/m/" + info.ID + ".webp", nil, "", 400, "invalid_parameter", "ext"},
		{"param without transformer", "GET", "/m/" + info.ID + "?w=100", nil, "", 400, "invalid_parameter", "w"},
		{"basic scheme", "POST", "/upload", map[string]string{"Authorization": "Basic " + token}, "x", 401, "unauthorized", ""},
		{"delete unknown id", "DELETE", "/m/" + chunkstore.NewID(), map[string]string{"Authorization": "Bearer " + token}, "", 404, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in io.Reader = strings.NewReader(tt.body)
			if tt.hdr["X-Chunked"] != "" {
				in = io.MultiReader(in) // hides the length: chunked encoding
			}
			resp, body := do(t, tt.method, e.ts.URL+tt.path, tt.hdr, in)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer (got %q)", resp.Header.Get("WWW-Authenticate"))
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("error Content-Type %q", ct)
			}
			var eb struct {
				Error struct{ Code, Message, Param string }
			}
			if err := json.Unmarshal(body, &eb); err != nil {
				t.Fatalf("not JSON: %q", body)
			}
			if eb.Error.Code != tt.wantCode || eb.Error.Param != tt.wantParam || eb.Error.Message == "" {
				t.Errorf("error body %+v", eb.Error)
			}
		})
	}
}

func TestUploadRoundTripAndDelete(t *testing.T) {
	e := newEnv(t, true)
	data := randBytes(1<<20+3, 2)
	resp, body := do(t, "POST", e.ts.URL+"/upload", map[string]string{"Authorization": "Bearer " + token}, bytes.NewReader(data))
	if resp.StatusCode != 201 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got struct {
		ID, URL, SHA256 string
		Size            int64
		ContentType     string `json:"content_type"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if got.SHA256 != hex.EncodeToString(sum[:]) || got.Size != int64(len(data)) || !strings.HasSuffix(got.URL, "/m/"+got.ID) {
		t.Fatalf("upload answer %+v", got)
	}
	resp, back := do(t, "GET", e.ts.URL+"/m/"+got.ID, nil, nil)
	if resp.StatusCode != 200 || !bytes.Equal(back, data) {
		t.Fatalf("read back: %d, %d bytes", resp.StatusCode, len(back))
	}
	resp, info := do(t, "GET", e.ts.URL+"/m/"+got.ID+"/info", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(info), got.SHA256) {
		t.Fatalf("info: %d %s", resp.StatusCode, info)
	}
	resp, _ = do(t, "DELETE", e.ts.URL+"/m/"+got.ID, map[string]string{"Authorization": "Bearer " + token}, nil)
	if resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	// The store answers first: a deleted id is gone even though a cached copy may
	// still sit on disk until it is evicted or purged.
	if resp, _ := do(t, "GET", e.ts.URL+"/m/"+got.ID, nil, nil); resp.StatusCode != 404 {
		t.Fatalf("after delete: %d", resp.StatusCode)
	}
}

func TestExecutableTypesAreAttachments(t *testing.T) {
	e := newEnv(t, false)
	for _, doc := range []string{
		"<!DOCTYPE html><html><script>alert(1)</script></html>",
		`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`,
	} {
		info := e.put(t, []byte(doc))
		resp, _ := do(t, "GET", e.ts.URL+"/m/"+info.ID, nil, nil)
		if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
			t.Errorf("%s served with Content-Disposition %q", resp.Header.Get("Content-Type"), cd)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Error("nosniff missing")
		}
	}
	png := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 64)...)
	info := e.put(t, png)
	resp, _ := do(t, "GET", e.ts.URL+"/m/"+info.ID, nil, nil)
	if resp.Header.Get("Content-Type") != "image/png" || resp.Header.Get("Content-Disposition") != "" {
		t.Errorf("png: type %q disposition %q", resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	e := newEnv(t, false)
	for _, p := range []string{"/healthz", "/readyz"} {
		if resp, body := do(t, "GET", e.ts.URL+p, nil, nil); resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
	info := e.put(t, []byte("abc"))
	do(t, "GET", e.ts.URL+"/m/"+info.ID, nil, nil)
	resp, body := do(t, "GET", e.ts.URL+"/metrics", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`mediaedge_http_requests_total{route="GET /m/{id}",status="200"} 1`,
		"mediaedge_http_request_duration_seconds_bucket",
		"mediaedge_http_bytes_sent_total",
		"mediaedge_http_bytes_received_total",
		`mediaedge_uploads_total{event="started"}`,
		`mediaedge_store_operation_duration_seconds_count{op="stat"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestAppRoutes: the web app answers GET / and GET /app/...; every other
// unknown path keeps the JSON 404, so an API client never gets HTML.
func TestAppRoutes(t *testing.T) {
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "app:"+r.URL.Path)
	})
	e := newEnv(t, false, func(_ *edge.Config, d *edge.Deps) { d.App = app })
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/", 200, "app:/"},
		{"GET", "/app/v-1/app.js", 200, "app:/app/v-1/app.js"},
		{"POST", "/", 404, `"not_found"`},
		{"GET", "/index.html", 404, `"not_found"`},
		{"GET", "/nope/deeper", 404, `"not_found"`},
	} {
		resp, body := do(t, tc.method, e.ts.URL+tc.path, nil, nil)
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
			t.Errorf("%s %s: %d %q, want %d with %q", tc.method, tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
	}
}
