package fleet

import (
	"fmt"
	"testing"
	"time"
)

func TestRouteAgreesOnEveryMember(t *testing.T) {
	fs := startFleet(t, 3, nil)
	share := map[string]int{}
	for _, k := range keys(300) {
		target, owner, spilled := fs[0].Route(k)
		if spilled || target.Name != owner.Name {
			t.Fatalf("%s spilled from %s to %s on an idle fleet", k, owner.Name, target.Name)
		}
		share[owner.Name]++
		for i, f := range fs[1:] {
			if got, _, _ := f.Route(k); got.Name != owner.Name {
				t.Fatalf("%s: edge-0 routes to %s, edge-%d to %s", k, owner.Name, i+1, got.Name)
			}
			if r := names(f.Rank(k)); r[0] != owner.Name || len(r) != 3 {
				t.Fatalf("%s: rank %v", k, r)
			}
		}
	}
	for name, n := range share {
		if n < 60 || n > 140 {
			t.Errorf("%s owns %d of 300 keys, want about 100", name, n)
		}
	}
	t.Logf("owned keys: %v", share)
}

func TestPickBoundedLoads(t *testing.T) {
	for _, tc := range []struct {
		loads []int64
		want  int
	}{
		{[]int64{0, 0, 0}, 0},           // idle: the owner
		{[]int64{1, 0, 0}, 0},           // threshold at least 1
		{[]int64{2, 0, 0}, 1},           // threshold 1
		{[]int64{1, 0}, 0},              // threshold 1
		{[]int64{5, 5, 5}, 0},           // balanced never spills: threshold 6.25
		{[]int64{100, 100, 100}, 0},     // threshold 125
		{[]int64{10, 0, 0}, 1},          // threshold 4.17
		{[]int64{10, 10, 0}, 2},         // threshold 8.33
		{[]int64{9, 8, 8}, 0},           // threshold 10.4
		{[]int64{13, 10, 7}, 1},         // threshold 12.5
		{[]int64{100}, 0},               // one member takes everything
		{[]int64{7, 7, 7, 7, 7, 40}, 0}, // someone else's hot spot does not move this key
		{[]int64{40, 7, 7, 7, 7, 7}, 1}, // threshold 15.6
	} {
		if got := pick(tc.loads, 1.25); got != tc.want {
			t.Errorf("pick(%v) = %d, want %d (threshold %.2f)", tc.loads, got, tc.want, threshold(sum(tc.loads), len(tc.loads), 1.25))
		}
	}
}

func sum(ls []int64) (s int64) {
	for _, l := range ls {
		s += l
	}
	return s
}

// hold makes f carry n in-flight requests until the returned func runs.
func hold(f *Fleet, n int) func() {
	dones := make([]func(), n)
	for i := range dones {
		dones[i] = f.Begin()
	}
	return func() {
		for _, d := range dones {
			d()
		}
	}
}

// waitLoads waits until every fleet sees the given loads by member name.
func waitLoads(t *testing.T, fs []*Fleet, want map[string]int64) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("loads %v gossiped", want), func() bool {
		for _, f := range fs {
			for _, m := range f.Members() {
				if m.Load != want[m.Name] {
					return false
				}
			}
		}
		return true
	})
}

func TestBoundedLoadsSpillTheHotOwner(t *testing.T) {
	fs := startFleet(t, 3, nil)
	ks := keys(300)

	// edge-0 carries 10 in flight, the others none: the threshold is
	// 1.25 x 10 / 3 = 4.17, so edge-0's keys go to their second choice.
	release := hold(fs[0], 10)
	waitLoads(t, fs, map[string]int64{"edge-0": 10})
	spills := 0
	for _, k := range ks {
		for i, f := range fs {
			rank := f.Rank(k)
			target, owner, spilled := f.Route(k)
			if owner.Name != rank[0].Name {
				t.Fatalf("edge-%d: %s owner %s, rank %v", i, k, owner.Name, names(rank))
			}
			if owner.Name == "edge-0" {
				if !spilled || target.Name != rank[1].Name {
					t.Fatalf("edge-%d: %s owned by the hot edge-0 went to %s (spilled %v), want %s", i, k, target.Name, spilled, rank[1].Name)
				}
				if i == 0 {
					spills++
				}
			} else if spilled || target.Name != owner.Name {
				t.Fatalf("edge-%d: %s owned by the idle %s spilled to %s", i, k, owner.Name, target.Name)
			}
		}
	}
	t.Logf("%d of 300 keys spilled off the hot owner", spills)

	// Balanced, even at high load: nothing spills.
	release2 := hold(fs[1], 10)
	release3 := hold(fs[2], 10)
	waitLoads(t, fs, map[string]int64{"edge-0": 10, "edge-1": 10, "edge-2": 10})
	for _, k := range ks {
		for i, f := range fs {
			if target, owner, spilled := f.Route(k); spilled || target.Name != owner.Name {
				t.Fatalf("edge-%d: %s spilled from %s to %s on a balanced fleet", i, k, owner.Name, target.Name)
			}
		}
	}
	release()
	release2()
	release3()
	waitLoads(t, fs, map[string]int64{})
}

func TestLoadReports(t *testing.T) {
	seq, load, name, ok := decodeLoad(encodeLoad(42, 7, "edge-1"))
	if !ok || seq != 42 || load != 7 || name != "edge-1" {
		t.Fatalf("round trip: %d %d %q %v", seq, load, name, ok)
	}
	for _, b := range [][]byte{nil, {9}, {msgLoad}, {msgLoad, 1}, {msgLoad, 1, 2}} {
		if _, _, _, ok := decodeLoad(b); ok {
			t.Errorf("decoded %v", b)
		}
	}

	// A reordered (older) report does not overwrite a newer one, and a
	// report older than LoadTTL counts as unknown.
	fs := startFleet(t, 2, nil)
	f := fs[0]
	f.kill() // no more reports from edge-1 overwrite ours below; f's view stays
	fs[1].kill()
	f.receiveLoad(encodeLoad(1<<62, 5, "edge-1"))
	f.receiveLoad(encodeLoad(1<<62-1, 9, "edge-1"))
	m := f.Members()[1]
	if m.Name != "edge-1" || m.Load != 5 || m.LoadAge < 0 {
		t.Fatalf("after a reordered report: %+v", m)
	}
	f.cells["edge-1"].at.Store(time.Now().Add(-2 * f.cfg.LoadTTL).UnixNano())
	if m := f.Members()[1]; m.Load != 0 || m.LoadAge != -1 {
		t.Fatalf("a stale report still counts: %+v", m)
	}
}
