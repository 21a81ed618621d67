package edge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mediaedge/mediaedge/internal/testenv"
	"github.com/mediaedge/mediaedge/transform"
)

// TestHLSFileGoneMadeAgain: a segment of a video's package deleted from the
// store under its record is made again on the next request for it, instead
// of a 404 for every request from then on.
func TestHLSFileGoneMadeAgain(t *testing.T) {
	testenv.Tool(t, "ffmpeg")
	testenv.Tool(t, "ffprobe")
	e := newMediaEnv(t, transform.DefaultConfig())
	clip := filepath.Join(t.TempDir(), "clip.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=2",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	raw, _ := readFile(clip)
	v := e.put(t, raw)
	if resp, pl := do(t, "GET", e.ts.URL+"/m/"+v.ID+"/hls/index.m3u8", nil, nil); resp.StatusCode != 200 || !bytes.Contains(pl, []byte("seg_00000.m4s")) {
		t.Fatalf("playlist: %d %.100s", resp.StatusCode, pl)
	}
	ctx := context.Background()
	mid, err := e.store.GetDerivedID(ctx, v.ID, "hls")
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.store.Open(ctx, mid)
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Files map[string]string }
	err = json.NewDecoder(r).Decode(&m)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Delete(ctx, m.Files["seg_00000.m4s"]); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		resp, seg := do(t, "GET", e.ts.URL+"/m/"+v.ID+"/hls/seg_00000.m4s", nil, nil)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/mp4" || len(seg) == 0 {
			t.Fatalf("segment deleted from the store: %d %q %d bytes, want 200", resp.StatusCode, resp.Header.Get("Content-Type"), len(seg))
		}
	}
	if now, err := e.store.GetDerivedID(ctx, v.ID, "hls"); err != nil || now == mid {
		t.Fatalf("record %q %v: the package was not made again", now, err)
	}
}
