package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/internal/promtext"
)

// served is a `mediaedge serve` process started by a test.
type served struct {
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:PORT
	token  string // the generated upload token it printed
	exited chan error
	mu     sync.Mutex
	stderr bytes.Buffer
}

// buildBinary builds this command once per test into a temp folder.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mediaedge")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var (
	servingRe = regexp.MustCompile(`serving on (http://\S+)`)
	tokenRe   = regexp.MustCompile(`^upload token: (\S+)`)
)

// startServe runs `mediaedge serve` with its defaults (but for a free port)
// in dir, and reads the address and the generated token from its stdout, as
// a first-time user would.
func startServe(t *testing.T, bin, dir string, args ...string) *served {
	t.Helper()
	s := &served{exited: make(chan error, 1)}
	s.cmd = exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	s.cmd.Dir = dir
	s.cmd.Env = cleanEnv()
	s.cmd.Stderr = &lockedWriter{mu: &s.mu, w: &s.stderr}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		s.exited <- s.cmd.Wait()
	}()
	timeout := time.After(60 * time.Second)
	for s.base == "" || s.token == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited before it was ready: %s", s.logs())
			}
			if m := servingRe.FindStringSubmatch(l); m != nil {
				s.base = m[1]
			}
			if m := tokenRe.FindStringSubmatch(l); m != nil {
				s.token = m[1]
			}
		case <-timeout:
			t.Fatalf("serve printed no address and token: %s", s.logs())
		}
	}
	go func() { // keep draining so the server never blocks on stdout
		for range lines {
		}
	}()
	return s
}

func (s *served) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// stop sends SIGTERM and waits for a clean exit.
func (s *served) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exited:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM: %s", err, s.logs())
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("serve did not exit after SIGTERM: %s", s.logs())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// cleanEnv drops MEDIAEDGE_* variables so the test sees the defaults.
func cleanEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "MEDIAEDGE_") {
			env = append(env, e)
		}
	}
	return env
}

func request(t *testing.T, method, url, token string, hdr map[string]string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// metricValue reads one metric from /metrics (every series summed).
func metricValue(t *testing.T, base, name string) float64 {
	t.Helper()
	_, body := request(t, "GET", base+"/metrics", "", nil, nil)
	if !strings.Contains(string(body), "\n"+name+" ") && !strings.HasPrefix(string(body), name+" ") {
		t.Fatalf("no metric %s", name)
	}
	return promtext.Sum(string(body), name)
}

// TestServeDefaults is a new user's first session: `mediaedge serve` with no
// set-up, a curl-style upload with the printed token, the file read back;
// then a tus upload cut by a graceful shutdown (SIGTERM) mid-PATCH, which
// resumes after a restart from the bytes the server kept.
func TestServeDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	s := startServe(t, bin, dir)
	if _, err := os.Stat(filepath.Join(dir, "data", "store")); err != nil {
		t.Errorf("the embedded store is not in ./data: %v", err)
	}

	// One-shot upload, as with curl --data-binary.
	data := make([]byte, 3<<20+11)
	_, _ = rand.Read(data)
	resp, body := request(t, "POST", s.base+"/upload", s.token, nil, bytes.NewReader(data))
	if resp.StatusCode != 201 {
		t.Fatalf("POST /upload: %d %s", resp.StatusCode, body)
	}
	var up struct {
		ID, URL, SHA256 string
		Size            int64
		ContentType     string `json:"content_type"`
	}
	if err := json.Unmarshal(body, &up); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if up.URL != s.base+"/m/"+up.ID || up.SHA256 != hex.EncodeToString(sum[:]) || up.Size != int64(len(data)) || up.ContentType == "" {
		t.Fatalf("upload answer %s", body)
	}
	if resp, back := request(t, "GET", up.URL, "", nil, nil); resp.StatusCode != 200 || !bytes.Equal(back, data) {
		t.Fatalf("GET %s: %d, %d bytes", up.URL, resp.StatusCode, len(back))
	}
	if resp, _ := request(t, "POST", s.base+"/upload", "wrong-token-0123456789", nil, strings.NewReader("x")); resp.StatusCode != 401 {
		t.Fatalf("upload with a wrong token: %d", resp.StatusCode)
	}

	// A tus upload whose PATCH is in flight when the server is told to stop.
	const total = 6 << 20
	tusData := make([]byte, total)
	_, _ = rand.Read(tusData)
	tusHdr := map[string]string{"Tus-Resumable": "1.0.0"}
	resp, body = request(t, "POST", s.base+"/files/", s.token, map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": strconv.Itoa(total)}, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("tus creation: %d %s", resp.StatusCode, body)
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	before := metricValue(t, s.base, "mediaedge_http_bytes_received_total")
	pr, pw := io.Pipe()
	patchDone := make(chan struct{})
	go func() {
		defer close(patchDone)
		req, _ := http.NewRequest("PATCH", loc.String(), pr)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Authorization", "Bearer "+s.token)
		req.Header.Set("Upload-Offset", "0")
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		req.ContentLength = total
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	const sent = 3 << 20
	go func() { _, _ = pw.Write(tusData[:sent]) }() // then the client stalls
	deadline := time.Now().Add(30 * time.Second)
	for metricValue(t, s.base, "mediaedge_http_bytes_received_total")-before < sent {
		if time.Now().After(deadline) {
			t.Fatal("the server never read the first 3 MiB of the PATCH")
		}
		time.Sleep(20 * time.Millisecond) // polling, with a deadline
	}
	s.stop(t) // must not wait for the stalled PATCH's body timeout
	pw.CloseWithError(io.ErrClosedPipe)
	<-patchDone

	firstToken := s.token
	s = startServe(t, bin, dir)
	if s.token != firstToken {
		t.Errorf("a restart generated a new token; the first one is kept in data/upload-token")
	}
	upURL := s.base + loc.Path // the restarted server listens on a new port
	resp, _ = request(t, "HEAD", upURL, s.token, tusHdr, nil)
	off, err := strconv.Atoi(resp.Header.Get("Upload-Offset"))
	if resp.StatusCode != 200 || err != nil {
		t.Fatalf("HEAD after restart: %d offset %q", resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}
	if off <= 0 || off > sent {
		t.Fatalf("offset after a graceful stop: %d, want the bytes received kept (0 < offset <= %d)", off, sent)
	}
	resp, body = request(t, "PATCH", upURL, s.token, map[string]string{"Tus-Resumable": "1.0.0",
		"Upload-Offset": strconv.Itoa(off), "Content-Type": "application/offset+octet-stream"}, bytes.NewReader(tusData[off:]))
	if resp.StatusCode != 204 {
		t.Fatalf("resume PATCH: %d %s", resp.StatusCode, body)
	}
	id := filepath.Base(loc.Path)
	if resp, back := request(t, "GET", s.base+"/m/"+id, "", nil, nil); resp.StatusCode != 200 || !bytes.Equal(back, tusData) {
		t.Fatalf("GET the resumed upload: %d, %d bytes (want %d, equal)", resp.StatusCode, len(back), total)
	}
	// The first upload survived the restart too.
	if resp, back := request(t, "GET", s.base+"/m/"+up.ID, "", nil, nil); resp.StatusCode != 200 || !bytes.Equal(back, data) {
		t.Fatalf("GET after restart: %d", resp.StatusCode)
	}
	t.Logf("a PATCH cut by SIGTERM after %d bytes kept %d", sent, off)
	s.stop(t)
	tok, err := os.ReadFile(filepath.Join(dir, "data", "upload-token"))
	if err != nil || strings.TrimSpace(string(tok)) != s.token {
		t.Fatalf("the generated token is not kept in data/upload-token: %q %v", tok, err)
	}
}
