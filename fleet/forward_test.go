package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// edge is a test HTTP server wired as edge.Server is: a forwarded request
// (one Inbound verifies) is served here; any other is routed by its path
// (the cache key) and forwarded, or served here when the walk reaches this
// edge.
type edge struct {
	srv    *httptest.Server
	fleet  atomic.Pointer[Fleet]
	served atomic.Int64 // requests answered here
	seen   sync.Map     // header name -> last value, of forwarded requests
}

func newEdge(t *testing.T) *edge {
	e := &edge{}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serveHTTP))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *edge) serveHTTP(w http.ResponseWriter, r *http.Request) {
	f := e.fleet.Load()
	if f.Inbound(r) {
		for _, h := range []string{HopHeader, FillHeader, "X-Forwarded-For", "X-Private", "X-Kept", "Connection"} {
			e.seen.Store(h, r.Header.Get(h))
		}
		e.seen.Store("host", r.Host)
		e.seen.Store("uri", r.URL.RequestURI())
		e.serveHere(w, r, f)
		return
	}
	cands, _, _ := f.Candidates(r.URL.Path)
	resp, _, err := f.ForwardRanked(r.Context(), cands, r)
	switch {
	case errors.Is(err, ErrLocal):
		e.serveHere(w, r, f)
	case err != nil:
		http.Error(w, "bad gateway", http.StatusBadGateway)
	default:
		defer resp.Body.Close()
		w.Header().Set("X-Served-By", resp.Header.Get("X-Served-By"))
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}
}

func (e *edge) serveHere(w http.ResponseWriter, r *http.Request, f *Fleet) {
	done := f.Begin()
	defer done()
	e.served.Add(1)
	w.Header().Set("X-Served-By", f.Name())
	fmt.Fprintf(w, "%s from %s", r.URL.Path, f.Name())
}

// startEdges starts n edges, each with its fleet member.
func startEdges(t *testing.T, n int) ([]*edge, []*Fleet) {
	return startEdgesWith(t, n, nil)
}

// startEdgesWith is startEdges with each member's config adjusted by opt.
func startEdgesWith(t *testing.T, n int, opt func(*Config)) ([]*edge, []*Fleet) {
	es := make([]*edge, n)
	for i := range es {
		es[i] = newEdge(t)
	}
	fs := startFleetWith(t, n, func(i int) string { return es[i].srv.URL }, opt)
	for i := range es {
		es[i].fleet.Store(fs[i])
	}
	return es, fs
}

func testClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestEveryEdgeServesFromTheOwner(t *testing.T) {
	es, fs := startEdges(t, 3)
	c := testClient(t)
	for _, k := range keys(300) {
		owner := fs[0].Owner("/" + k).Name
		for range 3 {
			e := es[rand.IntN(len(es))]
			resp, err := c.Get(e.srv.URL + "/" + k)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("X-Served-By") != owner {
				t.Fatalf("%s: %d from %q, want the owner %s", k, resp.StatusCode, resp.Header.Get("X-Served-By"), owner)
			}
		}
	}
	var forwards, served uint64
	for i, f := range fs {
		st := f.Stats()
		forwards += st.OK
		served += uint64(es[i].served.Load())
		if st.Unreachable+st.Errors+st.Loops != 0 {
			t.Errorf("edge-%d: %+v", i, st)
		}
	}
	if served != 900 {
		t.Fatalf("%d requests served, want 900", served)
	}
	t.Logf("900 requests, %d forwarded (about 2/3 expected)", forwards)
}

func TestForwardSetsTheHopHeader(t *testing.T) {
	es, fs := startEdges(t, 2)
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mediaedge_fleet_forwards_total"}, []string{"result"})
	fs[0].cfg.Forwards = vec // as if configured at Join

	in := httptest.NewRequest(http.MethodGet, "http://public.example/m/abc?w=100&fmt=webp", nil)
	in.RemoteAddr = "203.0.113.7:5555"
	in.Header.Set("X-Forwarded-For", "198.51.100.1")
	in.Header.Set("Connection", "X-Private")
	in.Header.Set("X-Private", "for the first hop only")
	in.Header.Set("X-Kept", "yes")
	resp, err := fs[0].Forward(context.Background(), fs[0].Members()[1], in)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "/m/abc from edge-1" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	want := map[string]string{
		HopHeader: "edge-0", "X-Forwarded-For": "198.51.100.1, 203.0.113.7", "X-Private": "", "Connection": "",
		"X-Kept": "yes", "host": "public.example", "uri": "/m/abc?w=100&fmt=webp",
	}
	for h, v := range want {
		if got, _ := es[1].seen.Load(h); got != v {
			t.Errorf("the owner saw %s = %q, want %q", h, got, v)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(vec)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got = append(got, fmt.Sprintf("%s{%s=%s} %v", mf.GetName(), m.GetLabel()[0].GetName(), m.GetLabel()[0].GetValue(), m.GetCounter().GetValue()))
		}
	}
	if want := "mediaedge_fleet_forwards_total{result=ok} 1"; len(got) != 1 || got[0] != want {
		t.Errorf("metrics %q, want %q", got, want)
	}
}

// TestForwardThroughAPathStrippingProxy: an edge whose --fleet-http has a
// path is reached through a proxy that strips it; the forward's signature
// covers the URI that edge sees, so it is taken for a forward.
func TestForwardThroughAPathStrippingProxy(t *testing.T) {
	es, fs := startEdges(t, 2)
	proxy := httptest.NewServer(http.StripPrefix("/edge1", httputil.NewSingleHostReverseProxy(mustURL(t, es[1].srv.URL))))
	t.Cleanup(proxy.Close)
	target := fs[0].Members()[1]
	target.HTTPAddr = proxy.URL + "/edge1"
	resp, err := fs[0].Forward(context.Background(), target, httptest.NewRequest(http.MethodGet, "/m/abc?w=100", nil))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "/m/abc from edge-1" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if got, _ := es[1].seen.Load(HopHeader); got != "edge-0" {
		t.Fatalf("the owner saw hop %q: the forward was not taken for one", got)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestForwardedRequestIsNeverForwardedAgain(t *testing.T) {
	es, fs := startEdges(t, 2)
	in := httptest.NewRequest(http.MethodGet, "/m/abc", nil)
	in.Header.Set(HopHeader, "edge-1")
	if !IsForwarded(in) || ForwardedBy(in) != "edge-1" {
		t.Fatal("the hop header is not recognised")
	}
	if _, err := fs[0].Forward(context.Background(), fs[0].Members()[1], in); !errors.Is(err, ErrForwarded) {
		t.Fatalf("forwarding a forwarded request: %v", err)
	}
	if _, _, err := fs[0].ForwardRanked(context.Background(), fs[0].Members()[1:], in); !errors.Is(err, ErrForwarded) {
		t.Fatalf("walking with a forwarded request: %v", err)
	}
	if es[1].served.Load() != 0 || fs[0].Stats().Loops != 2 {
		t.Fatalf("served %d, stats %+v", es[1].served.Load(), fs[0].Stats())
	}
	// Through the edge: a forwarded request is served where it lands, even
	// when that edge is not the owner.
	for _, k := range keys(20) {
		resp, err := fs[1].Forward(context.Background(), fs[1].Members()[0], httptest.NewRequest(http.MethodGet, "/"+k, nil))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if by := resp.Header.Get("X-Served-By"); by != "edge-0" {
			t.Fatalf("%s served by %s", k, by)
		}
	}
	if _, err := fs[0].Forward(context.Background(), fs[0].Self(), httptest.NewRequest(http.MethodGet, "/x", nil)); !errors.Is(err, ErrLocal) {
		t.Fatalf("forward to self: %v", err)
	}
}

// deadAddr is a loopback address nothing listens on: connections are refused.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// resetAddr accepts connections and resets them at once (SO_LINGER 0).
func resetAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return "http://" + l.Addr().String()
}

func TestRefusedOrResetMemberIsSkipped(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr func(*testing.T) string
	}{{"refused", deadAddr}, {"reset", resetAddr}} {
		t.Run(tc.name, func(t *testing.T) {
			live := newEdge(t)
			a := join(t, testConfig("a", newEdge(t).srv.URL))
			down := join(t, testConfig("down", tc.addr(t), a.GossipAddr()))
			c := join(t, testConfig("c", live.srv.URL, a.GossipAddr()))
			live.fleet.Store(c)
			fs := []*Fleet{a, down, c}
			waitMembers(t, fs, 3)
			ms := a.Members() // a, c, down by name
			cands := []Member{ms[2], ms[1], ms[0]}

			resp, from, err := a.ForwardRanked(context.Background(), cands, httptest.NewRequest(http.MethodGet, "/k", nil))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if from.Name != "c" || resp.Header.Get("X-Served-By") != "c" {
				t.Fatalf("served by %s / %s", from.Name, resp.Header.Get("X-Served-By"))
			}
			if st := a.Stats(); st.Unreachable != 1 || st.OK != 1 {
				t.Fatalf("stats %+v", st)
			}

			// The walk reaching this edge means: serve here.
			_, from, err = a.ForwardRanked(context.Background(), []Member{ms[2], ms[0], ms[1]}, httptest.NewRequest(http.MethodGet, "/k", nil))
			if !errors.Is(err, ErrLocal) || from.Name != "a" {
				t.Fatalf("walk to self: %s, %v", from.Name, err)
			}
		})
	}
}

func TestSlowMemberIsNotRetried(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	live := newEdge(t)

	cfg := testConfig("a", "http://127.0.0.1:9000")
	cfg.ResponseHeaderTimeout = 200 * time.Millisecond
	a := join(t, cfg)
	b := join(t, testConfig("b", slow.URL, a.GossipAddr()))
	c := join(t, testConfig("c", live.srv.URL, a.GossipAddr()))
	live.fleet.Store(c)
	waitMembers(t, []*Fleet{a, b, c}, 3)
	ms := a.Members()

	_, from, err := a.ForwardRanked(context.Background(), []Member{ms[1], ms[2]}, httptest.NewRequest(http.MethodGet, "/k", nil))
	if err == nil || IsUnreachable(err) || from.Name != "b" {
		t.Fatalf("a member that timed out: from %s, %v", from.Name, err)
	}
	if !strings.Contains(err.Error(), "timeout") || live.served.Load() != 0 {
		t.Fatalf("%v; the next member served %d", err, live.served.Load())
	}
	if st := a.Stats(); st.Errors != 1 || st.OK != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestForwardWaitsForASlowOwner: the owner computing a result longer than
// a forward's header wait is a 502 where a lone edge would serve it, so the
// wait must cover the longest render (the composition root derives it);
// within it, a slow owner's answer comes back.
func TestForwardWaitsForASlowOwner(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(500 * time.Millisecond): // a render
		case <-r.Context().Done():
			return
		}
		w.Header().Set("X-Served-By", "b")
	}))
	t.Cleanup(slow.Close)
	for _, tc := range []struct {
		wait time.Duration
		ok   bool
	}{{5 * time.Second, true}, {100 * time.Millisecond, false}} {
		t.Run(tc.wait.String(), func(t *testing.T) {
			cfg := testConfig("a", "http://127.0.0.1:9000")
			cfg.ResponseHeaderTimeout = tc.wait
			a := join(t, cfg)
			b := join(t, testConfig("b", slow.URL, a.GossipAddr()))
			waitMembers(t, []*Fleet{a, b}, 2)
			resp, err := a.Forward(context.Background(), a.Members()[1], httptest.NewRequest(http.MethodGet, "/k", nil))
			if !tc.ok {
				if err == nil || IsUnreachable(err) {
					t.Fatalf("an owner slower than the wait: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("X-Served-By") != "b" {
				t.Fatalf("%d from %q", resp.StatusCode, resp.Header.Get("X-Served-By"))
			}
		})
	}
}
