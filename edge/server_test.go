package edge_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/edge"
	"github.com/mediaedge/mediaedge/tus"
)

func TestConfigValidate(t *testing.T) {
	if err := edge.DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	bad := edge.Config{Listen: "nope", MetricsListen: "also nope", UploadTokens: []string{"short"},
		SendTimeout: -1, PublicURL: "ftp://x"}
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	// Every problem at once, each named by its flag.
	for _, want := range []string{"listen", "metrics-listen", "max-upload-size", "upload-token #1",
		"read-header-timeout", "idle-timeout", "body-read-timeout", "shutdown-timeout", "send-timeout", "public-url"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestConfigUnspecifiedListenNeedsPublicURL: a listener on every
// interface without a public URL is refused, naming public-url, instead of
// handing out http://0.0.0.0:8080 media URLs; loopback and a given public
// URL are fine.
func TestConfigUnspecifiedListenNeedsPublicURL(t *testing.T) {
	for _, tc := range []struct {
		listen, public string
		ok             bool
	}{
		{"0.0.0.0:8080", "", false},
		{"[::]:8080", "", false},
		{":8080", "", false},
		{"0.0.0.0:8080", "https://media.example.com", true},
		{"[::]:8080", "http://edge1.example:8080/", true},
		{"127.0.0.1:0", "", true},
		{"localhost:8080", "", true},
		{"10.1.2.3:8080", "", true},
	} {
		cfg := edge.DefaultConfig()
		cfg.Listen, cfg.PublicURL = tc.listen, tc.public
		err := cfg.Validate()
		if tc.ok != (err == nil) {
			t.Errorf("listen %q public-url %q: %v", tc.listen, tc.public, err)
			continue
		}
		if err != nil && !strings.Contains(err.Error(), "public-url: required when listen "+tc.listen) {
			t.Errorf("listen %q: the error does not name public-url: %v", tc.listen, err)
		}
	}
	// New refuses it too (it validates), so a library user cannot end up
	// with 0.0.0.0 URLs either.
	cfg := edge.DefaultConfig()
	cfg.Listen = "0.0.0.0:8080"
	if _, err := edge.New(cfg, edge.Deps{Store: newEnv(t, false).store}); err == nil {
		t.Fatal("edge.New accepted listen 0.0.0.0 with no public URL")
	}
}

// TestTokenOwnerSurvivesReorder: an upload's owner is its token's
// identity, not the token's place in --upload-token. After a restart with
// the tokens in another order, the upload is still its token's (HEAD 200)
// and the other token, now first in the list, gets 403; the owner stored
// in the row is not the token.
func TestTokenOwnerSurvivesReorder(t *testing.T) {
	const tokA, tokB = "token-a-0123456789abcdef", "token-b-0123456789abcdef"
	e := newEnv(t, false) // for its store, shared by both "processes"
	start := func(tokens ...string) *httptest.Server {
		var srv *edge.Server
		tcfg := tus.DefaultConfig()
		tcfg.Authorize = func(r *http.Request) (string, error) { return srv.Authorize(r) }
		tcfg.Owns = func(stored, requester string) bool { return srv.Owns(stored, requester) }
		h, err := tus.New(e.store, tcfg)
		if err != nil {
			t.Fatal(err)
		}
		ecfg := edge.DefaultConfig()
		ecfg.UploadTokens = tokens
		if srv, err = edge.New(ecfg, edge.Deps{Store: e.store, Uploads: h}); err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv.Handler())
		t.Cleanup(ts.Close)
		return ts
	}
	tusHdr := func(tok string) map[string]string {
		return map[string]string{"Tus-Resumable": "1.0.0", "Authorization": "Bearer " + tok}
	}

	before := start(tokA, tokB)
	hdr := tusHdr(tokA)
	hdr["Upload-Length"] = "1000"
	resp, body := do(t, "POST", before.URL+"/files/", hdr, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("tus creation: %d %s", resp.StatusCode, body)
	}
	id := path.Base(resp.Header.Get("Location"))
	before.Close()

	after := start(tokB, tokA)
	if resp, body := do(t, "HEAD", after.URL+"/files/"+id, tusHdr(tokA), nil); resp.StatusCode != 200 {
		t.Fatalf("HEAD with the upload's own token after reordering: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "HEAD", after.URL+"/files/"+id, tusHdr(tokB), nil); resp.StatusCode != 403 {
		t.Fatalf("HEAD with another token after reordering: %d, want 403", resp.StatusCode)
	}
	// A third token added in front takes nothing either.
	third := start("token-c-0123456789abcdef", tokA)
	if resp, _ := do(t, "HEAD", third.URL+"/files/"+id, tusHdr("token-c-0123456789abcdef"), nil); resp.StatusCode != 403 {
		t.Fatalf("HEAD with a new token in the first place: %d, want 403", resp.StatusCode)
	}

	owner := edge.TokenOwner(tokA)
	if !strings.HasPrefix(owner, "token:") || len(owner) != len("token:")+16 || strings.Contains(owner, tokA) || owner == edge.TokenOwner(tokB) {
		t.Fatalf("TokenOwner(A) = %q", owner)
	}
	// What a one-shot upload records is the same owner.
	resp, body = do(t, "POST", start(tokB, tokA).URL+"/upload", map[string]string{"Authorization": "Bearer " + tokA}, bytes.NewReader([]byte("hello")))
	if resp.StatusCode != 201 {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	var out struct{ ID string }
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	if info, err := e.store.Stat(context.Background(), out.ID); err != nil || info.Owner != owner {
		t.Fatalf("stored owner %q (%v), want %q", info.Owner, err, owner)
	}

	// An upload begun by the version that recorded the token's position
	// ("token1" for the first) stays resumable by that token after the
	// upgrade, and no other token takes it.
	legacy, err := e.store.CreateUpload(context.Background(), chunkstore.UploadInfo{Length: 10, Owner: "token1"})
	if err != nil {
		t.Fatal(err)
	}
	upgraded := start(tokA, tokB)
	if resp, body := do(t, "HEAD", upgraded.URL+"/files/"+legacy.ID, tusHdr(tokA), nil); resp.StatusCode != 200 {
		t.Fatalf("HEAD of a pre-upgrade upload with its token: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "HEAD", upgraded.URL+"/files/"+legacy.ID, tusHdr(tokB), nil); resp.StatusCode != 403 {
		t.Fatalf("HEAD of a pre-upgrade upload with another token: %d, want 403", resp.StatusCode)
	}
}

func TestReadyzFails(t *testing.T) {
	down := errors.New("disk gone")
	var healthy atomic.Bool
	healthy.Store(true)
	e := newEnv(t, false, func(_ *edge.Config, d *edge.Deps) {
		d.Ready = append(d.Ready, func(context.Context) error {
			if healthy.Load() {
				return nil
			}
			return down
		})
	})
	if resp, _ := do(t, "GET", e.ts.URL+"/readyz", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("readyz while healthy: %d", resp.StatusCode)
	}
	healthy.Store(false)
	resp, body := do(t, "GET", e.ts.URL+"/readyz", nil, nil)
	if resp.StatusCode != 503 || !strings.Contains(string(body), `"not_ready"`) || strings.Contains(string(body), "disk gone") {
		t.Fatalf("readyz with a failed check: %d %s (the cause must stay in the log)", resp.StatusCode, body)
	}
	// Liveness does not depend on readiness.
	if resp, _ := do(t, "GET", e.ts.URL+"/healthz", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
}

func TestHeadUnknownID(t *testing.T) {
	e := newEnv(t, false)
	resp, body := do(t, "HEAD", e.ts.URL+"/m/"+chunkstore.NewID(), nil, nil)
	if resp.StatusCode != 404 || len(body) != 0 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("HEAD unknown: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp.Header.Get("Cache-Control") == "public, max-age=31536000, immutable" {
		t.Fatal("a 404 must not be cached forever: the id may be an upload still in progress")
	}
}

// TestTusMount drives a whole tus upload through the edge: the handler is
// mounted at /files/, asks the edge's Authorize for the owner, and reports
// to the metrics the edge serves.
func TestTusMount(t *testing.T) {
	var srv *edge.Server
	e := newEnv(t, false) // for its store
	reg := prometheus.NewRegistry()
	m, err := edge.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	tcfg := tus.DefaultConfig()
	tcfg.Authorize = func(r *http.Request) (string, error) { return srv.Authorize(r) }
	tcfg.Metrics = m
	h, err := tus.New(e.store, tcfg)
	if err != nil {
		t.Fatal(err)
	}
	ecfg := edge.DefaultConfig()
	ecfg.UploadTokens = []string{token}
	if srv, err = edge.New(ecfg, edge.Deps{Store: e.store, Uploads: h, Registry: reg, Metrics: m}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	data := randBytes(300<<10, 9)
	hdr := map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": strconv.Itoa(len(data))}
	if resp, body := do(t, "POST", ts.URL+"/files/", hdr, nil); resp.StatusCode != 401 {
		t.Fatalf("tus creation without a token: %d %s", resp.StatusCode, body)
	}
	hdr["Authorization"] = "Bearer " + token
	resp, body := do(t, "POST", ts.URL+"/files/", hdr, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("tus creation: %d %s", resp.StatusCode, body)
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	resp, body = do(t, "PATCH", loc.String(), map[string]string{"Tus-Resumable": "1.0.0", "Authorization": "Bearer " + token,
		"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, bytes.NewReader(data))
	if resp.StatusCode != 204 {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	id := path.Base(loc.Path)
	if resp, back := do(t, "GET", ts.URL+"/m/"+id, nil, nil); resp.StatusCode != 200 || !bytes.Equal(back, data) {
		t.Fatalf("GET the finished upload: %d, %d bytes", resp.StatusCode, len(back))
	}
	_, metricsText := do(t, "GET", ts.URL+"/metrics", nil, nil)
	for _, want := range []string{
		`mediaedge_uploads_total{event="started"} 1`,
		`mediaedge_uploads_total{event="finished"} 1`,
		"mediaedge_upload_bytes_total " + strconv.Itoa(len(data)),
		`mediaedge_http_requests_total{route="/files/",status="204"} 1`,
	} {
		if !strings.Contains(string(metricsText), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestSendTimeout: a client that asks for a large original and then reads
// nothing is cut once it has taken no bytes for SendTimeout, from the store
// and from a cache file (the sendfile path) alike; the request then ends and
// is counted.
func TestSendTimeout(t *testing.T) {
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cached), func(t *testing.T) {
			e := newEnv(t, cached, func(c *edge.Config, _ *edge.Deps) { c.SendTimeout = 300 * time.Millisecond })
			// Larger than the loopback socket buffers of both ends together.
			info := e.put(t, randBytes(48<<20, 3))
			conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "GET /m/%s HTTP/1.1\r\nHost: x\r\n\r\n", info.ID)
			// Read the status line only, then stall.
			status, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil || !strings.Contains(status, "200") {
				t.Fatalf("status line %q: %v", status, err)
			}
			want := `mediaedge_http_requests_total{route="GET /m/{id}",status="200"} 1`
			deadline := time.Now().Add(20 * time.Second)
			for {
				_, body := do(t, "GET", e.ts.URL+"/metrics", nil, nil)
				if strings.Contains(string(body), want) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the stalled response was never cut")
				}
				time.Sleep(20 * time.Millisecond) // polling, with a deadline
			}
		})
	}
}

// TestRunShutdown: Run serves on its listener and /metrics on its own
// listener; cancelling its context lets an in-flight download finish whole
// before Run returns.
func TestRunShutdown(t *testing.T) {
	e := newEnv(t, false)
	data := randBytes(8<<20, 4)
	info := e.put(t, data)

	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	maddr := mln.Addr().String()
	mln.Close() // Run opens it again; a port taken meanwhile fails Run, not the assertions
	cfg := edge.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.MetricsListen = maddr
	srv, err := edge.New(cfg, edge.Deps{Store: e.store})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	ready := make(chan string, 1)
	go func() { done <- srv.Run(ctx, ln, func(addr string) { ready <- addr }) }()
	base := "http://" + <-ready
	if got := srv.MediaURL(info.ID); got != base+"/m/"+info.ID {
		t.Errorf("MediaURL %q: the default public URL names the bound port", got)
	}
	if resp, _ := do(t, "GET", base+"/metrics", nil, nil); resp.StatusCode != 404 {
		t.Errorf("/metrics on the public listener with --metrics-listen set: %d", resp.StatusCode)
	}
	var resp *http.Response
	deadline := time.Now().Add(10 * time.Second)
	for { // the metrics listener starts with Run; poll until it answers
		resp, err = http.Get("http://" + maddr + "/metrics")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	mtext, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(mtext), "mediaedge_http_requests_total") {
		t.Errorf("metrics listener: %d %.200s", resp.StatusCode, mtext)
	}

	resp, err = http.Get(base + "/m/" + info.ID)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 1<<10)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	cancel() // shut down with the download in flight
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(append(head, rest...), data) {
		t.Fatalf("download cut by the shutdown: %d bytes, %v", len(head)+len(rest), err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(cfg.ShutdownTimeout):
		t.Fatal("Run did not return after the download ended")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the listener still answers after shutdown")
	}
}

// TestLargeOriginalHeapBounded serves a 1 GiB original from the chunks and
// checks that the heap does not grow with the file: the chunk reader holds a
// few chunks, ServeContent streams.
func TestLargeOriginalHeapBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads 1 GiB; skipped with -short")
	}
	const size = 1 << 30
	e := newEnv(t, false)
	info, err := e.store.Put(context.Background(), newGen(size), chunkstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	base := heapBytes()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if h := heapBytes(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	resp, err := http.Get(e.ts.URL + "/m/" + info.ID)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	close(stop)
	<-sampled
	if err != nil || n != size || !bytes.Equal(h.Sum(nil), info.SHA256) {
		t.Fatalf("download: %d bytes, %v, hash match %v", n, err, bytes.Equal(h.Sum(nil), info.SHA256))
	}
	growth := int64(peak.Load()) - int64(base)
	t.Logf("heap: %d MiB before, peak %d MiB while serving 1 GiB", base>>20, peak.Load()>>20)
	if growth > 64<<20 {
		t.Fatalf("heap grew by %d MiB while serving a 1 GiB original", growth>>20)
	}
}

// heapBytes reads the live heap without stopping the world.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// genReader yields n pseudo-random bytes without holding them.
type genReader struct {
	block  []byte
	n, off int64
}

func newGen(n int64) *genReader { return &genReader{block: randBytes(1<<20, 7), n: n} }

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.n-g.off)]
	done := 0
	for done < len(p) {
		i := (g.off + int64(done)) % int64(len(g.block))
		done += copy(p[done:], g.block[i:])
	}
	// Stamp each MiB so chunks differ (no accidental dedup hides a bug).
	if g.off%int64(len(g.block)) == 0 && len(p) >= 8 {
		binary.LittleEndian.PutUint64(p, uint64(g.off))
	}
	g.off += int64(len(p))
	return len(p), nil
}

// TestUploadBodyStall: a one-shot upload whose body stops arriving is cut
// after BodyReadTimeout, answered with a JSON error, and stores nothing.
func TestUploadBodyStall(t *testing.T) {
	e := newEnv(t, false, func(c *edge.Config, _ *edge.Deps) { c.BodyReadTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 100000\r\n\r\n0123456789", token)
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // a bound for the test, not a timing assertion
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled upload: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 408 || !strings.Contains(string(body), `"body_read_timeout"`) {
		t.Fatalf("stalled upload: %d %s", resp.StatusCode, body)
	}
	_, mtext := do(t, "GET", e.ts.URL+"/metrics", nil, nil)
	if !strings.Contains(string(mtext), `mediaedge_uploads_total{event="finished"} 0`) {
		t.Error("a cut upload was counted as finished")
	}
}

// downStore is a store whose database stopped answering after a file was
// stored: every call fails as a driver fails when no node answers.
type downStore struct {
	edge.Store
	down atomic.Bool
}

var errNoHosts = errors.New("gocql: no hosts available in the pool")

func (d *downStore) Stat(ctx context.Context, id string) (chunkstore.FileInfo, error) {
	if d.down.Load() {
		return chunkstore.FileInfo{}, errNoHosts
	}
	return d.Store.Stat(ctx, id)
}

func (d *downStore) Open(ctx context.Context, id string) (*chunkstore.Reader, error) {
	if d.down.Load() {
		return nil, errNoHosts
	}
	return d.Store.Open(ctx, id)
}

// TestStoreDownIs503: with the store down, every media route answers 503
// with Retry-After (a client or balancer retries it), never a 500, and the
// driver's message stays in the log.
func TestStoreDownIs503(t *testing.T) {
	ds := &downStore{}
	e := newEnv(t, true, func(c *edge.Config, d *edge.Deps) {
		c.StatCacheTTL = 0
		ds.Store = d.Store
		d.Store = ds
	})
	info := e.put(t, randBytes(1000, 3))
	ds.down.Store(true)
	for _, path := range []string{"/m/" + info.ID, "/m/" + info.ID + "/info"} {
		resp, body := do(t, "GET", e.ts.URL+path, nil, nil)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "store_unavailable") || strings.Contains(string(body), "gocql") {
			t.Errorf("GET %s with the store down: %d Retry-After=%q %s", path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
}
