package tus

import (
	"context"
	"crypto/sha1"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// doChunked sends a request whose body has no declared length (as with
// Transfer-Encoding: chunked): checkFits cannot judge it up front, only the
// body read can.
func (hn *harness) doChunked(method, target string, hdr map[string]string, body string) *httptest.ResponseRecorder {
	hn.t.Helper()
	r := httptest.NewRequest(method, "http://edge.test"+target, io.NopCloser(strings.NewReader(body)))
	r.ContentLength = -1
	r.TransferEncoding = []string{"chunked"}
	r.Header.Set("Tus-Resumable", "1.0.0")
	r.Header.Set("Authorization", "Bearer good")
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	hn.h.ServeHTTP(w, r)
	return w
}

// TestChunkedBodyTooLarge: a body of unknown length that turns out longer
// than the upload is refused as one with a declared Content-Length is: 413,
// nothing of it kept (the offset stays) and no file made, with or without
// a checksum, on PATCH and on creation-with-upload.
func TestChunkedBodyTooLarge(t *testing.T) {
	check := func(t *testing.T, hn *harness, id string, w *httptest.ResponseRecorder) {
		t.Helper()
		if w.Code != http.StatusRequestEntityTooLarge || errCode(t, w) != "too_large" {
			t.Fatalf("status %d code %q, want 413 too_large; body %s", w.Code, errCode(t, w), w.Body)
		}
		if got := w.Header().Get("Upload-Offset"); got != "" && got != "0" {
			t.Errorf("Upload-Offset %q on the 413, want 0", got)
		}
		if h := hn.do("HEAD", "/files/"+id, nil, ""); h.Code != http.StatusOK || h.Header().Get("Upload-Offset") != "0" ||
			h.Header().Get(HeaderMediaID) != "" {
			t.Errorf("HEAD after the 413: %d offset %q media %q, want 200, offset 0, no media",
				h.Code, h.Header().Get("Upload-Offset"), h.Header().Get(HeaderMediaID))
		}
		if f, ok := hn.store.file(id); ok {
			t.Errorf("the refused body became a file: %+v", f)
		}
		if len(hn.done) != 0 || hn.metrics.finished != 0 {
			t.Errorf("OnFinish %+v, finished %d: want none", hn.done, hn.metrics.finished)
		}
		if d := hn.store.data(id); len(d) != 0 {
			t.Errorf("%d bytes of the refused body kept", len(d))
		}
	}
	t.Run("patch", func(t *testing.T) {
		hn := newHarness(t, nil)
		id := hn.create(5, nil)
		check(t, hn, id, hn.doChunked("PATCH", "/files/"+id, chunkHeaders(0), "hello!"))
		// The upload still takes its right bytes.
		if w := hn.do("PATCH", "/files/"+id, chunkHeaders(0), "hello"); w.Code != http.StatusNoContent {
			t.Fatalf("the right PATCH after the 413: %d %s", w.Code, w.Body)
		}
		if got := string(hn.store.data(id)); got != "hello" {
			t.Errorf("file %q, want hello", got)
		}
	})
	t.Run("patch with checksum", func(t *testing.T) {
		hn := newHarness(t, nil)
		id := hn.create(5, nil)
		check(t, hn, id, hn.doChunked("PATCH", "/files/"+id, chunkHeaders(0, "Upload-Checksum", "sha1 "+digest(sha1.New(), "hello!")), "hello!"))
	})
	t.Run("patch declaring the length", func(t *testing.T) {
		hn := newHarness(t, nil)
		id := hn.create(-1, nil)
		check(t, hn, id, hn.doChunked("PATCH", "/files/"+id, chunkHeaders(0, "Upload-Length", "5"), "hello!"))
	})
	t.Run("patch of a deferred length past the size limit", func(t *testing.T) {
		hn := newHarness(t, func(c *Config) { c.MaxSize = 5 })
		id := hn.create(-1, nil)
		check(t, hn, id, hn.doChunked("PATCH", "/files/"+id, chunkHeaders(0), "hello!"))
	})
	t.Run("creation with upload", func(t *testing.T) {
		hn := newHarness(t, nil)
		w := hn.doChunked("POST", "/files/", map[string]string{"Upload-Length": "5", "Content-Type": contentTypeChunk}, "hello!")
		id := strings.TrimPrefix(w.Header().Get("Location"), "http://edge.test/files/")
		if id == "" {
			t.Fatalf("no Location: %d %s", w.Code, w.Body)
		}
		check(t, hn, id, w)
	})
}

// TestConcatQuota: a final concatenation is an upload of its total length
// and is held to the owner's quota like any other (the parts, which are
// not files, never counted).
func TestConcatQuota(t *testing.T) {
	hn := newHarness(t, func(c *Config) {
		c.Quota = func(context.Context, string) (int64, error) { return 10, nil }
	})
	var refs []string
	for _, part := range []string{"abcdef", "ghijkl"} {
		w := hn.do("POST", "/files/", map[string]string{"Upload-Length": strconv.Itoa(len(part)), "Upload-Concat": "partial",
			"Content-Type": contentTypeChunk}, part)
		if w.Code != http.StatusCreated || w.Header().Get("Upload-Offset") != "6" {
			t.Fatalf("partial: %d %s", w.Code, w.Body)
		}
		refs = append(refs, w.Header().Get("Location"))
	}
	w := hn.do("POST", "/files/", map[string]string{"Upload-Concat": "final;" + strings.Join(refs, " ")}, "")
	if w.Code != http.StatusRequestEntityTooLarge || errCode(t, w) != "quota_exceeded" {
		t.Fatalf("final of 12 bytes with 10 left: %d %q, want 413 quota_exceeded; body %s", w.Code, errCode(t, w), w.Body)
	}
	if len(hn.done) != 0 || hn.metrics.finished != 0 {
		t.Errorf("a file was made: OnFinish %+v", hn.done)
	}
	// Within the quota the same concatenation goes through.
	hn2 := newHarness(t, func(c *Config) {
		c.Quota = func(context.Context, string) (int64, error) { return 12, nil }
	})
	refs = refs[:0]
	for _, part := range []string{"abcdef", "ghijkl"} {
		w := hn2.do("POST", "/files/", map[string]string{"Upload-Length": "6", "Upload-Concat": "partial", "Content-Type": contentTypeChunk}, part)
		refs = append(refs, w.Header().Get("Location"))
	}
	if w := hn2.do("POST", "/files/", map[string]string{"Upload-Concat": "final;" + strings.Join(refs, " ")}, ""); w.Code != http.StatusCreated {
		t.Fatalf("final of 12 bytes with 12 left: %d %s", w.Code, w.Body)
	}
}

// TestConcatPartsBounded: a final concatenation that names one part twice
// (in any spelling of its URL) or more than maxConcatParts parts is a 400
// naming Upload-Concat, refused before a part is looked up.
func TestConcatPartsBounded(t *testing.T) {
	hn := newHarness(t, nil)
	w := hn.do("POST", "/files/", map[string]string{"Upload-Length": "1", "Upload-Concat": "partial", "Content-Type": contentTypeChunk}, "x")
	if w.Code != http.StatusCreated {
		t.Fatalf("partial: %d %s", w.Code, w.Body)
	}
	url := w.Header().Get("Location")
	path := strings.TrimPrefix(url, "http://edge.test")
	tooMany := make([]string, maxConcatParts+1)
	for i := range tooMany {
		// Unknown ids: a lookup would answer 404, the bound answers first.
		tooMany[i] = "/files/nosuchpart" + strconv.Itoa(i)
	}
	for name, hdr := range map[string]string{
		"same URL twice":           "final;" + url + " " + url,
		"same part, URL and path":  "final;" + url + " " + path,
		"a part four times":        "final;" + path + " " + strings.Repeat(path+" ", 3),
		"more than maxConcatParts": "final;" + strings.Join(tooMany, " "),
	} {
		t.Run(name, func(t *testing.T) {
			w := hn.do("POST", "/files/", map[string]string{"Upload-Concat": hdr}, "")
			var body struct {
				Error struct{ Code, Param string } `json:"error"`
			}
			_ = json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != http.StatusBadRequest || body.Error.Code != "invalid_parameter" || body.Error.Param != "Upload-Concat" {
				t.Fatalf("%d %s, want 400 invalid_parameter naming Upload-Concat", w.Code, w.Body)
			}
		})
	}
	if len(hn.done) != 0 {
		t.Errorf("a file was made: %+v", hn.done)
	}
	// Exactly maxConcatParts distinct parts are not refused by the bound
	// (these are unknown, so the lookup answers 404).
	if w := hn.do("POST", "/files/", map[string]string{"Upload-Concat": "final;" + strings.Join(tooMany[:maxConcatParts], " ")}, ""); w.Code != http.StatusNotFound {
		t.Fatalf("%d parts: %d %s, want the lookup's 404", maxConcatParts, w.Code, w.Body)
	}
}
