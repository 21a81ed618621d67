package tus_e2e

import (
	"github.com/mediaedge/mediaedge/internal/testenv"

	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/internal/cassandratest"
)

// token is the upload token every test server accepts.
const token = "e2e-upload-token-0123456789"

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds cmd/mediaedge once per test run, or returns
// MEDIAEDGE_E2E_BIN when set (a binary built already, e.g. by make build).
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if p := os.Getenv("MEDIAEDGE_E2E_BIN"); p != "" {
			binPath, binErr = filepath.Abs(p)
			return
		}
		root, err := repoRoot()
		if err != nil {
			binErr = err
			return
		}
		dir, err := os.MkdirTemp("", "mediaedge-e2e-tus-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "mediaedge")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/mediaedge")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/mediaedge: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// server is one `mediaedge serve` process; it can be killed and started
// again on the same address and data folder.
type server struct {
	t       *testing.T
	bin     string
	args    []string
	addr    string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
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

// startServer runs mediaedge serve with storeArgs on a fresh data folder.
func startServer(t *testing.T, storeArgs []string) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{t: t, bin: binary(t), addr: freeAddr(t), logPath: filepath.Join(dir, "serve.log")}
	s.args = append([]string{"serve", "--listen", s.addr, "--data", filepath.Join(dir, "data"),
		"--upload-token", token, "--log-level", "warn"}, storeArgs...)
	s.start()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			b, _ := os.ReadFile(s.logPath)
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("server log (tail):\n%s", b)
		}
	})
	return s
}

func (s *server) url() string { return "http://" + s.addr }

func (s *server) start() {
	s.t.Helper()
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.t.Fatal(err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			b, _ := os.ReadFile(s.logPath)
			s.t.Fatalf("mediaedge serve exited at start:\n%s", b)
		default:
		}
		resp, err := http.Get(s.url() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				s.checkTus()
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("mediaedge serve did not answer /healthz on %s", s.addr)
}

// checkTus fails clearly when the server does not mount the tus handler.
func (s *server) checkTus() {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, s.url()+"/files/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Tus-Version") != "1.0.0" {
		s.t.Fatalf("OPTIONS /files/: %d without Tus-Version: the tus handler is not mounted", resp.StatusCode)
	}
}

// kill ends the server with SIGKILL: no shutdown code runs.
func (s *server) kill() {
	s.t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// forEachStore runs fn against the embedded store and, where a Cassandra
// answers (always under CI=true), against Cassandra in a fresh keyspace.
func forEachStore(t *testing.T, fn func(t *testing.T, storeArgs []string)) {
	t.Run("embedded", func(t *testing.T) { fn(t, []string{"--store", "embedded"}) })
	t.Run("cassandra", func(t *testing.T) {
		hosts := cassandratest.Hosts(t)
		ks := cassandratest.Keyspace(t, hosts)
		fn(t, []string{"--store", "cassandra", "--cassandra-hosts", strings.Join(hosts, ","), "--cassandra-keyspace", ks})
	})
}

// writeRandom writes n reproducible random bytes and returns the path and
// their sha256.
func writeRandom(t *testing.T, dir string, name string, n int64, seed uint64) (string, string) {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	src := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 7})
	if _, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(src, n)); err != nil {
		t.Fatal(err)
	}
	return p, hex.EncodeToString(h.Sum(nil))
}

// mediaSHA256 GETs /m/{id} and returns the status and the body's sha256.
func mediaSHA256(t *testing.T, base, id string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/m/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		t.Fatalf("GET /m/%s: %v", id, err)
	}
	return resp.StatusCode, hex.EncodeToString(h.Sum(nil))
}

// cutProxy is a loopback TCP proxy that cuts one connection (both sides)
// once cutAfter bytes went from client to server on it, then passes
// everything through.
type cutProxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex // guards armed, cuts
	armed    bool
	cutAfter int64
	cuts     int
}

func newCutProxy(t *testing.T, upstream string, cutAfter int64) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, upstream: upstream, armed: true, cutAfter: cutAfter}
	go p.serve()
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) cutCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *cutProxy) handle(client net.Conn) {
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		client.Close()
		return
	}
	var once sync.Once
	closeBoth := func() { once.Do(func() { client.Close(); server.Close() }) }
	defer closeBoth()
	go func() {
		_, _ = io.Copy(client, server)
		closeBoth()
	}()
	buf := make([]byte, 32<<10)
	var sent int64
	for {
		n, err := client.Read(buf)
		if n > 0 {
			sent += int64(n)
			p.mu.Lock()
			cut := p.armed && sent >= p.cutAfter
			if cut {
				p.armed = false
				p.cuts++
			}
			p.mu.Unlock()
			if cut {
				// Forward part of this read, then drop both sides mid-request.
				_, _ = server.Write(buf[:n/2])
				if tc, ok := client.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // RST, as a dropped mobile link looks
				}
				return
			}
			if _, werr := server.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// nodeRun runs client.js with opts and returns its JSON result line.
func nodeRun(t *testing.T, ctx context.Context, opts string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "node", "client.js", opts)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("node client.js: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(stdout.String()), nil
}

var npmOnce sync.Once

// needNode makes sure node and tus-js-client are there: outside CI a
// missing node skips; a missing node_modules is installed with npm ci.
func needNode(t *testing.T) {
	t.Helper()
	testenv.Tool(t, "node")
	var npmErr error
	npmOnce.Do(func() {
		if _, err := os.Stat("node_modules/tus-js-client/package.json"); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		if out, err := cmd.CombinedOutput(); err != nil {
			npmErr = fmt.Errorf("npm ci: %v\n%s", err, out)
		}
	})
	if npmErr != nil {
		t.Fatal(npmErr)
	}
	if _, err := os.Stat("node_modules/tus-js-client/package.json"); err != nil {
		t.Fatal("tus-js-client is not installed in e2e/tus/node_modules")
	}
}
