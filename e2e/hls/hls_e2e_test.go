// Package hls_e2e plays a video's HLS from a running mediaedge in Debian's
// Chromium with hls.js, as a viewer's browser would.
package hls_e2e

import (
	"github.com/mediaedge/mediaedge/internal/testenv"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const token = "e2e-hls-token-0123456789"

func need(t *testing.T, bin string) string {
	t.Helper()
	p := testenv.Tool(t, bin)
	return p
}

func repoRoot(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitOK(t *testing.T, url string) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

const page = `<!doctype html><html><body>
<video id="v" muted playsinline width="320"></video>
<script src="/hls.min.js"></script>
<script>
window.__state = { time: 0, fatal: false, errors: [] };
const v = document.getElementById('v');
v.addEventListener('timeupdate', () => { window.__state.time = v.currentTime; });
if (!Hls.isSupported()) { window.__state.fatal = true; window.__state.errors.push('hls.js not supported'); }
const hls = new Hls();
hls.on(Hls.Events.ERROR, (_, d) => {
  window.__state.errors.push(d.type + ':' + d.details);
  if (d.fatal) window.__state.fatal = true;
});
hls.loadSource(%q);
hls.attachMedia(v);
hls.on(Hls.Events.MANIFEST_PARSED, () => { v.play().catch(e => window.__state.errors.push('play: ' + e)); });
</script></body></html>`

func TestHLSPlaysInChromium(t *testing.T) {
	need(t, "ffmpeg")
	need(t, "node")
	need(t, "chromium")
	root := repoRoot(t)
	here := filepath.Join(root, "e2e", "hls")
	if _, err := os.Stat(filepath.Join(here, "node_modules", "hls.js")); err != nil {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = here
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v %s", err, out)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "mediaedge")
	build := exec.Command("go", "build", "-o", bin, "./cmd/mediaedge")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v %s", err, out)
	}
	// A phone-like clip: H.264 + AAC, 8 s, keyframes every 2 s.
	clip := filepath.Join(dir, "phone.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=30:duration=8",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=8", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
		"-g", "60", "-c:a", "aac", "-shortest", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := exec.CommandContext(ctx, bin, "serve", "--listen", addr, "--data", filepath.Join(dir, "data"), "--upload-token", token)
	var logs bytes.Buffer
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); srv.Wait() }()
	base := "http://" + addr
	waitOK(t, base+"/healthz")
	raw, _ := os.ReadFile(clip)
	req, _ := http.NewRequest("POST", base+"/upload", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var up struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&up)
	resp.Body.Close()
	playlist := base + "/m/" + up.ID + "/hls/index.m3u8"

	// ffprobe reads the playlist over HTTP, as a player would.
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", playlist).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "h264") || !strings.Contains(string(out), "aac") {
		t.Fatalf("ffprobe over HTTP: %v %s\nserver log:\n%s", err, out, logs.String())
	}

	// The page comes from another origin, like a site embedding our media.
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, page, playlist)
	})
	mux.HandleFunc("/hls.min.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(here, "node_modules", "hls.js", "dist", "hls.min.js"))
	})
	pageLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pageSrv := &http.Server{Handler: mux}
	go pageSrv.Serve(pageLn)
	defer pageSrv.Close()

	play := exec.Command("node", "play.js", "http://"+pageLn.Addr().String()+"/")
	play.Dir = here
	res, err := play.CombinedOutput()
	t.Logf("chromium: %s", bytes.TrimSpace(res))
	if err != nil {
		t.Fatalf("playback failed: %v\nserver log:\n%s", err, logs.String())
	}
}
