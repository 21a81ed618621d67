package edge_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/chunkstore/embedded"
	"github.com/mediaedge/mediaedge/edge"
	"github.com/mediaedge/mediaedge/edgecache"
	"github.com/mediaedge/mediaedge/fleet"
)

// fleetEdge is one edge of a test fleet: its server, cache and member.
type fleetEdge struct {
	ts    *httptest.Server
	cache *edgecache.Cache
	fleet *fleet.Fleet

	mu  sync.Mutex    // guards got
	got []http.Header // the headers of every request it received
}

// received returns the headers of the requests the edge received so far.
func (e *fleetEdge) received() []http.Header {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.got)
}

// newFleetEdges starts n edges on one store, each with its own cache and
// fleet member (keyless, on loopback), and waits until each sees all n.
func newFleetEdges(t *testing.T, store *chunkstore.Store, n int) []*fleetEdge {
	t.Helper()
	es := make([]*fleetEdge, n)
	var seed []string
	for i := range es {
		e := &fleetEdge{ts: httptest.NewUnstartedServer(nil)}
		t.Cleanup(e.ts.Close)
		cc := edgecache.DefaultConfig()
		cc.Disks = []edgecache.DiskConfig{{Path: t.TempDir(), Budget: 64 << 20}}
		cache, err := edgecache.Open(context.Background(), cc, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cache.Close() })
		e.cache = cache
		fc := fleet.DefaultConfig()
		fc.Bind, fc.Name, fc.Peers = "127.0.0.1:0", "edge-"+string(rune('a'+i)), seed
		fc.HTTPAddr = "http://" + e.ts.Listener.Addr().String()
		fc.ProbeInterval, fc.ProbeTimeout, fc.GossipInterval = 200*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
		fc.RejoinInterval, fc.LoadInterval = 200*time.Millisecond, 50*time.Millisecond
		fc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		f, err := fleet.Join(context.Background(), fc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		e.fleet = f
		if i == 0 {
			seed = []string{f.GossipAddr()} // the others join through the first
		}
		ecfg := edge.DefaultConfig()
		ecfg.UploadTokens = []string{token}
		ecfg.FleetHandoff = 0 // no only-if-cached asks of the previous owner: one path to watch
		srv, err := edge.New(ecfg, edge.Deps{Store: store, Cache: cache, Fleet: f})
		if err != nil {
			t.Fatal(err)
		}
		h := srv.Handler()
		e.ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e.mu.Lock()
			e.got = append(e.got, r.Header.Clone())
			e.mu.Unlock()
			h.ServeHTTP(w, r)
		})
		e.ts.Start()
		es[i] = e
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, e := range es {
		for len(e.fleet.Members()) != n {
			if time.Now().After(deadline) {
				t.Fatalf("%s sees %d members, want %d", e.fleet.Name(), len(e.fleet.Members()), n)
			}
			time.Sleep(10 * time.Millisecond) // polling, with a deadline
		}
	}
	return es
}

// cached reports whether the edge's cache holds key.
func (e *fleetEdge) cached(t *testing.T, key string) bool {
	t.Helper()
	ent, err := e.cache.Get(context.Background(), key)
	if err != nil {
		return false
	}
	ent.Close()
	return true
}

// TestFleetForgedHopHeadersAreServedAsAClients: a client that sets the
// fleet's internal headers (hop and fill) on a request to an edge that does
// not own the key must not make that edge compute and cache the result
// itself (N computations instead of one, past bounded-load spills): its
// request goes to the owner as any client's does. A genuine fill from
// another edge is still served where it lands.
func TestFleetForgedHopHeadersAreServedAsAClients(t *testing.T) {
	store := newFleetStore(t)
	es := newFleetEdges(t, store, 2)
	a, owner := es[0], es[1] // a receives; owner owns the keys picked below
	infos := ownedOriginals(t, store, a, owner, 4, 4<<10)

	forwardsBefore := a.fleet.Stats().OK
	for _, info := range infos[:3] {
		key := edge.OriginalKey(info.ID)
		resp, body := do(t, http.MethodGet, a.ts.URL+"/m/"+info.ID, map[string]string{
			fleet.HopHeader: owner.fleet.Name(), edge.FillHeader: "1",
		}, nil)
		if resp.StatusCode != 200 || int64(len(body)) != info.Size {
			t.Fatalf("%s with forged headers: %d, %d bytes", info.ID, resp.StatusCode, len(body))
		}
		if a.cached(t, key) {
			t.Errorf("%s: the edge that does not own it computed and cached it for a forged fill", info.ID)
		}
		if !owner.cached(t, key) {
			t.Errorf("%s: not cached on its owner", info.ID)
		}
	}
	if got := a.fleet.Stats().OK - forwardsBefore; got != 3 {
		t.Errorf("%d requests with forged headers forwarded to the owner, want 3", got)
	}

	// A genuine fill, from the owner to edge a (as a spill target of a
	// stale view would send it), is made and cached where it lands.
	info := infos[3]
	req := httptest.NewRequest(http.MethodGet, "/m/"+info.ID, nil)
	req.Header.Set(edge.FillHeader, "1")
	resp, err := owner.fleet.Forward(context.Background(), member(t, owner, a), req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || int64(len(body)) != info.Size {
		t.Fatalf("a genuine fill: %d, %d bytes", resp.StatusCode, len(body))
	}
	if !a.cached(t, edge.OriginalKey(info.ID)) || owner.cached(t, edge.OriginalKey(info.ID)) {
		t.Errorf("a genuine fill was not served where it landed (cached there %v, on the owner %v)",
			a.cached(t, edge.OriginalKey(info.ID)), owner.cached(t, edge.OriginalKey(info.ID)))
	}
}

// newFleetStore is an embedded store the test's edges share.
func newFleetStore(t *testing.T) *chunkstore.Store {
	t.Helper()
	b, err := embedded.Open(embedded.Config{Dir: t.TempDir(), Sync: false})
	if err != nil {
		t.Fatal(err)
	}
	store, err := chunkstore.New(b, chunkstore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// ownedOriginals stores n originals of size bytes whose key owner owns,
// as a sees the fleet.
func ownedOriginals(t *testing.T, store *chunkstore.Store, a, owner *fleetEdge, n, size int) []chunkstore.FileInfo {
	t.Helper()
	var infos []chunkstore.FileInfo
	for i := 0; len(infos) < n; i++ {
		if i > 200 {
			t.Fatalf("%s owns %d of 200 keys", owner.fleet.Name(), len(infos))
		}
		info, err := store.Put(context.Background(), bytes.NewReader(randBytes(size, int64(i))), chunkstore.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if a.fleet.Owner(edge.OriginalKey(info.ID)).Name == owner.fleet.Name() {
			infos = append(infos, info)
		}
	}
	return infos
}

// member is to as from's fleet sees it.
func member(t *testing.T, from, to *fleetEdge) fleet.Member {
	t.Helper()
	for _, m := range from.fleet.Members() {
		if m.Name == to.fleet.Name() {
			return m
		}
	}
	t.Fatalf("%s does not see %s", from.fleet.Name(), to.fleet.Name())
	return fleet.Member{}
}

// TestFleetSpillRelaysRangesAndConditionals: an edge that serves a key it
// does not own (a spill target, or an edge whose view is behind) relays
// the request to the owner as the client sent it, Range and conditionals
// included, so the owner sends only the range (or a 304) and the client
// gets what the owner itself would answer; the spill target keeps no copy.
func TestFleetSpillRelaysRangesAndConditionals(t *testing.T) {
	store := newFleetStore(t)
	es := newFleetEdges(t, store, 2)
	a, owner := es[0], es[1]
	info := ownedOriginals(t, store, a, owner, 1, 300<<10)[0]
	etag := edge.ETag(info)
	for _, tc := range []struct {
		name   string
		method string
		hdr    map[string]string
		status int
	}{
		{"whole", "GET", nil, 200},
		{"range", "GET", map[string]string{"Range": "bytes=1000-1999"}, 206},
		{"suffix", "GET", map[string]string{"Range": "bytes=-100"}, 206},
		{"multi-range", "GET", map[string]string{"Range": "bytes=0-9,100-199"}, 206},
		{"unsatisfiable", "GET", map[string]string{"Range": "bytes=9999999-"}, 416},
		{"if-none-match", "GET", map[string]string{"If-None-Match": etag}, 304},
		{"if-range mismatch", "GET", map[string]string{"Range": "bytes=0-9", "If-Range": `"old"`}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The owner's own answer, to a client.
			want, wantBody := do(t, tc.method, owner.ts.URL+"/m/"+info.ID, tc.hdr, nil)

			// A forward that lands on a, which does not own the key.
			req := httptest.NewRequest(tc.method, "/m/"+info.ID, nil)
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			before := len(owner.received())
			resp, err := owner.fleet.Forward(context.Background(), member(t, owner, a), req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// A multipart answer's boundary is random: its length is compared.
			multi := strings.HasPrefix(want.Header.Get("Content-Type"), "multipart/")
			same := bytes.Equal(body, wantBody) || multi && len(body) == len(wantBody)
			if resp.StatusCode != tc.status || want.StatusCode != tc.status || !same {
				t.Fatalf("relayed %d (%d bytes), the owner answers %d (%d bytes), want %d", resp.StatusCode, len(body), want.StatusCode, len(wantBody), tc.status)
			}
			hdrs := []string{"Content-Range", "Content-Length", "ETag", "Cache-Control"}
			if !multi {
				hdrs = append(hdrs, "Content-Type")
			}
			for _, h := range hdrs {
				if got, w := resp.Header.Get(h), want.Header.Get(h); got != w {
					t.Errorf("%s: relayed %q, the owner's %q", h, got, w)
				}
			}
			// What a asked the owner: the client's Range and conditionals, as
			// a fill (served there whatever its view).
			got := owner.received()[before:]
			if len(got) != 1 {
				t.Fatalf("the owner got %d requests from a, want 1", len(got))
			}
			for k, v := range tc.hdr {
				if got[0].Get(k) != v {
					t.Errorf("the owner got %s %q, want %q", k, got[0].Get(k), v)
				}
			}
			if got[0].Get(edge.FillHeader) == "" {
				t.Error("the relayed request is not a fill: the owner may pass it on")
			}
			if a.cached(t, edge.OriginalKey(info.ID)) {
				t.Error("the spill target kept a copy")
			}
		})
	}
}
