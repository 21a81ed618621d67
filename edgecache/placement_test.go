package edgecache

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestPlacementFollowsWeights(t *testing.T) {
	paths := []string{"/d/a", "/d/b", "/d/c", "/d/d"}
	weights := []float64{1, 2, 3, 4}
	seeds := make([]uint64, len(paths))
	for i, p := range paths {
		seeds[i] = diskSeed(p)
	}
	const n = 100_000
	counts := make([]int, len(paths))
	for i := 0; i < n; i++ {
		counts[first(fmt.Sprintf("media/%d?w=%d", i, i%7), seeds, weights, nil)]++
	}
	for i, got := range counts {
		want := weights[i] / 10
		share := float64(got) / n
		if math.Abs(share-want) > 0.05*want {
			t.Errorf("disk %s: share %.4f, want %.4f within 5%%", paths[i], share, want)
		}
	}
}

func TestPlacementRemovingADiskMovesOnlyItsKeys(t *testing.T) {
	paths := []string{"/d/a", "/d/b", "/d/c", "/d/d"}
	weights := []float64{4, 4, 2, 1}
	seeds := make([]uint64, len(paths))
	for i, p := range paths {
		seeds[i] = diskSeed(p)
	}
	const gone = 1
	const n = 100_000
	moved := 0
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("k%d", i)
		before := first(key, seeds, weights, nil)
		after := first(key, seeds, weights, func(j int) bool { return j != gone })
		if before != gone && after != before {
			t.Fatalf("key %s moved from disk %d to %d though disk %d was removed", key, before, after, gone)
		}
		if before == gone {
			moved++
		}
	}
	// The removed disk's keys spread over the rest in proportion to their weights:
	// checked loosely here, the weights test above is the strict one.
	if moved == 0 {
		t.Fatal("no key was on the removed disk")
	}
	// Rank agrees with first.
	for i := 0; i < 1000; i++ {
		key := fmt.Sprintf("r%d", i)
		if r := Rank(key, seeds, weights, nil); r[0] != first(key, seeds, weights, nil) {
			t.Fatalf("Rank(%q)[0]=%d, first=%d", key, r[0], first(key, seeds, weights, nil))
		}
	}
}

func TestParseDisk(t *testing.T) {
	tests := []struct {
		spec    string
		path    string
		budget  int64
		wantErr bool
	}{
		{"/mnt/a", "/mnt/a", DefaultBudget, false},
		{"/mnt/a:10GiB", "/mnt/a", 10 << 30, false},
		{"/mnt/a:500MB", "/mnt/a", 500e6, false},
		{"/mnt/a:1.5G", "/mnt/a", 3 << 29, false},
		{"/mnt/a:4096", "/mnt/a", 4096, false},
		{"./data/cache:2k", "./data/cache", 2048, false},
		{"/mnt/we:ird", "/mnt/we:ird", DefaultBudget, false},
		{"", "", 0, true},
		{":10GiB", "", 0, true},
		{"/mnt/a:0", "", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseDisk(tt.spec)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseDisk(%q) error %v, want error %v", tt.spec, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && (got.Path != tt.path || got.Budget != tt.budget) {
			t.Errorf("ParseDisk(%q) = %+v, want {%s %d}", tt.spec, got, tt.path, tt.budget)
		}
	}
}

func TestConfigValidateReportsAll(t *testing.T) {
	cfg := Config{Disks: []DiskConfig{{Path: "", Budget: 0}}, Policy: "mru"}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"empty path", "budget", "cache-policy", "cache-fail-threshold", "cache-probe-interval", "cache-write-deadline", "cache-stats-interval"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q does not mention %q", err, want)
		}
	}
	if err := testConfig(DiskConfig{Path: "/x", Budget: 1}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
