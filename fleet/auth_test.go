package fleet

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestInboundAcceptsOnlySignedForwards is the table of what Inbound makes of
// a request as it arrives: only a forward signed with this edge's hop key,
// recently, for this method and URI and these fleet headers, keeps them.
func TestInboundAcceptsOnlySignedForwards(t *testing.T) {
	const key, other = "this edge's hop key", "another key"
	now := time.Now()
	for _, tc := range []struct {
		name   string
		fill   bool                  // FillHeader set before signing
		key    string                // signed with ("" = not signed)
		at     time.Time             // signed at
		tamper func(r *http.Request) // after signing
		want   bool
	}{
		{name: "signed forward", key: key, at: now, want: true},
		{name: "signed fill", fill: true, key: key, at: now, want: true},
		{name: "59 s old", key: key, at: now.Add(-59 * time.Second), want: true},
		{name: "59 s ahead", key: key, at: now.Add(59 * time.Second), want: true},
		{name: "client sets hop and fill", fill: true, want: false},
		{name: "another key", fill: true, key: other, at: now, want: false},
		{name: "61 s old", key: key, at: now.Add(-61 * time.Second), want: false},
		{name: "61 s ahead", key: key, at: now.Add(61 * time.Second), want: false},
		{name: "fill added", key: key, at: now, tamper: func(r *http.Request) { r.Header.Set(FillHeader, "1") }, want: false},
		{name: "hop renamed", key: key, at: now, tamper: func(r *http.Request) { r.Header.Set(HopHeader, "edge-9") }, want: false},
		{name: "other query", key: key, at: now, tamper: func(r *http.Request) { r.RequestURI = "/m/abc?w=2000&fmt=avif" }, want: false},
		{name: "other method", key: key, at: now, tamper: func(r *http.Request) { r.Method = http.MethodHead }, want: false},
		{name: "garbage signature", key: key, at: now, tamper: func(r *http.Request) { r.Header.Set(AuthHeader, "1:abc") }, want: false},
		{name: "no timestamp", key: key, at: now, tamper: func(r *http.Request) { r.Header.Set(AuthHeader, "xyz") }, want: false},
		{name: "signature without hop", key: key, at: now, tamper: func(r *http.Request) { r.Header.Del(HopHeader) }, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &Fleet{hopKey: key, log: testLogger()}
			r := httptest.NewRequest(http.MethodGet, "/m/abc?w=100&fmt=webp", nil)
			r.Header.Set(HopHeader, "edge-1")
			if tc.fill {
				r.Header.Set(FillHeader, "1")
			}
			if tc.key != "" {
				sign(r, r.URL.RequestURI(), tc.key, tc.at)
			}
			if tc.tamper != nil {
				tc.tamper(r)
			}
			if got := f.Inbound(r); got != tc.want {
				t.Fatalf("Inbound = %v, want %v", got, tc.want)
			}
			for _, h := range internalHeaders {
				if has := r.Header.Get(h) != ""; !tc.want && has {
					t.Errorf("%s kept on a request served as a client's", h)
				}
			}
			if tc.want && !IsForwarded(r) {
				t.Error("a genuine forward lost its hop header")
			}
		})
	}
	// A client's request, the common case, is left alone.
	r := httptest.NewRequest(http.MethodGet, "/m/abc", nil)
	if (&Fleet{hopKey: key, log: testLogger()}).Inbound(r) || IsForwarded(r) {
		t.Fatal("a client's request taken for a forward")
	}
}

// TestForgedFleetHeadersAreRoutedAsAClients: a client that sets the hop
// and fill headers on a request to an edge that does not own the key gets
// it from the owner, as any client would (the receiving edge does not serve
// it itself), and the headers do not travel on; a genuine forward is still
// served where it lands. Both with a fleet key and without (loopback).
func TestForgedFleetHeadersAreRoutedAsAClients(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  []byte
	}{{"keyless", nil}, {"fleet key", []byte("0123456789abcdef")}} {
		t.Run(tc.name, func(t *testing.T) {
			es, fs := startEdgesWith(t, 2, func(c *Config) { c.SecretKey = tc.key })
			c := testClient(t)
			notOwned := 0
			for _, k := range keys(40) {
				owner := fs[0].Owner("/" + k).Name
				req, _ := http.NewRequest(http.MethodGet, es[0].srv.URL+"/"+k, nil)
				req.Header.Set(HopHeader, "edge-1")
				req.Header.Set(FillHeader, "1")
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if by := resp.Header.Get("X-Served-By"); resp.StatusCode != 200 || by != owner {
					t.Fatalf("%s with forged headers: %d served by %q, want the owner %s", k, resp.StatusCode, by, owner)
				}
				if owner == "edge-1" {
					notOwned++
					if hop, _ := es[1].seen.Load(HopHeader); hop != "edge-0" {
						t.Fatalf("the owner saw the hop %q, want edge-0's", hop)
					}
					if fill, _ := es[1].seen.Load(FillHeader); fill != "" {
						t.Fatalf("the client's fill header reached the owner: %q", fill)
					}
				}
			}
			if notOwned == 0 {
				t.Fatal("edge-0 owns every key: nothing tested")
			}
			// A genuine forward (a fill from another edge) is served where
			// it lands, owner or not.
			for _, k := range keys(20) {
				in := httptest.NewRequest(http.MethodGet, "/"+k, nil)
				in.Header.Set(FillHeader, "1")
				resp, err := fs[1].Forward(context.Background(), fs[1].Members()[0], in)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if by := resp.Header.Get("X-Served-By"); by != "edge-0" {
					t.Fatalf("%s: a genuine forward served by %s, want edge-0", k, by)
				}
				if fill, _ := es[0].seen.Load(FillHeader); fill != "1" {
					t.Fatalf("a genuine fill arrived with fill header %q", fill)
				}
			}
		})
	}
}

// TestUpgradingAcceptsUnsignedForwards: during a rolling upgrade, a forward
// from an edge of the version before signatures (hop header, no signature)
// is taken as one; a bad signature is still refused, and without Upgrading
// the unsigned forward is a client's request.
func TestUpgradingAcceptsUnsignedForwards(t *testing.T) {
	key := deriveHopKey([]byte("0123456789abcdef"))
	for _, tc := range []struct {
		name      string
		upgrading bool
		auth      string
		want      bool
	}{
		{"upgrading, unsigned", true, "", true},
		{"upgrading, bad signature", true, "1:abc", false},
		{"not upgrading, unsigned", false, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &Fleet{hopKey: key, log: testLogger(), cfg: Config{Upgrading: tc.upgrading}}
			r := httptest.NewRequest(http.MethodGet, "/m/abc", nil)
			r.Header.Set(HopHeader, "old-edge")
			if tc.auth != "" {
				r.Header.Set(AuthHeader, tc.auth)
			}
			if got := f.Inbound(r); got != tc.want || IsForwarded(r) != tc.want {
				t.Fatalf("Inbound = %v, forwarded %v; want %v", got, IsForwarded(r), tc.want)
			}
		})
	}
}
