package bench

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// TestDigestSink checks that the sink hashes exactly the bytes it was sent,
// across PATCHes, and refuses a PATCH at the wrong offset: a sink that
// skipped the work would make the benchmark's ceiling meaningless.
func TestDigestSink(t *testing.T) {
	srv := httptest.NewServer(DigestSink())
	defer srv.Close()
	data := bytes.Repeat([]byte("mediaedge digest sink "), 200_000) // 4.4 MB: several 1 MiB reads
	do := func(method, url string, body []byte, hdr map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := do(http.MethodPost, srv.URL+"/files/", nil, map[string]string{"Upload-Length": strconv.Itoa(len(data))})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s", resp.Status)
	}
	loc := srv.URL + resp.Header.Get("Location")
	if resp := do(http.MethodPatch, loc, data[:10], map[string]string{"Upload-Offset": "5"}); resp.StatusCode != http.StatusConflict {
		t.Errorf("PATCH at a wrong offset: %s, want 409", resp.Status)
	}
	half := len(data) / 2
	resp = do(http.MethodPatch, loc, data[:half], map[string]string{"Upload-Offset": "0"})
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-Offset") != strconv.Itoa(half) || resp.Header.Get("X-Sha256") != "" {
		t.Fatalf("first PATCH: %s, offset %q, digest %q", resp.Status, resp.Header.Get("Upload-Offset"), resp.Header.Get("X-Sha256"))
	}
	resp = do(http.MethodPatch, loc, data[half:], map[string]string{"Upload-Offset": strconv.Itoa(half)})
	sum := sha256.Sum256(data)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("X-Sha256") != hex.EncodeToString(sum[:]) {
		t.Fatalf("last PATCH: %s, digest %q, want %x", resp.Status, resp.Header.Get("X-Sha256"), sum)
	}
}
