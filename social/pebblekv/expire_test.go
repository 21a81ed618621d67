package pebblekv_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

type timed struct {
	ID int64     `json:"id"`
	At time.Time `json:"at"`
}

// TestSweepExpired: rows at or before the cutoff go, newer ones, rows
// without a time and rows outside the prefix stay, across more than one
// pass of the scan; a row written again while the sweep waits for its lock
// stays too.
func TestSweepExpired(t *testing.T) {
	_, d := open(t)
	now := time.Unix(1_700_000_000, 0).UTC()
	cutoff := now.Add(-24 * time.Hour)
	rows := map[string]any{}
	for i := range 1200 { // more than one pass (512 per pass)
		at := cutoff.Add(-time.Minute)
		if i%3 == 0 {
			at = cutoff.Add(time.Minute) // fresh
		}
		rows[fmt.Sprintf("x/idem/%05d", i)] = timed{ID: int64(i), At: at}
	}
	rows["x/idem/zz-no-time"] = struct{ ID int64 }{7}
	rows["x/other/1"] = timed{ID: 1, At: cutoff.Add(-time.Hour)}
	rows["x/idem/00001-rewritten"] = timed{ID: 1, At: cutoff.Add(-time.Hour)}
	put(t, d, rows)

	rewrite := []byte("x/idem/00001-rewritten")
	lock := func(k []byte) func() {
		if string(k) == string(rewrite) {
			// A create reuses the key while the sweep waits for the stripe.
			put(t, d, map[string]any{string(rewrite): timed{ID: 2, At: now}})
		}
		return func() {}
	}
	n, err := d.SweepExpired(context.Background(), []byte("x/idem/"), cutoff, lock)
	if err != nil {
		t.Fatal(err)
	}
	if n != 800 {
		t.Fatalf("deleted %d rows, want the 800 expired ones", n)
	}
	for k := range rows {
		found, err := d.Get([]byte(k), nil)
		if err != nil {
			t.Fatal(err)
		}
		var want bool
		switch r := rows[k].(type) {
		case timed:
			want = r.At.After(cutoff) || k == "x/other/1" || k == string(rewrite)
		default:
			want = true
		}
		if found != want {
			t.Errorf("%s: present %v, want %v", k, found, want)
		}
	}
}
