package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/chunkstore/embedded"
	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/tus"
)

// TestUploadCommand runs `mediaedge upload` against the tus handler on the
// embedded store and checks the printed URLs name the stored files.
func TestUploadCommand(t *testing.T) {
	b, err := embedded.Open(embedded.Config{Dir: filepath.Join(t.TempDir(), "store")})
	if err != nil {
		t.Fatal(err)
	}
	store, err := chunkstore.New(b, chunkstore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cfg := tus.DefaultConfig()
	cfg.Authorize = func(r *http.Request) (string, error) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			return "", httperr.New(http.StatusUnauthorized, "unauthorized", "bearer token required")
		}
		return "token1", nil
	}
	h, err := tus.New(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	var files []string
	var sums [][32]byte
	for _, n := range []int{0, 1000, 3<<20 + 5} {
		data := make([]byte, n)
		_, _ = rand.Read(data)
		p := filepath.Join(dir, "f"+string(rune('a'+len(files))))
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
		sums = append(sums, sha256.Sum256(data))
	}
	var out, errw bytes.Buffer
	f := uploadFlags{server: srv.URL + "/", token: "tok", chunkSize: "1MiB", stateDir: filepath.Join(dir, "state")}
	if err := runUpload(context.Background(), f, files, &out, &errw); err != nil {
		t.Fatalf("%v\n%s", err, errw.String())
	}
	lines := strings.Fields(out.String())
	if len(lines) != len(files) {
		t.Fatalf("printed %q", out.String())
	}
	for i, line := range lines {
		id, ok := strings.CutPrefix(line, srv.URL+"/m/")
		if !ok {
			t.Fatalf("URL %q", line)
		}
		fi, err := store.Stat(context.Background(), id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if !bytes.Equal(fi.SHA256, sums[i][:]) {
			t.Errorf("%s: sha256 differs", files[i])
		}
	}

	f.token = "wrong"
	errw.Reset()
	if err := runUpload(context.Background(), f, files[1:2], &out, &errw); err == nil || !strings.Contains(errw.String(), "401") {
		t.Errorf("bad token: %v, stderr %q", err, errw.String())
	}
	f.chunkSize = "lots"
	if err := runUpload(context.Background(), f, files[:1], &out, &errw); err == nil {
		t.Error("bad --chunk-size accepted")
	}
}
