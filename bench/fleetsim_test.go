package bench

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediaedge/mediaedge/edgecache"
)

// fleetsimSmall is a run small enough for `go test`: 10 edges, 10k keys,
// 200k requests per skew. Everything asserted on it is structural (it holds
// for any seed), not a measurement.
func fleetsimSmall(t *testing.T) FleetsimConfig {
	cfg := DefaultFleetsimConfig()
	cfg.Edges, cfg.Keys, cfg.Requests = 10, 10_000, 200_000
	cfg.Plot = filepath.Join(t.TempDir(), "fleetsim.svg")
	return cfg
}

func TestFleetsimPlacementMoves(t *testing.T) {
	const edges, keys = 10, 10_000
	p, err := newFleetPlacement(context.Background(), edges, keys, 100)
	if err != nil {
		t.Fatal(err)
	}
	added := uint16(edges)
	for _, tc := range []struct {
		name                 string
		owner, remove, added func(k int) uint16
	}{
		{"rendezvous", func(k int) uint16 { return p.owner(int32(k)) }, func(k int) uint16 { return p.rvRemove[k] }, func(k int) uint16 { return p.rvAdd[k] }},
		{"ring", func(k int) uint16 { return p.ring[k] }, func(k int) uint16 { return p.ringRemove[k] }, func(k int) uint16 { return p.ringAdd[k] }},
	} {
		var owned, movedOff, movedOn int
		for k := range keys {
			own := tc.owner(k)
			if own == uint16(p.removed) {
				owned++
			}
			// Removing an edge moves exactly its keys, and none to it.
			if r := tc.remove(k); (r != own) != (own == uint16(p.removed)) || r == uint16(p.removed) {
				t.Fatalf("%s: key %d owned by %d goes to %d when edge %d is removed", tc.name, k, own, r, p.removed)
			} else if r != own {
				movedOff++
			}
			// Adding an edge moves keys only to it.
			if a := tc.added(k); a != own {
				movedOn++
				if a != added {
					t.Fatalf("%s: key %d moved from %d to %d, not to the added edge %d", tc.name, k, own, a, added)
				}
			}
		}
		if movedOff != owned || owned == 0 || movedOn == 0 {
			t.Errorf("%s: %d keys owned by the removed edge, %d moved off, %d moved to the added one", tc.name, owned, movedOff, movedOn)
		}
		t.Logf("%s: removal moves %d keys (%.2f/N), addition %d", tc.name, movedOff, float64(movedOff)*edges/keys, movedOn)
	}
	// The shortcuts newFleetPlacement takes agree with full rankings: with
	// the edge filtered out, and with the added edge's seed appended.
	notRemoved := func(i int) bool { return i != p.removed }
	for k, name := range p.names {
		if r := edgecache.Rank(name, p.seeds[:edges], p.weights[:edges], notRemoved)[0]; uint16(r) != p.rvRemove[k] {
			t.Fatalf("key %d: owner %d without edge %d, placement says %d", k, r, p.removed, p.rvRemove[k])
		}
		if a := edgecache.Rank(name, p.seeds, p.weights, nil)[0]; uint16(a) != p.rvAdd[k] {
			t.Fatalf("key %d: owner %d with edge %d added, placement says %d", k, a, edges, p.rvAdd[k])
		}
		full := edgecache.Rank(name, p.seeds[:edges], p.weights[:edges], nil)
		for j := range p.depth {
			if uint16(full[j]) != p.top[k*p.depth+j] {
				t.Fatalf("key %d: rank %d is %d, placement says %d", k, j, full[j], p.top[k*p.depth+j])
			}
		}
	}
}

func TestFleetsimSmall(t *testing.T) {
	cfg := fleetsimSmall(t)
	var out bytes.Buffer
	rep, err := Fleetsim(context.Background(), cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != len(cfg.Skews)*len(fleetSetups) {
		t.Fatalf("%d results", len(rep.Results))
	}
	warm := int(float64(cfg.Requests) * cfg.WarmupFraction)
	// Fleet's rule admits while load <= c x mean, so a window's busiest edge
	// ends at most one request above c x mean.
	bound := cfg.LoadFactor + float64(cfg.Edges)/float64(cfg.window()) + 1e-9
	for _, s := range cfg.Skews {
		get := func(setup string) FleetsimResult {
			r, ok := rep.Result(s, setup)
			if !ok {
				t.Fatalf("s=%v: no %s result", s, setup)
			}
			if r.Requests != int64(cfg.Requests-warm) {
				t.Errorf("s=%v %s: %d requests counted, want %d", s, setup, r.Requests, cfg.Requests-warm)
			}
			return r
		}
		none, rv, bl, ring, pooled := get(FleetNone), get(FleetRendezvous), get(FleetBounded), get(FleetRing), get(FleetPooled)
		if pooled.OriginFetches > none.OriginFetches {
			t.Errorf("s=%v: pooled cache misses %d > no routing's %d", s, pooled.OriginFetches, none.OriginFetches)
		}
		if pooled.VsPooled != 1 {
			t.Errorf("s=%v: pooled vs itself %v", s, pooled.VsPooled)
		}
		if bl.LoadWorst > bound {
			t.Errorf("s=%v: bounded loads worst window max/mean %.3f > %.3f", s, bl.LoadWorst, bound)
		}
		if rv.Spilled != 0 || bl.SpillFills > bl.Spilled {
			t.Errorf("s=%v: spilled %v (rendezvous), fills %v of %v spilled (bounded)", s, rv.Spilled, bl.SpillFills, bl.Spilled)
		}
		// Bounded loads' owners are rendezvous owners.
		if bl.MovedRemove != rv.MovedRemove || bl.MovedAdd != rv.MovedAdd {
			t.Errorf("s=%v: bounded moves %v/%v, rendezvous %v/%v", s, bl.MovedRemove, bl.MovedAdd, rv.MovedRemove, rv.MovedAdd)
		}
		for _, r := range []FleetsimResult{none, rv, bl, ring} {
			if r.LoadAvg < 1 || r.LoadWorst < r.LoadAvg || r.WorkAvg < r.LoadAvg {
				t.Errorf("s=%v %s: load avg %v worst %v with fills %v", s, r.Setup, r.LoadAvg, r.LoadWorst, r.WorkAvg)
			}
		}
	}
	svg, err := os.ReadFile(cfg.Plot)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(svg), "<svg") || !strings.Contains(string(svg), "bounded") {
		t.Errorf("plot is not the SVG expected: %.200s", svg)
	}

	// Seeded: a second run gives the same numbers.
	cfg.Skews, cfg.Plot = cfg.Skews[:1], ""
	again, err := Fleetsim(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range again.Results {
		first, _ := rep.Result(r.Skew, r.Setup)
		if r.OriginFetches != first.OriginFetches || (r.LoadWorst != first.LoadWorst && !math.IsNaN(first.LoadWorst)) {
			t.Errorf("s=%v %s: second run %d fetches, worst %v; first %d, %v", r.Skew, r.Setup,
				r.OriginFetches, r.LoadWorst, first.OriginFetches, first.LoadWorst)
		}
	}

	if err := (FleetsimConfig{}).Validate(); err == nil {
		t.Error("empty config validated")
	}
}
