package tus

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"hash"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/httperr"
)

type countMetrics struct {
	mu                sync.Mutex
	started, finished int
	bytes             int64
}

func (m *countMetrics) UploadStarted()  { m.mu.Lock(); m.started++; m.mu.Unlock() }
func (m *countMetrics) UploadFinished() { m.mu.Lock(); m.finished++; m.mu.Unlock() }
func (m *countMetrics) BytesReceived(n int64) {
	m.mu.Lock()
	m.bytes += n
	m.mu.Unlock()
}

type harness struct {
	t       *testing.T
	store   *testStore
	h       *Handler
	metrics *countMetrics
	mu      sync.Mutex
	done    []chunkstore.FileInfo // OnFinish calls
}

// authorize accepts two tokens, owned by o1 and o2.
func authorize(r *http.Request) (string, error) {
	switch r.Header.Get("Authorization") {
	case "Bearer good":
		return "o1", nil
	case "Bearer other":
		return "o2", nil
	}
	return "", &httperr.Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "bearer token required"}
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	hn := &harness{t: t, store: newTestStore(t), metrics: &countMetrics{}}
	cfg := DefaultConfig()
	cfg.MaxSize = 1 << 20
	cfg.Authorize = authorize
	cfg.Metrics = hn.metrics
	cfg.MediaURL = func(id string) string { return "http://edge.test/m/" + id }
	cfg.OnFinish = func(_ context.Context, f chunkstore.FileInfo) {
		hn.mu.Lock()
		hn.done = append(hn.done, f)
		hn.mu.Unlock()
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(hn.store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	hn.h = h
	return hn
}

// do sends a request with Tus-Resumable and a good token unless hdr
// overrides them (an empty value deletes the header).
func (hn *harness) do(method, target string, hdr map[string]string, body string) *httptest.ResponseRecorder {
	hn.t.Helper()
	r := httptest.NewRequest(method, "http://edge.test"+target, strings.NewReader(body))
	if body == "" {
		r.ContentLength = 0
	}
	r.Header.Set("Tus-Resumable", "1.0.0")
	r.Header.Set("Authorization", "Bearer good")
	for k, v := range hdr {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	hn.h.ServeHTTP(w, r)
	return w
}

// create makes an upload of length n (-1 deferred) and returns its id.
func (hn *harness) create(n int64, extra map[string]string) string {
	hn.t.Helper()
	hdr := map[string]string{"Upload-Length": strconv.FormatInt(n, 10)}
	if n < 0 {
		hdr = map[string]string{"Upload-Defer-Length": "1"}
	}
	for k, v := range extra {
		hdr[k] = v
	}
	w := hn.do("POST", "/files/", hdr, "")
	if w.Code != http.StatusCreated {
		hn.t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	loc := w.Header().Get("Location")
	if !strings.HasPrefix(loc, "http://edge.test/files/") {
		hn.t.Fatalf("Location %q", loc)
	}
	return strings.TrimPrefix(loc, "http://edge.test/files/")
}

func chunkHeaders(offset int64, kv ...string) map[string]string {
	m := map[string]string{"Content-Type": contentTypeChunk, "Upload-Offset": strconv.FormatInt(offset, 10)}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func digest(h hash.Hash, data string) string {
	h.Write([]byte(data))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func errCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var b struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		return ""
	}
	return b.Error.Code
}

// TestStatus drives one request per case after a setup and checks the
// status, the error code and headers out.
func TestStatus(t *testing.T) {
	type setupFn func(hn *harness) string // returns the upload id for {id}
	upload := func(n int64) setupFn { return func(hn *harness) string { return hn.create(n, nil) } }
	none := func(*harness) string { return "" }
	tests := []struct {
		name      string
		setup     setupFn
		method    string
		path      string
		hdr       map[string]string
		body      string
		want      int
		wantCode  string
		wantHdr   map[string]string // "" means must be absent
		wantAfter func(t *testing.T, hn *harness, id string)
	}{
		{name: "options", setup: none, method: "OPTIONS", path: "/files/", hdr: map[string]string{"Tus-Resumable": "", "Authorization": ""},
			want: 204, wantHdr: map[string]string{"Tus-Version": "1.0.0", "Tus-Resumable": "1.0.0", "Tus-Max-Size": "1048576",
				"Tus-Extension":          "creation,creation-with-upload,creation-defer-length,expiration,checksum,termination,concatenation",
				"Tus-Checksum-Algorithm": "sha1,sha256,md5,crc32"}},
		{name: "version missing", setup: none, method: "POST", path: "/files/", hdr: map[string]string{"Tus-Resumable": "", "Upload-Length": "3"},
			want: 412, wantCode: "unsupported_version", wantHdr: map[string]string{"Tus-Version": "1.0.0", "Tus-Resumable": "1.0.0"}},
		{name: "version other", setup: upload(3), method: "HEAD", path: "/files/{id}", hdr: map[string]string{"Tus-Resumable": "0.2.2"},
			want: 412, wantHdr: map[string]string{"Tus-Version": "1.0.0"}},
		{name: "no token", setup: none, method: "POST", path: "/files/", hdr: map[string]string{"Authorization": "", "Upload-Length": "3"},
			want: 401, wantCode: "unauthorized"},
		{name: "create", setup: none, method: "POST", path: "/files/", hdr: map[string]string{"Upload-Length": "3", "Upload-Metadata": "filename YS5qcGc=,filetype aW1hZ2UvanBlZw=="},
			want: 201, wantHdr: map[string]string{"Upload-Offset": "0", "Upload-Length": "3", "Tus-Resumable": "1.0.0"}},
		{name: "create at mount without slash", setup: none, method: "POST", path: "/files", hdr: map[string]string{"Upload-Length": "3"},
			want: 201, wantHdr: map[string]string{"Upload-Offset": "0"}},
		{name: "options on an upload", setup: upload(3), method: "OPTIONS", path: "/files/{id}", hdr: map[string]string{"Tus-Resumable": ""},
			want: 204, wantHdr: map[string]string{"Tus-Version": "1.0.0"}},
		{name: "other route", setup: none, method: "POST", path: "/filesx/", hdr: map[string]string{"Upload-Length": "3"}, want: 404},
		{name: "create no length", setup: none, method: "POST", path: "/files/", want: 400, wantCode: "invalid_parameter"},
		{name: "create both lengths", setup: none, method: "POST", path: "/files/", hdr: map[string]string{"Upload-Length": "3", "Upload-Defer-Length": "1"}, want: 400},
		{name: "create bad defer", setup: none, method: "POST", path: "/files/", hdr: map[string]string{"Upload-Defer-Length": "2"}, want: 400},
		{name: "create negative", setup: none, method: "POST", path: "/files/", hdr: map[string]string{"Upload-Length": "-3"}, want: 400},
		{name: "create too large", setup: none, method: "POST", path: "/files/", hdr: map[string]string{"Upload-Length": "1048577"}, want: 413, wantCode: "too_large"},
		{name: "create bad metadata", setup: none, method: "POST", path: "/files/", hdr: map[string]string{"Upload-Length": "3", "Upload-Metadata": "filename !!!"}, want: 400},
		{name: "create reserved metadata", setup: none, method: "POST", path: "/files/", hdr: map[string]string{"Upload-Length": "3", "Upload-Metadata": "mediaedge.partial MQ=="}, want: 400},
		{name: "create deferred", setup: none, method: "POST", path: "/files/", hdr: map[string]string{"Upload-Defer-Length": "1"},
			want: 201, wantHdr: map[string]string{"Upload-Defer-Length": "1", "Upload-Length": ""}},
		{name: "create empty finishes", setup: none, method: "POST", path: "/files/", hdr: map[string]string{"Upload-Length": "0"},
			want: 201, wantHdr: map[string]string{"Upload-Offset": "0", "Upload-Expires": ""},
			wantAfter: func(t *testing.T, hn *harness, _ string) {
				if len(hn.done) != 1 || hn.done[0].Size != 0 {
					t.Errorf("OnFinish %+v", hn.done)
				}
			}},
		{name: "creation with upload", setup: none, method: "POST", path: "/files/", hdr: map[string]string{"Upload-Length": "5", "Content-Type": contentTypeChunk},
			body: "hello", want: 201, wantHdr: map[string]string{"Upload-Offset": "5"},
			wantAfter: func(t *testing.T, hn *harness, _ string) {
				if len(hn.done) != 1 || hn.done[0].Size != 5 {
					t.Errorf("OnFinish %+v", hn.done)
				}
			}},
		{name: "creation with partial upload", setup: none, method: "POST", path: "/files/", hdr: map[string]string{"Upload-Length": "10", "Content-Type": contentTypeChunk},
			body: "hello", want: 201, wantHdr: map[string]string{"Upload-Offset": "5", HeaderMediaID: ""}},
		{name: "creation with upload and checksum", setup: none, method: "POST", path: "/files/",
			hdr:  map[string]string{"Upload-Length": "5", "Content-Type": contentTypeChunk, "Upload-Checksum": "sha1 " + digest(sha1.New(), "hello")},
			body: "hello", want: 201, wantHdr: map[string]string{"Upload-Offset": "5"}},
		{name: "creation with upload and checksum mismatch", setup: none, method: "POST", path: "/files/",
			hdr:  map[string]string{"Upload-Length": "5", "Content-Type": contentTypeChunk, "Upload-Checksum": "crc32 " + digest(crc32.NewIEEE(), "hellO")},
			body: "hello", want: 460, wantCode: "checksum_mismatch", wantHdr: map[string]string{"Upload-Offset": "0"},
			wantAfter: func(t *testing.T, hn *harness, _ string) {
				// The upload exists (Location was sent) and is empty: the client resumes at 0.
				ids := hn.store.createdIDs()
				if len(ids) != 1 || len(hn.store.data(ids[0])) != 0 {
					t.Errorf("uploads %v", ids)
				}
			}},
		{name: "creation with too much", setup: none, method: "POST", path: "/files/", hdr: map[string]string{"Upload-Length": "2", "Content-Type": contentTypeChunk},
			body: "hello", want: 413},
		{name: "creation with other content type ignores body", setup: none, method: "POST", path: "/files/", hdr: map[string]string{"Upload-Length": "5", "Content-Type": "text/plain"},
			body: "hello", want: 201, wantHdr: map[string]string{"Upload-Offset": "0"}},
		{name: "head", setup: func(hn *harness) string {
			return hn.create(10, map[string]string{"Upload-Metadata": "filename YS5qcGc="})
		}, method: "HEAD", path: "/files/{id}", want: 200,
			wantHdr: map[string]string{"Upload-Offset": "0", "Upload-Length": "10", "Cache-Control": "no-store", "Upload-Metadata": "filename YS5qcGc=", "Tus-Resumable": "1.0.0"}},
		{name: "head deferred", setup: upload(-1), method: "HEAD", path: "/files/{id}", want: 200,
			wantHdr: map[string]string{"Upload-Defer-Length": "1", "Upload-Length": ""}},
		{name: "head finished", setup: func(hn *harness) string {
			id := hn.create(5, nil)
			hn.do("PATCH", "/files/"+id, chunkHeaders(0), "hello")
			return id
		}, method: "HEAD", path: "/files/{id}", want: 200,
			wantHdr: map[string]string{"Upload-Offset": "5", "Upload-Length": "5", "Upload-Expires": "", HeaderMediaID: "{id}", "Cache-Control": "no-store"}},
		{name: "head unknown", setup: none, method: "HEAD", path: "/files/nosuchupload", want: 404},
		{name: "head bad id", setup: none, method: "HEAD", path: "/files/..%2Fetc", want: 404},
		{name: "head other owner", setup: upload(3), method: "HEAD", path: "/files/{id}", hdr: map[string]string{"Authorization": "Bearer other"}, want: 403},
		{name: "patch", setup: upload(10), method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(0), body: "hello",
			want: 204, wantHdr: map[string]string{"Upload-Offset": "5", HeaderMediaID: ""}},
		{name: "patch finishing", setup: upload(5), method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(0), body: "hello",
			want: 204, wantHdr: map[string]string{"Upload-Offset": "5", "Upload-Expires": ""},
			wantAfter: func(t *testing.T, hn *harness, id string) {
				if f, ok := hn.store.file(id); !ok || f.Size != 5 {
					t.Errorf("file %+v %v", f, ok)
				}
				if hn.metrics.finished != 1 || hn.metrics.started != 1 || hn.metrics.bytes != 5 {
					t.Errorf("metrics %+v", hn.metrics)
				}
			}},
		{name: "patch content type", setup: upload(5), method: "PATCH", path: "/files/{id}", hdr: map[string]string{"Content-Type": "application/octet-stream", "Upload-Offset": "0"},
			body: "hello", want: 415, wantCode: "unsupported_content_type"},
		{name: "patch no offset", setup: upload(5), method: "PATCH", path: "/files/{id}", hdr: map[string]string{"Content-Type": contentTypeChunk}, body: "hello", want: 400},
		{name: "patch offset mismatch", setup: upload(5), method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(2), body: "llo",
			want: 409, wantCode: "offset_mismatch", wantHdr: map[string]string{"Upload-Offset": "0"}},
		{name: "patch unknown", setup: none, method: "PATCH", path: "/files/nosuchupload", hdr: chunkHeaders(0), body: "x", want: 404},
		{name: "patch too large", setup: upload(3), method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(0), body: "hello", want: 413},
		{name: "patch no token", setup: upload(3), method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(0, "Authorization", "Bearer bad"), body: "abc", want: 401},
		{name: "patch other owner", setup: upload(3), method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(0, "Authorization", "Bearer other"), body: "abc", want: 403},
		{name: "checksum sha1", setup: upload(5), method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(0, "Upload-Checksum", "sha1 "+digest(sha1.New(), "hello")), body: "hello", want: 204},
		{name: "checksum sha256", setup: upload(5), method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(0, "Upload-Checksum", "sha256 "+digest(sha256.New(), "hello")), body: "hello", want: 204},
		{name: "checksum md5", setup: upload(5), method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(0, "Upload-Checksum", "md5 "+digest(md5.New(), "hello")), body: "hello", want: 204},
		{name: "checksum crc32", setup: upload(5), method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(0, "Upload-Checksum", "crc32 "+digest(crc32.NewIEEE(), "hello")), body: "hello", want: 204},
		{name: "checksum mismatch", setup: upload(5), method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(0, "Upload-Checksum", "sha256 "+digest(sha256.New(), "hellO")), body: "hello",
			want: 460, wantCode: "checksum_mismatch", wantHdr: map[string]string{"Upload-Offset": "0"},
			wantAfter: func(t *testing.T, hn *harness, id string) {
				if d := hn.store.data(id); len(d) != 0 {
					t.Errorf("mismatched chunk kept: %q", d)
				}
			}},
		{name: "checksum unsupported", setup: upload(5), method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(0, "Upload-Checksum", "sha512 "+digest(sha256.New(), "hello")), body: "hello", want: 400},
		{name: "checksum malformed", setup: upload(5), method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(0, "Upload-Checksum", "sha256"), body: "hello", want: 400},
		{name: "checksum bad digest length", setup: upload(5), method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(0, "Upload-Checksum", "sha256 aGVsbG8="), body: "hello", want: 400},
		{name: "patch declares deferred length", setup: upload(-1), method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(0, "Upload-Length", "5"), body: "hello",
			want: 204, wantHdr: map[string]string{"Upload-Length": "5", "Upload-Offset": "5", HeaderMediaID: "{id}", HeaderMediaURL: "http://edge.test/m/{id}"}},
		{name: "patch deferred without length", setup: upload(-1), method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(0), body: "hello",
			want: 204, wantHdr: map[string]string{"Upload-Defer-Length": "1", "Upload-Offset": "5"}},
		{name: "patch length twice", setup: upload(5), method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(0, "Upload-Length", "6"), body: "hello", want: 400},
		{name: "patch length too large", setup: upload(-1), method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(0, "Upload-Length", "1048577"), body: "hello", want: 413},
		{name: "patch after finish repeats", setup: func(hn *harness) string {
			id := hn.create(5, nil)
			hn.do("PATCH", "/files/"+id, chunkHeaders(0), "hello")
			return id
		}, method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(5), want: 204, wantHdr: map[string]string{"Upload-Offset": "5", HeaderMediaID: "{id}"}},
		// One byte more than the length is refused, not dropped behind a 204.
		{name: "patch with bytes after finish", setup: func(hn *harness) string {
			id := hn.create(5, nil)
			hn.do("PATCH", "/files/"+id, chunkHeaders(0), "hello")
			return id
		}, method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(5), body: "!", want: 409, wantCode: "upload_finished",
			wantHdr: map[string]string{"Upload-Offset": "5", HeaderMediaID: "{id}"},
			wantAfter: func(t *testing.T, hn *harness, id string) {
				if got := string(hn.store.data(id)); got != "hello" {
					t.Errorf("data %q", got)
				}
			}},
		{name: "delete", setup: upload(5), method: "DELETE", path: "/files/{id}", want: 204,
			wantAfter: func(t *testing.T, hn *harness, id string) {
				if w := hn.do("HEAD", "/files/"+id, nil, ""); w.Code != http.StatusGone {
					t.Errorf("HEAD after DELETE: %d, want 410", w.Code)
				}
				if w := hn.do("PATCH", "/files/"+id, chunkHeaders(0), "hello"); w.Code != http.StatusGone {
					t.Errorf("PATCH after DELETE: %d, want 410", w.Code)
				}
			}},
		{name: "delete finished", setup: func(hn *harness) string {
			id := hn.create(5, nil)
			hn.do("PATCH", "/files/"+id, chunkHeaders(0), "hello")
			return id
		}, method: "DELETE", path: "/files/{id}", want: 409, wantCode: "upload_finished"},
		{name: "delete no token", setup: upload(5), method: "DELETE", path: "/files/{id}", hdr: map[string]string{"Authorization": ""}, want: 401},
		{name: "delete unknown", setup: none, method: "DELETE", path: "/files/nosuchupload", want: 404},
		// An expired upload whose row the sweeper has not yet removed is
		// 410 Gone (chunkstore.ErrExpired); see doc.go.
		{name: "expired", setup: func(hn *harness) string {
			id := hn.create(5, nil)
			hn.store.advance(2 * time.Hour)
			return id
		}, method: "HEAD", path: "/files/{id}", want: 410},
		{name: "expired patch", setup: func(hn *harness) string {
			id := hn.create(5, nil)
			hn.store.advance(2 * time.Hour)
			return id
		}, method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(0), body: "hello", want: 410, wantCode: "gone"},
		{name: "get not allowed", setup: upload(5), method: "GET", path: "/files/{id}", want: 405, wantHdr: map[string]string{"Allow": "HEAD, PATCH, DELETE, OPTIONS"}},
		{name: "put collection not allowed", setup: none, method: "PUT", path: "/files/", want: 405},
		{name: "method override", setup: upload(5), method: "POST", path: "/files/{id}", hdr: chunkHeaders(0, "X-HTTP-Method-Override", "PATCH"), body: "hello", want: 204},
		{name: "concat bad header", setup: none, method: "POST", path: "/files/", hdr: map[string]string{"Upload-Concat": "final;"}, want: 400},
		{name: "concat unknown part", setup: none, method: "POST", path: "/files/", hdr: map[string]string{"Upload-Concat": "final;/files/nosuchupload"}, want: 404},
		{name: "concat foreign url", setup: none, method: "POST", path: "/files/", hdr: map[string]string{"Upload-Concat": "final;http://x/other/abc"}, want: 400},
		{name: "concat unfinished part", setup: func(hn *harness) string {
			return hn.create(5, map[string]string{"Upload-Concat": "partial"})
		}, method: "POST", path: "/files/", hdr: map[string]string{"Upload-Concat": "final;/files/{id}"}, want: 400, wantCode: "upload_incomplete"},
		{name: "concat final takes no patch", setup: func(hn *harness) string {
			p := hn.create(2, map[string]string{"Upload-Concat": "partial"})
			hn.do("PATCH", "/files/"+p, chunkHeaders(0), "ab")
			w := hn.do("POST", "/files/", map[string]string{"Upload-Concat": "final;/files/" + p}, "")
			return strings.TrimPrefix(w.Header().Get("Location"), "http://edge.test/files/")
		}, method: "PATCH", path: "/files/{id}", hdr: chunkHeaders(2), body: "x", want: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hn := newHarness(t, nil)
			id := tt.setup(hn)
			sub := func(s string) string { return strings.ReplaceAll(s, "{id}", id) }
			hdr := map[string]string{}
			for k, v := range tt.hdr {
				hdr[k] = sub(v)
			}
			w := hn.do(tt.method, sub(tt.path), hdr, tt.body)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.want, w.Body)
			}
			if got := w.Header().Get("Tus-Resumable"); got != "1.0.0" {
				t.Errorf("Tus-Resumable %q on every response", got)
			}
			if tt.wantCode != "" {
				if got := errCode(t, w); got != tt.wantCode {
					t.Errorf("error code %q, want %q (body %s)", got, tt.wantCode, w.Body)
				}
			}
			for k, v := range tt.wantHdr {
				if got := w.Header().Get(k); got != sub(v) {
					t.Errorf("%s: %q, want %q", k, got, sub(v))
				}
			}
			if tt.method == "HEAD" && w.Body.Len() != 0 {
				t.Errorf("HEAD body %q", w.Body)
			}
			if tt.wantAfter != nil {
				tt.wantAfter(t, hn, id)
			}
		})
	}
}

func TestCreateLocationAndExpires(t *testing.T) {
	hn := newHarness(t, nil)
	w := hn.do("POST", "/files/", map[string]string{"Upload-Length": "4"}, "")
	exp, err := http.ParseTime(w.Header().Get("Upload-Expires"))
	if err != nil || exp.Before(time.Now()) {
		t.Errorf("Upload-Expires %q: %v", w.Header().Get("Upload-Expires"), err)
	}
	hn2 := newHarness(t, func(c *Config) { c.BasePath = "https://up.example.com/files/" })
	w = hn2.do("POST", "/files/", map[string]string{"Upload-Length": "4"}, "")
	if loc := w.Header().Get("Location"); !strings.HasPrefix(loc, "https://up.example.com/files/") || !validID(path.Base(loc)) {
		t.Errorf("absolute base: Location %q", loc)
	}
	hn3 := newHarness(t, func(c *Config) { c.RespectForwarded = true })
	w = hn3.do("POST", "/files/", map[string]string{"Upload-Length": "4", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "cdn.example"}, "")
	if loc := w.Header().Get("Location"); !strings.HasPrefix(loc, "https://cdn.example/files/") || !validID(path.Base(loc)) {
		t.Errorf("forwarded: Location %q", loc)
	}
	// Behind a TLS proxy that strips a path prefix: the public URL names
	// the upload, whatever Host the proxy sent; the upload answers at the
	// mount path the proxy forwards to.
	hn4 := newHarness(t, func(c *Config) { c.PublicURL = "https://cdn.example/media/" })
	w = hn4.do("POST", "/files/", map[string]string{"Upload-Length": "4"}, "")
	loc := w.Header().Get("Location")
	if !strings.HasPrefix(loc, "https://cdn.example/media/files/") || !validID(path.Base(loc)) {
		t.Fatalf("public URL: Location %q", loc)
	}
	if h := hn4.do("HEAD", "/files/"+path.Base(loc), nil, ""); h.Code != http.StatusOK {
		t.Errorf("HEAD of the upload at the mount path: %d", h.Code)
	}
}

// TestClientRefusesDowngrade: a Location that leaves https for http would
// carry the token in clear; the client refuses it.
func TestClientRefusesDowngrade(t *testing.T) {
	if _, err := resolve("https://cdn.example/files/", "http://cdn.example/files/abc"); err == nil {
		t.Fatal("https -> http Location taken")
	}
	for _, tc := range []struct{ base, loc, want string }{
		{"https://cdn.example/files/", "/files/abc", "https://cdn.example/files/abc"},
		{"https://cdn.example/files/", "https://up.example/files/abc", "https://up.example/files/abc"},
		{"http://127.0.0.1:8080/files/", "http://127.0.0.1:8080/files/abc", "http://127.0.0.1:8080/files/abc"},
	} {
		if got, err := resolve(tc.base, tc.loc); err != nil || got != tc.want {
			t.Errorf("resolve(%q, %q) = %q, %v; want %q", tc.base, tc.loc, got, err, tc.want)
		}
	}
}

func TestResumeInSteps(t *testing.T) {
	hn := newHarness(t, nil)
	data := strings.Repeat("0123456789", 100)
	id := hn.create(int64(len(data)), map[string]string{"Upload-Metadata": "filename bi50eHQ="})
	for off := 0; off < len(data); off += 300 {
		end := min(off+300, len(data))
		w := hn.do("PATCH", "/files/"+id, chunkHeaders(int64(off), "Upload-Checksum", "md5 "+digest(md5.New(), data[off:end])), data[off:end])
		if w.Code != 204 || w.Header().Get("Upload-Offset") != strconv.Itoa(end) {
			t.Fatalf("PATCH at %d: %d %s", off, w.Code, w.Header().Get("Upload-Offset"))
		}
		if h := hn.do("HEAD", "/files/"+id, nil, ""); h.Header().Get("Upload-Offset") != strconv.Itoa(end) {
			t.Fatalf("HEAD after %d: %s", end, h.Header().Get("Upload-Offset"))
		}
	}
	if got := string(hn.store.data(id)); got != data {
		t.Fatal("data differs")
	}
	if len(hn.done) != 1 || hn.done[0].ID != id {
		t.Fatalf("OnFinish %+v", hn.done)
	}
	if hn.metrics.bytes != int64(len(data)) {
		t.Errorf("bytes %d", hn.metrics.bytes)
	}
}

func TestConcatenation(t *testing.T) {
	hn := newHarness(t, nil)
	var urls []string
	for _, part := range []string{"hello ", "tus ", "world"} {
		w := hn.do("POST", "/files/", map[string]string{"Upload-Length": strconv.Itoa(len(part)), "Upload-Concat": "partial",
			"Content-Type": contentTypeChunk}, part)
		if w.Code != 201 || w.Header().Get(HeaderMediaID) != "" {
			t.Fatalf("partial: %d media %q", w.Code, w.Header().Get(HeaderMediaID))
		}
		urls = append(urls, w.Header().Get("Location"))
		h := hn.do("HEAD", strings.TrimPrefix(w.Header().Get("Location"), "http://edge.test"), nil, "")
		if h.Header().Get("Upload-Concat") != "partial" || h.Header().Get(HeaderMediaID) != "" || h.Header().Get("Upload-Metadata") != "" {
			t.Errorf("HEAD finished partial: %v", h.Header())
		}
	}
	if len(hn.done) != 0 || hn.metrics.started != 0 {
		t.Fatalf("partials made files: %+v started %d", hn.done, hn.metrics.started)
	}
	// Mixed absolute URLs and paths, as clients send either.
	hdr := "final;" + urls[0] + " " + strings.TrimPrefix(urls[1], "http://edge.test") + "  " + urls[2]
	w := hn.do("POST", "/files/", map[string]string{"Upload-Concat": hdr, "Upload-Metadata": "filename YS50eHQ="}, "")
	if w.Code != 201 {
		t.Fatalf("final: %d %s", w.Code, w.Body)
	}
	id := strings.TrimPrefix(w.Header().Get("Location"), "http://edge.test/files/")
	if w.Header().Get(HeaderMediaID) != id || w.Header().Get("Upload-Offset") != "15" || w.Header().Get("Upload-Length") != "15" {
		t.Errorf("final headers %v", w.Header())
	}
	if got := string(hn.store.data(id)); got != "hello tus world" {
		t.Errorf("data %q", got)
	}
	h := hn.do("HEAD", "/files/"+id, nil, "")
	if want := "final;" + strings.Join(urls, " "); h.Header().Get("Upload-Concat") != want {
		t.Errorf("HEAD Upload-Concat %q, want %q", h.Header().Get("Upload-Concat"), want)
	}
	if len(hn.done) != 1 || hn.metrics.started != 1 || hn.metrics.finished != 1 {
		t.Errorf("final: OnFinish %d started %d finished %d", len(hn.done), hn.metrics.started, hn.metrics.finished)
	}
}

func TestParseConcat(t *testing.T) {
	tests := []struct {
		in      string
		partial bool
		parts   []string
		bad     bool
	}{
		{in: ""},
		{in: "partial", partial: true},
		{in: "final;/files/a /files/b", parts: []string{"/files/a", "/files/b"}},
		{in: "final; http://h/files/a   http://h/files/b ", parts: []string{"http://h/files/a", "http://h/files/b"}},
		{in: "final;", bad: true},
		{in: "final", bad: true},
		{in: "partial;x", bad: true},
		{in: "whole", bad: true},
	}
	for _, tt := range tests {
		c, err := parseConcat(tt.in)
		if (err != nil) != tt.bad {
			t.Errorf("%q: err %v", tt.in, err)
			continue
		}
		if c.partial != tt.partial || strings.Join(c.parts, "|") != strings.Join(tt.parts, "|") || c.final != (len(tt.parts) > 0) {
			t.Errorf("%q: %+v", tt.in, c)
		}
	}
}

func TestMetadata(t *testing.T) {
	m, err := ParseMetadata("filename bXkgY2F0LmpwZw==, filetype aW1hZ2UvanBlZw==,is_private")
	if err != nil {
		t.Fatal(err)
	}
	if Filename(m) != "my cat.jpg" || Filetype(m) != "image/jpeg" || m["is_private"] != "" || len(m) != 3 {
		t.Errorf("%v", m)
	}
	if got := FormatMetadata(m); got != "filename bXkgY2F0LmpwZw==,filetype aW1hZ2UvanBlZw==,is_private" {
		t.Errorf("format %q", got)
	}
	for _, bad := range []string{"a x,a y", "k !!", " ,k a b"} {
		if _, err := ParseMetadata(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCORS(t *testing.T) {
	hn := newHarness(t, nil)
	w := hn.do("OPTIONS", "/files/", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "PATCH",
		"Tus-Resumable": "", "Authorization": ""}, "")
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "Upload-Checksum") ||
		!strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "PATCH") {
		t.Errorf("preflight %d %v", w.Code, w.Header())
	}
	w = hn.do("POST", "/files/", map[string]string{"Origin": "https://app.example", "Upload-Length": "1"}, "")
	exp := w.Header().Get("Access-Control-Expose-Headers")
	for _, h := range []string{"Upload-Offset", "Location", "Upload-Length", "Tus-Version", "Upload-Metadata", "Upload-Expires", HeaderMediaID} {
		if !strings.Contains(exp, h) {
			t.Errorf("Expose-Headers lacks %s: %q", h, exp)
		}
	}
	hn2 := newHarness(t, func(c *Config) { c.CORS.AllowOrigins = []string{"https://ok.example"} })
	if w := hn2.do("POST", "/files/", map[string]string{"Origin": "https://evil.example", "Upload-Length": "1"}, ""); w.Code != 403 {
		t.Errorf("foreign origin: %d", w.Code)
	}
}

// TestCommitAfterCrash: the last append was durable but the server died
// before FinishUpload (the append is done on the store directly, as the
// dead server left it); HEAD commits, so the client that sees offset ==
// length finds its file, and a second HEAD does not commit again.
func TestCommitAfterCrash(t *testing.T) {
	hn := newHarness(t, nil)
	id := hn.create(3, nil)
	if _, err := hn.store.Append(context.Background(), id, 0, strings.NewReader("abc"), chunkstore.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := hn.store.file(id); ok {
		t.Fatal("a file before the commit")
	}
	w := hn.do("HEAD", "/files/"+id, nil, "")
	if w.Code != 200 || w.Header().Get("Upload-Offset") != "3" || w.Header().Get(HeaderMediaID) != id {
		t.Fatalf("HEAD %d %v", w.Code, w.Header())
	}
	if f, ok := hn.store.file(id); !ok || f.Size != 3 {
		t.Fatalf("file after HEAD: %+v %v", f, ok)
	}
	hn.do("HEAD", "/files/"+id, nil, "")
	if n := hn.store.finishes.Load(); n != 1 || len(hn.done) != 1 {
		t.Errorf("finished %d times, OnFinish %d", n, len(hn.done))
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{BasePath: "files", MaxSize: 0, CORS: CORS{}}
	err := c.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"base path", "max size", "body read timeout", "lock timeout", "cors"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate does not report %q: %v", want, err)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default: %v", err)
	}
	if _, err := New(nil, DefaultConfig()); err == nil {
		t.Error("nil store accepted")
	}
}

// The chunk store is what the handler runs on in production.
var _ Store = (*chunkstore.Store)(nil)
