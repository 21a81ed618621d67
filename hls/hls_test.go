package hls_test

import (
	"github.com/mediaedge/mediaedge/internal/testenv"

	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/chunkstore/embedded"
	"github.com/mediaedge/mediaedge/hls"
	"github.com/mediaedge/mediaedge/transform/video"
)

type env struct {
	store *chunkstore.Store
	b     *embedded.Backend
}

// newEnv opens a real embedded (Pebble) chunk store: the derived-table
// claims and file writes are the production code paths.
func newEnv(t *testing.T) *env {
	t.Helper()
	b, err := embedded.Open(embedded.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := chunkstore.New(b, chunkstore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &env{store: s, b: b}
}

func newConv(t *testing.T) *video.Converter {
	t.Helper()
	cfg := video.DefaultConfig()
	cfg.TempDir = t.TempDir()
	c, err := video.New(cfg)
	if err != nil {
		testenv.Missing(t, err.Error())
	}
	return c
}

func fastConfig(t *testing.T) hls.Config {
	cfg := hls.DefaultConfig()
	cfg.PollInterval = 10 * time.Millisecond
	cfg.TempDir = t.TempDir()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (e *env) put(t *testing.T, data []byte) chunkstore.FileInfo {
	t.Helper()
	f, err := e.store.Put(context.Background(), bytes.NewReader(data), chunkstore.PutOptions{Owner: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// owned counts the files the packager stored for src.
func (e *env) owned(t *testing.T, src string) int {
	t.Helper()
	n := 0
	err := e.b.ScanFiles(context.Background(), func(f chunkstore.FileInfo) error {
		if f.Owner == "hls:"+src && f.State == chunkstore.StateComplete {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func clip(t *testing.T) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "clip.mp4")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=9", "-f", "lavfi", "-i", "sine=duration=9",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	b, _ := os.ReadFile(p)
	return b
}

// TestOncePerFleet: two edges (two packagers, one store), many concurrent
// requests: one package is made and everyone gets it; ffprobe then plays
// the package over HTTP as a player would.
func TestOncePerFleet(t *testing.T) {
	e := newEnv(t)
	src := e.put(t, clip(t))
	if src.ContentType != "video/mp4" {
		t.Fatalf("sniffed %s", src.ContentType)
	}
	edges := []*hls.Packager{hls.New(fastConfig(t), e.store, newConv(t)), hls.New(fastConfig(t), e.store, newConv(t))}
	var wg sync.WaitGroup
	got := make([]hls.Manifest, 6)
	errs := make([]error, 6)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = edges[i%2].Manifest(context.Background(), src)
		}()
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if got[i].Files["index.m3u8"] != got[0].Files["index.m3u8"] {
			t.Fatalf("request %d got another package: %v vs %v", i, got[i].Files, got[0].Files)
		}
	}
	m := got[0]
	if !m.Remuxed || m.Files["init.mp4"] == "" || m.Files["seg_00000.m4s"] == "" {
		t.Fatalf("manifest %+v", m)
	}
	if n := e.owned(t, src.ID); n != len(m.Files)+1 {
		t.Fatalf("%d files stored for %d package files and a manifest: produced more than once", n, len(m.Files))
	}
	if _, err := e.store.GetDerivedID(context.Background(), src.ID, "hls.lock"); !errors.Is(err, chunkstore.ErrNotFound) {
		t.Errorf("claim not released: %v", err)
	}

	// Serve the package from the store, as the edge does, and let ffprobe
	// read it over HTTP.
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := m.Files[filepath.Base(r.URL.Path)]
		if !ok {
			http.NotFound(w, r)
			return
		}
		f, err := e.store.Open(r.Context(), id)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", video.ContentType(r.URL.Path))
		http.ServeContent(w, r, "", time.Time{}, f)
	}))
	defer ts.Close()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name:format=duration", "-of", "csv=p=0",
		ts.URL+"/m/x/hls/index.m3u8").CombinedOutput()
	if err != nil || !bytes.HasPrefix(out, []byte("h264\naac\n")) {
		t.Fatalf("ffprobe over HTTP: %v\n%s", err, out)
	}
	lines := bytes.Fields(out) // streams (per program too), then the duration
	dur, _ := strconv.ParseFloat(string(lines[len(lines)-1]), 64)
	if dur < 8.8 || dur > 9.3 {
		t.Errorf("duration over HTTP %.3f s, want 9", dur)
	}
	// A later request on either edge finds the package without producing.
	again, err := edges[1].Manifest(context.Background(), src)
	if err != nil || again.Files["index.m3u8"] != m.Files["index.m3u8"] || e.owned(t, src.ID) != len(m.Files)+1 {
		t.Fatalf("second lookup: %v %v", again, err)
	}
}

func TestNotVideo(t *testing.T) {
	e := newEnv(t)
	p := hls.New(fastConfig(t), e.store, newConv(t))
	for _, ct := range []string{"image/gif", "image/png", "application/pdf", "audio/mpeg"} {
		if _, err := p.Manifest(context.Background(), chunkstore.FileInfo{ID: "x", ContentType: ct}); !errors.Is(err, hls.ErrNotVideo) {
			t.Errorf("%s: %v", ct, err)
		}
	}
}

// TestCorruptLeavesNothing: a video ffmpeg cannot read is ErrCorrupt; the
// claim is released at once and no file is left in the store.
func TestCorruptLeavesNothing(t *testing.T) {
	e := newEnv(t)
	good := clip(t)
	src := e.put(t, good[:len(good)/2]) // no +faststart: the index is lost
	p := hls.New(fastConfig(t), e.store, newConv(t))
	for i := 0; i < 2; i++ { // the second try is not blocked by a stale claim
		if _, err := p.Manifest(context.Background(), src); !errors.Is(err, video.ErrCorrupt) {
			t.Fatalf("try %d: got %v, want ErrCorrupt", i, err)
		}
	}
	if _, err := e.store.GetDerivedID(context.Background(), src.ID, "hls.lock"); !errors.Is(err, chunkstore.ErrNotFound) {
		t.Errorf("claim left: %v", err)
	}
	if n := e.owned(t, src.ID); n != 0 {
		t.Errorf("%d files left", n)
	}
}

// TestWaitsForOtherEdge: while another edge holds a live claim, Manifest
// waits for that edge's manifest instead of producing its own.
func TestWaitsForOtherEdge(t *testing.T) {
	e := newEnv(t)
	src := e.put(t, clip(t))
	ctx := context.Background()
	live := "other@" + strconv.FormatInt(time.Now().Unix(), 10)
	if _, mine, err := e.store.ClaimDerived(ctx, src.ID, "hls.lock", live); err != nil || !mine {
		t.Fatal(mine, err)
	}
	p := hls.New(fastConfig(t), e.store, newConv(t))
	done := make(chan error, 1)
	var got hls.Manifest
	go func() {
		var err error
		got, err = p.Manifest(ctx, src)
		done <- err
	}()
	// The "other edge" finishes: a manifest recorded under the variant.
	pl := e.put(t, []byte("#EXTM3U\n"))
	mf := e.put(t, []byte(`{"files":{"index.m3u8":"`+pl.ID+`"},"remuxed":true}`))
	if _, _, err := e.store.ClaimDerived(ctx, src.ID, "hls", mf.ID); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got.Files["index.m3u8"] != pl.ID || e.owned(t, src.ID) != 0 {
		t.Fatalf("got %v, %d files produced: want the other edge's package", got, e.owned(t, src.ID))
	}
}

// TestStaleClaimBroken: a claim older than StaleAfter (its edge died) is
// broken and the package produced.
func TestStaleClaimBroken(t *testing.T) {
	e := newEnv(t)
	src := e.put(t, clip(t))
	ctx := context.Background()
	dead := "dead@" + strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	if _, _, err := e.store.ClaimDerived(ctx, src.ID, "hls.lock", dead); err != nil {
		t.Fatal(err)
	}
	p := hls.New(fastConfig(t), e.store, newConv(t))
	m, err := p.Manifest(ctx, src)
	if err != nil || m.Files["index.m3u8"] == "" {
		t.Fatalf("%v %v", m, err)
	}
	r, err := e.store.Open(ctx, m.Files["index.m3u8"])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pl, _ := io.ReadAll(r)
	if !bytes.Contains(pl, []byte("#EXT-X-ENDLIST")) {
		t.Fatalf("playlist %s", pl)
	}
}

func TestConfigValidate(t *testing.T) {
	bad := hls.Config{SegmentSeconds: 0, StaleAfter: -1}
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"segment", "stale", "poll"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}
