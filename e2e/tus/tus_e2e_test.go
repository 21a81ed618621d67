// Package tus_e2e drives the built mediaedge binary with real tus clients:
// tus-js-client (Node) and the Go client, against the embedded store and
// Cassandra, with faults injected between client and server (a proxy that
// cuts the connection mid-PATCH, kill -9 of the server).
package tus_e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"
)

const mib = 1 << 20

type nodeResult struct {
	URL      string   `json:"url"`
	MediaID  string   `json:"mediaId"`
	Aborted  bool     `json:"aborted"`
	Accepted int64    `json:"accepted"`
	Requests []string `json:"requests"`
}

func runNode(t *testing.T, opts map[string]any) nodeResult {
	t.Helper()
	b, _ := json.Marshal(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := nodeRun(t, ctx, string(b))
	if err != nil {
		t.Fatal(err)
	}
	var r nodeResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	return r
}

func idOf(uploadURL string) string { return path.Base(uploadURL) }

// checkMedia asserts /m/{id} serves exactly the uploaded bytes.
func checkMedia(t *testing.T, base, id, want string) {
	t.Helper()
	status, got := mediaSHA256(t, base, id)
	if status != http.StatusOK || got != want {
		t.Fatalf("GET /m/%s: %d sha256 %s, want 200 %s", id, status, got, want)
	}
}

func TestTusJSClient(t *testing.T) {
	needNode(t)
	forEachStore(t, func(t *testing.T, storeArgs []string) {
		srv := startServer(t, storeArgs)
		endpoint := srv.url() + "/files/"
		dir := t.TempDir()

		t.Run("upload 20 MiB", func(t *testing.T) {
			file, sum := writeRandom(t, dir, "big.bin", 20*mib, 1)
			r := runNode(t, map[string]any{"endpoint": endpoint, "token": token, "file": file,
				"input": "stream", "chunkSize": 5 * mib})
			if r.MediaID != idOf(r.URL) {
				t.Errorf("X-Media-Id %q, upload URL %s", r.MediaID, r.URL)
			}
			checkMedia(t, srv.url(), idOf(r.URL), sum)
		})

		t.Run("abort and resume by fingerprint", func(t *testing.T) {
			file, sum := writeRandom(t, dir, "resume.bin", 8*mib, 2)
			storage := path.Join(dir, "urls.json")
			opts := map[string]any{"endpoint": endpoint, "token": token, "file": file,
				"input": "stream", "chunkSize": 1 * mib, "urlStorage": storage}
			opts["abortAt"] = 5 * mib
			first := runNode(t, opts)
			if !first.Aborted || first.Accepted < 5*mib {
				t.Fatalf("first run: %+v", first)
			}
			// Not finished: the media must not exist yet.
			if status, _ := mediaSHA256(t, srv.url(), idOf(first.URL)); status == http.StatusOK {
				t.Fatal("an unfinished upload is served")
			}
			delete(opts, "abortAt")
			second := runNode(t, opts) // a new client process
			if second.URL != first.URL {
				t.Fatalf("resumed %s, want %s", second.URL, first.URL)
			}
			if len(second.Requests) < 2 || second.Requests[0] != "HEAD " ||
				second.Requests[1] != "PATCH "+strconv.FormatInt(first.Accepted, 10) {
				t.Errorf("second run did not resume from %d: %v", first.Accepted, second.Requests)
			}
			checkMedia(t, srv.url(), idOf(second.URL), sum)
		})

		t.Run("abort and resume by uploadUrl", func(t *testing.T) {
			file, sum := writeRandom(t, dir, "resume2.bin", 7*mib, 3)
			first := runNode(t, map[string]any{"endpoint": endpoint, "token": token, "file": file,
				"input": "buffer", "chunkSize": 1 * mib, "abortAt": 5 * mib})
			second := runNode(t, map[string]any{"endpoint": endpoint, "token": token, "file": file,
				"input": "buffer", "chunkSize": 1 * mib, "uploadUrl": first.URL})
			if second.Requests[0] != "HEAD " || second.Requests[1] == "PATCH 0" {
				t.Errorf("did not resume: %v", second.Requests)
			}
			checkMedia(t, srv.url(), idOf(first.URL), sum)
		})

		t.Run("connection cut mid-PATCH", func(t *testing.T) {
			file, sum := writeRandom(t, dir, "cut.bin", 16*mib, 4)
			proxy := newCutProxy(t, srv.addr, 6*mib)
			r := runNode(t, map[string]any{"endpoint": "http://" + proxy.addr() + "/files/", "token": token,
				"file": file, "input": "buffer", "chunkSize": 4 * mib})
			if proxy.cutCount() != 1 {
				t.Fatalf("the proxy cut %d connections, want 1 (did the client bypass it?)", proxy.cutCount())
			}
			heads := 0
			for _, q := range r.Requests {
				if q == "HEAD " {
					heads++
				}
			}
			if heads == 0 {
				t.Errorf("the client did not resume with HEAD: %v", r.Requests)
			}
			checkMedia(t, srv.url(), idOf(r.URL), sum)
		})

		t.Run("parallel uploads (concatenation)", func(t *testing.T) {
			file, sum := writeRandom(t, dir, "parallel.bin", 9*mib+123, 5)
			r := runNode(t, map[string]any{"endpoint": endpoint, "token": token, "file": file,
				"input": "buffer", "parallelUploads": 3})
			posts := 0
			for _, q := range r.Requests {
				if q == "POST " {
					posts++
				}
			}
			if posts != 4 {
				t.Errorf("%d POSTs, want 3 partial + 1 final: %v", posts, r.Requests)
			}
			checkMedia(t, srv.url(), idOf(r.URL), sum)
		})

		t.Run("checksum mismatch is 460", func(t *testing.T) {
			checksumMismatch(t, endpoint)
		})
	})
}

// checksumMismatch speaks raw HTTP: a chunk whose Upload-Checksum does not
// match gets 460 and is discarded; the right one is then accepted.
func checksumMismatch(t *testing.T, endpoint string) {
	do := func(method, url string, hdr map[string]string, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Authorization", "Bearer "+token)
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
	body := strings.Repeat("checksummed ", 1000)
	resp := do("POST", endpoint, map[string]string{"Upload-Length": strconv.Itoa(len(body))}, "")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	url := resp.Header.Get("Location")
	good := sha256.Sum256([]byte(body))
	bad := sha256.Sum256([]byte(body + "x"))
	patch := func(sum [32]byte) *http.Response {
		return do("PATCH", url, map[string]string{"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0",
			"Upload-Checksum": "sha256 " + base64.StdEncoding.EncodeToString(sum[:])}, body)
	}
	if resp := patch(bad); resp.StatusCode != 460 {
		t.Fatalf("mismatching checksum: %d, want 460", resp.StatusCode)
	}
	if resp := do("HEAD", url, nil, ""); resp.Header.Get("Upload-Offset") != "0" {
		t.Fatalf("after 460 the offset is %s, want 0 (chunk discarded)", resp.Header.Get("Upload-Offset"))
	}
	if resp := do("PATCH", url, map[string]string{"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0",
		"Upload-Checksum": "sha512 " + base64.StdEncoding.EncodeToString(good[:])}, body); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unsupported algorithm: %d, want 400", resp.StatusCode)
	}
	if resp := patch(good); resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-Offset") != strconv.Itoa(len(body)) {
		t.Fatalf("matching checksum: %d offset %s", resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}
}
