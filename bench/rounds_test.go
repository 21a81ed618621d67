package bench

import (
	"context"
	"reflect"
	"testing"
)

func TestRotate(t *testing.T) {
	var order [][2]int
	err := rotate(context.Background(), 3, 2, func(round, target int) error {
		order = append(order, [2]int{round, target})
		return nil
	})
	want := [][2]int{{0, 0}, {0, 1}, {1, 1}, {1, 0}, {2, 0}, {2, 1}}
	if err != nil || !reflect.DeepEqual(order, want) {
		t.Fatalf("order %v, %v; want %v", order, err, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := rotate(ctx, 3, 2, func(int, int) error { t.Fatal("ran after cancel"); return nil }); err == nil {
		t.Fatal("no error after cancel")
	}
}

func TestRatios(t *testing.T) {
	got := ratios([]float64{10, 30, 20}, []float64{40, 40, 40})
	if got != (Spread{0.25, 0.5, 0.75}) || got.String() != "0.25 / 0.50 / 0.75" {
		t.Fatalf("%+v %q", got, got)
	}
	if (ratios(nil, []float64{1}) != Spread{}) {
		t.Fatal("no rounds should be a zero spread")
	}
}

func TestPinnedByParent(t *testing.T) {
	t.Setenv(pinnedEnv, "1/0")
	if p, ok := PinnedByParent(); !ok || p != (Pinning{Server: "1", Client: "0"}) {
		t.Fatalf("%+v %v", p, ok)
	}
	t.Setenv(pinnedEnv, "")
	if _, ok := PinnedByParent(); ok {
		t.Fatal("pinned without the variable")
	}
	SetPinning(Pinning{Server: "1", Client: "0"})
	defer SetPinning(Pinning{})
	if c := serverCommand("/bin/true", "-x"); !reflect.DeepEqual(c.Args, []string{"taskset", "-c", "1", "/bin/true", "-x"}) {
		t.Fatalf("pinned server command %v", c.Args)
	}
}
