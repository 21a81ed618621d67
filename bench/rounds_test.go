package bench

import (
	"context"
	"reflect"
	"testing"
	"time"
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

func TestParseWrk(t *testing.T) {
	out := `Running 10s test @ http://127.0.0.1:8080/0
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   341.72us  101.53us   5.19ms   91.47%
    Req/Sec    93.80k     3.13k   98.47k    73.00%
  Latency Distribution
     50%  320.00us
     75%  365.00us
     90%  430.00us
     99%    1.20ms
  933432 requests in 10.00s, 8.87GB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  93335.12
Transfer/sec:    908.53MB
`
	r, err := parseWrk("nginx", out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 933432 || r.ReqPerSec != 93335.12 || r.P50 != 320*time.Microsecond || r.P99 != 1200*time.Microsecond ||
		r.Errors != 7 || r.Elapsed != 10*time.Second {
		t.Fatalf("%+v", r)
	}
	if _, err := parseWrk("x", "unable to connect"); err == nil {
		t.Fatal("no error for output without a summary")
	}
}

func TestMedian(t *testing.T) {
	v := []float64{3, 1, 2}
	if got := median(v); got != 2 || v[0] != 3 {
		t.Errorf("median %v of %v (must not reorder it)", got, v)
	}
	if got := median([]int64{4, 1, 3, 2}); got != 2 { // (2+3)/2 in integers
		t.Errorf("even int64 median %v, want 2", got)
	}
	if got := median([]time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond}); got != 2*time.Millisecond {
		t.Errorf("duration median %v", got)
	}
	if got := median([]float64(nil)); got != 0 {
		t.Errorf("median of none %v", got)
	}
}
