package bench

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/mediaedge/mediaedge/social/events/eventstest"
)

// TestEventsCrashChild is the kill -9 child when TestEventsReport's crash
// rounds start this test binary again.
func TestEventsCrashChild(t *testing.T) {
	if os.Getenv(eventstest.ChildEnv) == "" {
		t.Skip("only runs as the child of TestEventsReport")
	}
	EventsCrashChild()
}

// TestEventsReport runs the benchmark at toy sizes and checks a report with
// ratios comes out; it asserts no timing, only that no acknowledged event
// was lost in the kill -9 rounds.
func TestEventsReport(t *testing.T) {
	if os.Getenv(eventstest.ChildEnv) != "" {
		t.Skip("child")
	}
	cfg := EventsConfig{Events: 3000, Writers: 32, PerBatch: 1, Payload: 200, SyncAlwaysEvents: 200,
		CrashRounds: 2, CrashCommand: []string{os.Args[0], "-test.run=^TestEventsCrashChild$", "-test.count=1"},
		Dir: t.TempDir()}
	var out strings.Builder
	rep, err := Events(context.Background(), cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if len(rep.Rows) != 6 {
		t.Fatalf("rows %+v", rep.Rows)
	}
	for _, r := range rep.Rows {
		if r.PerSec <= 0 || r.RefPerSec <= 0 {
			t.Errorf("row %+v has no measurement", r)
		}
	}
	if rep.Rows[1].P99 <= 0 {
		t.Error("no append latency")
	}
	if rep.Relay.Acked < int64(cfg.Events) {
		t.Errorf("relay acked %d of %d", rep.Relay.Acked, cfg.Events)
	}
	if c := rep.Crash; c == nil || len(c.Rounds) != 2 || c.Lost != 0 || c.Duplicated != 0 {
		t.Errorf("kill -9 rounds: %+v", c)
	}
	if !strings.Contains(out.String(), "ratio") || !strings.Contains(out.String(), "kill -9") {
		t.Errorf("output lacks the table:\n%s", out.String())
	}
}
