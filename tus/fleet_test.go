package tus

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/chunkstore/cassandra"
	"github.com/mediaedge/mediaedge/chunkstore/embedded"
	"github.com/mediaedge/mediaedge/internal/cassandratest"
)

// edge is one "server" of a fleet test: its own Store (so its own
// in-process guards) and its own tus handler, over a database it shares
// with the other edges, plus the two media routes the test reads back
// through: GET /m/{id} (bytes, with a strong ETag from the content hash)
// and GET /m/{id}/info (JSON with the sha256), as the edge serves them.
type edge struct {
	store *chunkstore.Store
	h     *Handler
	srv   *httptest.Server
}

func newEdge(t *testing.T, b chunkstore.Backend) *edge { return newEdgeWith(t, b, 0) }

// newEdgeWith is newEdge with the store's LeaseTTL (0: the default).
func newEdgeWith(t *testing.T, b chunkstore.Backend, leaseTTL time.Duration) *edge {
	t.Helper()
	cfg := chunkstore.DefaultConfig()
	cfg.ChunkSize = testChunkSize
	if leaseTTL > 0 {
		cfg.LeaseTTL = leaseTTL
	}
	st, err := chunkstore.New(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tcfg := DefaultConfig()
	tcfg.Authorize = authorize
	h, err := New(st, tcfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &edge{store: st, h: h}
	mux := http.NewServeMux()
	mux.Handle("/files/", h)
	mux.HandleFunc("GET /m/{id}", e.media)
	mux.HandleFunc("GET /m/{id}/info", e.info)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *edge) media(w http.ResponseWriter, r *http.Request) {
	rd, err := e.store.Open(r.Context(), r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	defer rd.Close()
	w.Header().Set("ETag", `"`+hex.EncodeToString(rd.Info().SHA256)+`"`)
	http.ServeContent(w, r, "", rd.Info().CreatedAt, rd)
}

func (e *edge) info(w http.ResponseWriter, r *http.Request) {
	f, err := e.store.Stat(r.Context(), r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"size": f.Size, "sha256": hex.EncodeToString(f.SHA256)})
}

// startGate lets several requests' bodies go at once: each body blocks in
// its first Read until every one of them has been asked for bytes (so
// every request is on the wire) and then streams.
type startGate struct {
	wg  sync.WaitGroup
	all chan struct{}
}

func newStartGate(n int) *startGate {
	g := &startGate{all: make(chan struct{})}
	g.wg.Add(n)
	go func() { g.wg.Wait(); close(g.all) }()
	return g
}

type gatedBody struct {
	g    *startGate
	r    io.Reader
	once sync.Once
}

func (b *gatedBody) Read(p []byte) (int, error) {
	b.once.Do(func() {
		b.g.wg.Done()
		select {
		case <-b.g.all:
		case <-time.After(10 * time.Second): // the other request failed before its body: go alone
		}
	})
	return b.r.Read(p)
}

type patchResult struct {
	status int
	offset string
	media  string
	retry  string
	err    error
}

// racePatches sends one PATCH at offset 0 per body, each to its edge, at the
// same moment.
func racePatches(t *testing.T, urls []string, bodies [][]byte) []patchResult {
	t.Helper()
	g := newStartGate(len(bodies))
	out := make([]patchResult, len(bodies))
	var wg sync.WaitGroup
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("PATCH", urls[i], &gatedBody{g: g, r: bytes.NewReader(bodies[i])})
			req.ContentLength = int64(len(bodies[i]))
			req.Header.Set("Tus-Resumable", "1.0.0")
			req.Header.Set("Authorization", "Bearer good")
			req.Header.Set("Content-Type", contentTypeChunk)
			req.Header.Set("Upload-Offset", "0")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				out[i].err = err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			out[i] = patchResult{status: resp.StatusCode, offset: resp.Header.Get("Upload-Offset"),
				media: resp.Header.Get(HeaderMediaID), retry: resp.Header.Get("Retry-After")}
		}()
	}
	wg.Wait()
	return out
}

func getBody(t *testing.T, url string) (int, []byte, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, b, resp.Header
}

// raceTrials runs trials of: create an upload of 4 chunks on the first
// edge, PATCH it at offset 0 from every edge at once with different bytes,
// then check exactly one PATCH got 204 (the others 409 or 423, never a
// dropped connection), and that the bytes served by every edge, their ETag,
// the sha256 in /info and the winner's bytes all agree.
func raceTrials(t *testing.T, edges []*edge, trials int) {
	const size = 4 * testChunkSize
	wins := make([]int, len(edges))
	losers := map[int]int{}
	for trial := 0; trial < trials; trial++ {
		resp := send(t, "POST", edges[0].srv.URL+"/files/", map[string]string{"Upload-Length": strconv.Itoa(size)}, nil)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d", resp.StatusCode)
		}
		id := resp.Header.Get("Location")[strings.LastIndex(resp.Header.Get("Location"), "/")+1:]
		urls := make([]string, len(edges))
		bodies := make([][]byte, len(edges))
		for i, e := range edges {
			urls[i] = e.srv.URL + "/files/" + id
			bodies[i] = make([]byte, size)
			_, _ = rand.Read(bodies[i])
		}
		res := racePatches(t, urls, bodies)
		winner := -1
		for i, r := range res {
			switch {
			case r.err != nil:
				t.Fatalf("trial %d: PATCH to edge %d: %v", trial, i, r.err)
			case r.status == http.StatusNoContent:
				if winner >= 0 {
					t.Fatalf("trial %d: two PATCHes at offset 0 got 204: %+v", trial, res)
				}
				if r.offset != strconv.Itoa(size) || r.media != id {
					t.Fatalf("trial %d: the 204 says offset %q media %q", trial, r.offset, r.media)
				}
				winner = i
			case r.status == http.StatusConflict:
				losers[r.status]++
			case r.status == http.StatusLocked:
				if r.retry == "" {
					t.Fatalf("trial %d: 423 without Retry-After", trial)
				}
				losers[r.status]++
			default:
				t.Fatalf("trial %d: edge %d answered %d, want 204, 409 or 423: %+v", trial, i, r.status, res)
			}
		}
		if winner < 0 {
			t.Fatalf("trial %d: no PATCH succeeded: %+v", trial, res)
		}
		wins[winner]++
		want := sha256.Sum256(bodies[winner])
		wantHex := hex.EncodeToString(want[:])
		for i, e := range edges {
			code, body, hdr := getBody(t, e.srv.URL+"/m/"+id)
			got := sha256.Sum256(body)
			if code != http.StatusOK || !bytes.Equal(body, bodies[winner]) {
				t.Fatalf("trial %d: edge %d serves %d, %d bytes, sha256 %x; the winner (edge %d) sent %s",
					trial, i, code, len(body), got, winner, wantHex)
			}
			if etag := hdr.Get("ETag"); etag != `"`+wantHex+`"` {
				t.Fatalf("trial %d: edge %d ETag %s, want the winner's sha256 %s", trial, i, etag, wantHex)
			}
			_, raw, _ := getBody(t, e.srv.URL+"/m/"+id+"/info")
			var info struct{ SHA256 string }
			if err := json.Unmarshal(raw, &info); err != nil || info.SHA256 != wantHex {
				t.Fatalf("trial %d: edge %d info %s, want sha256 %s", trial, i, raw, wantHex)
			}
			if h := send(t, "HEAD", e.srv.URL+"/files/"+id, nil, nil); h.Header.Get("Upload-Offset") != strconv.Itoa(size) {
				t.Fatalf("trial %d: edge %d HEAD offset %q", trial, i, h.Header.Get("Upload-Offset"))
			}
		}
	}
	t.Logf("%d trials: wins per edge %v, losers by status %v", trials, wins, losers)
}

// TestTwoEdgesRacePatches is the fleet bug (#"Two edges can corrupt an
// upload"): two edges on one database, a PATCH at offset 0 to each at the
// same moment with different bytes. Embedded: two Stores and handlers over
// one Pebble backend. Cassandra: two backends (sessions) on one keyspace.
func TestTwoEdgesRacePatches(t *testing.T) {
	trials := 20
	if testing.Short() {
		trials = 5
	}
	t.Run("embedded", func(t *testing.T) {
		b, err := embedded.Open(embedded.Config{Dir: t.TempDir(), ChunkSize: testChunkSize})
		if err != nil {
			t.Fatal(err)
		}
		edges := []*edge{newEdge(t, b), newEdge(t, b)}
		t.Cleanup(func() { edges[1].store.Close(); edges[0].store.Close() })
		raceTrials(t, edges, trials)
	})
	t.Run("one edge", func(t *testing.T) {
		// The same race inside one process: the handler's own lock answers.
		b, err := embedded.Open(embedded.Config{Dir: t.TempDir(), ChunkSize: testChunkSize})
		if err != nil {
			t.Fatal(err)
		}
		e := newEdge(t, b)
		t.Cleanup(func() { e.store.Close() })
		raceTrials(t, []*edge{e, e}, trials)
	})
	t.Run("cassandra", func(t *testing.T) {
		hosts := cassandratest.Hosts(t)
		ks := cassandratest.Keyspace(t, hosts)
		var edges []*edge
		for range 2 {
			cfg := cassandra.DefaultConfig()
			cfg.Hosts, cfg.Keyspace = hosts, ks
			b, err := cassandra.Open(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			e := newEdge(t, b)
			t.Cleanup(func() { e.store.Close() })
			edges = append(edges, e)
		}
		raceTrials(t, edges, trials)
	})
}

// TestResumeOnAnotherEdge: a client's PATCH to edge A hangs (its connection
// died, as far as the client knows) and the client comes back through edge
// B. B's HEAD asks A's PATCH to stop: it ends well before its body read
// timeout, keeps what it got and answers 409 upload_interrupted; the
// client, going by HEAD, 409 and 423 as tus clients do, finishes on B and
// the file is its bytes.
func TestResumeOnAnotherEdge(t *testing.T) {
	const leaseTTL = 600 * time.Millisecond
	run := func(t *testing.T, a, b *edge) {
		data := make([]byte, 1000)
		_, _ = rand.Read(data)
		resp := send(t, "POST", a.srv.URL+"/files/", map[string]string{"Upload-Length": "1000"}, nil)
		id := resp.Header.Get("Location")[strings.LastIndex(resp.Header.Get("Location"), "/")+1:]
		pr, pw := io.Pipe()
		t.Cleanup(func() { pw.Close() })
		stale := make(chan *http.Response, 1)
		go func() {
			req, _ := http.NewRequest("PATCH", a.srv.URL+"/files/"+id, pr)
			req.ContentLength = int64(len(data))
			for k, v := range chunkHeaders(0, "Tus-Resumable", "1.0.0", "Authorization", "Bearer good") {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				stale <- nil
				return
			}
			resp.Body.Close()
			stale <- resp
		}()
		if _, err := pw.Write(data[:400]); err != nil {
			t.Fatal(err)
		}
		// A holds the upload once its lease is in the row.
		deadline := time.Now().Add(10 * time.Second)
		for {
			u, err := a.store.GetUpload(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if u.Lease.Holder != "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("edge A never took the upload")
			}
			time.Sleep(5 * time.Millisecond) // polling the row
		}
		asked := time.Now()
		var patches []int
		for attempt := 0; ; attempt++ {
			if attempt == 30 {
				t.Fatalf("no 204 after 30 attempts: %v", patches)
			}
			h := send(t, "HEAD", b.srv.URL+"/files/"+id, nil, nil)
			off, err := strconv.Atoi(h.Header.Get("Upload-Offset"))
			if h.StatusCode != http.StatusOK || err != nil {
				t.Fatalf("HEAD on B: %d %q", h.StatusCode, h.Header.Get("Upload-Offset"))
			}
			r := send(t, "PATCH", b.srv.URL+"/files/"+id, chunkHeaders(int64(off)), bytes.NewReader(data[off:]))
			patches = append(patches, r.StatusCode)
			if r.StatusCode == http.StatusNoContent {
				break
			}
			if r.StatusCode != http.StatusLocked && r.StatusCode != http.StatusConflict {
				t.Fatalf("PATCH on B: %d", r.StatusCode)
			}
			if r.StatusCode == http.StatusLocked {
				time.Sleep(leaseTTL / 4) // a test's Retry-After: the real one is whole seconds
			}
		}
		var r *http.Response
		select {
		case r = <-stale:
		case <-time.After(10 * time.Second):
			t.Fatal("the stale PATCH on A did not end")
		}
		if r == nil || r.StatusCode != http.StatusConflict {
			t.Fatalf("the stale PATCH on A answered %+v, want 409 upload_interrupted", r)
		}
		if took := time.Since(asked); took > 10*time.Second {
			t.Errorf("the resume took %s", took)
		}
		code, body, _ := getBody(t, b.srv.URL+"/m/"+id)
		if code != http.StatusOK || !bytes.Equal(body, data) {
			t.Fatalf("edge B serves %d, %d bytes that differ from the upload", code, len(body))
		}
		t.Logf("A kept %s bytes; B's PATCHes answered %v", r.Header.Get("Upload-Offset"), patches)
	}
	t.Run("embedded", func(t *testing.T) {
		be, err := embedded.Open(embedded.Config{Dir: t.TempDir(), ChunkSize: testChunkSize})
		if err != nil {
			t.Fatal(err)
		}
		a, b := newEdgeWith(t, be, leaseTTL), newEdgeWith(t, be, leaseTTL)
		t.Cleanup(func() { b.store.Close(); a.store.Close() })
		run(t, a, b)
	})
	t.Run("cassandra", func(t *testing.T) {
		hosts := cassandratest.Hosts(t)
		ks := cassandratest.Keyspace(t, hosts)
		var edges []*edge
		for range 2 {
			cfg := cassandra.DefaultConfig()
			cfg.Hosts, cfg.Keyspace = hosts, ks
			be, err := cassandra.Open(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			e := newEdgeWith(t, be, leaseTTL)
			t.Cleanup(func() { e.store.Close() })
			edges = append(edges, e)
		}
		run(t, edges[0], edges[1])
	})
}
