package edge

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// onlyReader hides every method but Read, as another edge's response body.
type onlyReader struct {
	r    io.Reader
	read int64
}

func (o *onlyReader) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	o.read += int64(n)
	return n, err
}

// TestForwardSeekerServesLikeABuffer: a spilled answer streamed through
// forwardSeeker gets from http.ServeContent what the same bytes in memory
// get (whole, one range, a suffix, an open range, validators, HEAD), and a
// range reads no further into the stream than its end: nothing of the
// entity is held beyond what is sent. A multi-range request is not
// streamed.
func TestForwardSeekerServesLikeABuffer(t *testing.T) {
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	mod := time.Unix(1_700_000_000, 0)
	serve := func(method string, hdr map[string]string, streamed bool) (*httptest.ResponseRecorder, int64) {
		r := httptest.NewRequest(method, "/m/x", nil)
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		w.Header().Set("Content-Type", "image/webp")
		w.Header().Set("ETag", `"e"`)
		var rs io.ReadSeeker = bytes.NewReader(data)
		src := &onlyReader{r: bytes.NewReader(data)}
		if streamed {
			fs, ok := forwardOnly(content{body: src, size: int64(len(data)), contentType: "image/webp", fault: func(err error) error { return err }}, r)
			if !ok {
				t.Fatalf("%s %v: not streamed", method, hdr)
			}
			rs = fs
		}
		http.ServeContent(w, r, "", mod, rs)
		return w, src.read
	}
	for _, tt := range []struct {
		method   string
		hdr      map[string]string
		readUpTo int64 // the most of the stream a streamed answer may read
	}{
		{"GET", nil, 1 << 20},
		{"GET", map[string]string{"Range": "bytes=1000-1999"}, 2000 + 32<<10},
		{"GET", map[string]string{"Range": "bytes=-100"}, 1 << 20},
		{"GET", map[string]string{"Range": "bytes=500000-"}, 1 << 20},
		{"GET", map[string]string{"Range": "bytes=2000000-"}, 0}, // 416
		{"GET", map[string]string{"If-None-Match": `"e"`}, 0},
		{"GET", map[string]string{"Range": "bytes=0-9", "If-Range": `"other"`}, 1 << 20},
		{"HEAD", nil, 0},
	} {
		want, _ := serve(tt.method, tt.hdr, false)
		got, read := serve(tt.method, tt.hdr, true)
		if got.Code != want.Code || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) ||
			got.Header().Get("Content-Range") != want.Header().Get("Content-Range") ||
			got.Header().Get("Content-Length") != want.Header().Get("Content-Length") {
			t.Errorf("%s %v: streamed %d (%d bytes, %q), buffered %d (%d bytes, %q)", tt.method, tt.hdr,
				got.Code, got.Body.Len(), got.Header().Get("Content-Range"), want.Code, want.Body.Len(), want.Header().Get("Content-Range"))
		}
		if read > tt.readUpTo {
			t.Errorf("%s %v: read %d bytes of the stream, want at most %d", tt.method, tt.hdr, read, tt.readUpTo)
		}
	}
	multi := httptest.NewRequest("GET", "/m/x", nil)
	multi.Header.Set("Range", "bytes=0-9,100-199")
	if _, ok := forwardOnly(content{body: &onlyReader{r: bytes.NewReader(data)}, size: int64(len(data)), contentType: "image/webp"}, multi); ok {
		t.Error("a multi-range request was streamed: its ranges may go backwards")
	}
}
