// Package webapp_e2e uses the web app of a running mediaedge in Debian's
// Chromium, as people would: uploads over a connection that drops, the
// library, the playground, HLS playback, and two users chatting and liking.
package webapp_e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/internal/testenv"
)

const token = "e2e-webapp-token-0123456789"

func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitOK(t *testing.T, url string, logs *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	c := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never answered\nserver log:\n%s", url, logs.String())
}

// cutProxy forwards TCP connections to the server and, once, cuts the
// connection that has carried cutAfter bytes towards the server (an
// upload's body), then refuses connections for downFor: a dropped network
// between the browser and the server, not a fault the browser simulates.
type cutProxy struct {
	ln        net.Listener
	target    string
	cutAfter  int64
	downFor   time.Duration
	mu        sync.Mutex // guards cutAt, downUntil
	cutAt     int64      // bytes the cut connection had carried; 0: not cut yet
	downUntil time.Time
}

func startProxy(t *testing.T, target string, cutAfter int64, downFor time.Duration) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, cutAfter: cutAfter, downFor: downFor}
	go p.serve()
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.conn(c)
	}
}

func (p *cutProxy) conn(c net.Conn) {
	defer c.Close()
	p.mu.Lock()
	down := time.Now().Before(p.downUntil)
	p.mu.Unlock()
	if down {
		return
	}
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	defer s.Close()
	go func() { _, _ = io.Copy(c, s); c.Close() }()
	buf := make([]byte, 32<<10)
	var sent int64
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := s.Write(buf[:n]); werr != nil {
				return
			}
			sent += int64(n)
			if sent >= p.cutAfter && p.cut(sent) {
				return // both sides closed by the defers: a reset mid-body
			}
		}
		if err != nil {
			return
		}
	}
}

// cut reports whether this connection is the one to cut (the first past
// cutAfter), and starts the outage.
func (p *cutProxy) cut(sent int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cutAt != 0 {
		return false
	}
	p.cutAt = sent
	p.downUntil = time.Now().Add(p.downFor)
	return true
}

func (p *cutProxy) cutBytes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cutAt
}

func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// syncBuffer is the server's log, written by the process and read by the test.
type syncBuffer struct {
	mu  chan struct{} // guards b (a one-slot semaphore)
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.buf.String()
}

// driveResult is what drive.js prints.
type driveResult struct {
	OK           bool     `json:"ok"`
	Steps        []string `json:"steps"`
	Errors       []string `json:"errors"`
	Shots        []string `json:"shots"`
	TokenLeftURL bool     `json:"tokenLeftURL"`
	CutAt        int      `json:"cutAt"`
	States       map[string][]string
	Uploads      []struct{ Name, State, Media, Status string }
	Playground   struct {
		URL                  string
		Width, Height, Bytes int
	}
	Gif          struct{ T0, T1 float64 }
	Video        struct{ CurrentTime float64 }
	Badge        int
	Notification string
	TypingSeen   bool
	SameConvo    bool `json:"sameConversation"`
	Chat         struct{ Alice, Bob []string }
	Dump         json.RawMessage
	Reload       struct {
		Before, FirstAfter int
		States             []string
	}
}

func TestWebAppInChromium(t *testing.T) {
	testenv.Tool(t, "ffmpeg")
	testenv.Tool(t, "node")
	testenv.Tool(t, "npm")
	chromium := testenv.Tool(t, "chromium")
	root := repoRoot(t)
	here := filepath.Join(root, "e2e", "webapp")
	if _, err := os.Stat(filepath.Join(here, "node_modules", "playwright-core")); err != nil {
		run(t, here, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	}
	// The app's own libraries must be in the binary (make webapp).
	for _, f := range []string{"tus.min.js", "hls.min.js"} {
		if _, err := os.Stat(filepath.Join(root, "webapp", "assets", "vendor", f)); err != nil {
			t.Fatalf("webapp/assets/vendor/%s is missing: run make webapp (make test does)", f)
		}
	}

	dir := t.TempDir()
	shots := os.Getenv("MEDIAEDGE_WEBAPP_SHOTS")
	if shots == "" {
		shots = filepath.Join(dir, "shots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s (set MEDIAEDGE_WEBAPP_SHOTS to keep them)", shots)

	bin := filepath.Join(dir, "mediaedge")
	run(t, root, "go", "build", "-o", bin, "./cmd/mediaedge")

	// The media: a photo, an animated GIF, and a phone-like clip (H.264 +
	// AAC, 10 s at a high bitrate, some MB, so the cut lands mid-upload).
	jpeg := filepath.Join(dir, "photo.jpg")
	gif := filepath.Join(dir, "anim.gif")
	mp4 := filepath.Join(dir, "clip.mp4")
	run(t, dir, "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1600x1200:rate=1", "-frames:v", "1", "-q:v", "3", jpeg)
	run(t, dir, "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=240x180:rate=10:duration=3", gif)
	run(t, dir, "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=10",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=10", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "3M",
		"-pix_fmt", "yuv420p", "-g", "60", "-c:a", "aac", "-shortest", "-movflags", "+faststart", mp4)
	// A second clip, uploaded then resumed across a page reload.
	clip2 := filepath.Join(dir, "clip2.mp4")
	run(t, dir, "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=30:duration=8",
		"-c:v", "libx264", "-preset", "ultrafast", "-b:v", "3M", "-pix_fmt", "yuv420p", clip2)
	if fi, err := os.Stat(mp4); err != nil || fi.Size() < 2<<20 {
		t.Fatalf("the clip should be a few MB: %v %v", fi, err)
	}

	addr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	srv := exec.CommandContext(ctx, bin, "serve", "--listen", addr, "--data", filepath.Join(dir, "data"),
		"--upload-token", token)
	logs := newSyncBuffer()
	srv.Stdout, srv.Stderr = logs, logs
	srv.WaitDelay = 10 * time.Second
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = srv.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cancel()
			<-done
		}
	}()
	waitOK(t, "http://"+addr+"/readyz", logs)
	// The browser reaches the server through the proxy; the clip's upload
	// is cut after 1 MiB of its 4 MB.
	proxy := startProxy(t, addr, 1<<20, time.Second)
	base := "http://" + proxy.ln.Addr().String()

	dctx, dcancel := context.WithTimeout(ctx, 7*time.Minute)
	defer dcancel()
	drive := exec.CommandContext(dctx, "node", "drive.js", base, token, jpeg, gif, mp4, shots, clip2)
	drive.Dir = here
	drive.Env = append(os.Environ(), "CHROMIUM="+chromium)
	var stdout, stderr bytes.Buffer
	drive.Stdout, drive.Stderr = &stdout, &stderr
	drive.WaitDelay = 10 * time.Second
	err := drive.Run()
	t.Logf("driver:\n%s", strings.TrimSpace(stderr.String()))
	var res driveResult
	if jerr := json.Unmarshal(bytes.TrimSpace(lastLine(stdout.Bytes())), &res); jerr != nil {
		t.Fatalf("driver output: %v (%v)\n%s\nserver log:\n%s", jerr, err, stdout.String(), logs.String())
	}
	if err != nil || !res.OK {
		t.Fatalf("the browser run failed: %v\nerrors: %s\nsteps: %s\npages: %s\nserver log:\n%s", err,
			strings.Join(res.Errors, "\n"), strings.Join(res.Steps, "\n"), res.Dump, tail(logs.String(), 8000))
	}
	for _, e := range res.Errors {
		t.Errorf("page error: %s", e)
	}

	if !res.TokenLeftURL {
		t.Error("the #token= fragment stayed in the address bar")
	}
	if cut := proxy.cutBytes(); cut == 0 {
		t.Error("the proxy never cut a connection")
	} else {
		t.Logf("the proxy cut a connection after %d bytes; the page showed %d%% then", cut, res.CutAt)
	}
	if res.CutAt >= 100 {
		t.Errorf("the cut landed at %d%%, not mid-upload", res.CutAt)
	}
	// The cut is seen by the upload (it retried or errored and resumed) and
	// every upload still ended at 100%.
	clip := filepath.Base(mp4)
	interrupted := false
	for _, s := range res.States[clip] {
		if s == "retrying" || s == "error" {
			interrupted = true
		}
	}
	if !interrupted {
		t.Errorf("the upload of %s never saw the cut (states %v)", clip, res.States[clip])
	}
	t.Logf("upload states of %s: %v", clip, res.States[clip])

	// After a reload mid-upload, choosing the file again resumed it: its
	// first progress was past zero (tus HEAD, then PATCH from the offset).
	if !slices.Contains(res.Reload.States, "resuming") || res.Reload.FirstAfter <= 0 {
		t.Errorf("the upload did not resume after a reload: %+v", res.Reload)
	}

	// The URL the playground shows, fetched here, is an image of the size
	// the page shows.
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(res.Playground.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("playground URL %s: %d %v", res.Playground.URL, resp.StatusCode, err)
	}
	if cfg.Width != res.Playground.Width || cfg.Height != res.Playground.Height || len(body) != res.Playground.Bytes {
		t.Errorf("playground shows %dx%d (%d bytes), the URL returns a %s of %dx%d (%d bytes)",
			res.Playground.Width, res.Playground.Height, res.Playground.Bytes, format, cfg.Width, cfg.Height, len(body))
	}
	if res.Video.CurrentTime <= 3 {
		t.Errorf("video played to %.1f s", res.Video.CurrentTime)
	}
	if res.Badge < 1 || !strings.Contains(res.Notification, "liked") {
		t.Errorf("alice's badge %d, notification %q", res.Badge, res.Notification)
	}
	if !res.SameConvo {
		t.Error("alice and bob ended in different conversations")
	}
	for _, s := range res.Shots {
		if fi, err := os.Stat(s); err != nil || fi.Size() == 0 {
			t.Errorf("screenshot %s: %v", s, err)
		}
	}
	t.Logf("verified: cut at %d%%, playground %s = %dx%d, GIF as MP4 %.2fs->%.2fs, video %.1fs, badge %d, typing seen %v, chat %q / %q, %d screenshots in %s",
		res.CutAt, res.Playground.URL, cfg.Width, cfg.Height, res.Gif.T0, res.Gif.T1, res.Video.CurrentTime, res.Badge,
		res.TypingSeen, res.Chat.Alice, res.Chat.Bob, len(res.Shots), shots)
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("…%s", s[len(s)-n:])
}
