package events_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/mediaedge/mediaedge/social/events/eventstest"
)

// TestCrashChild is the child of TestKill9: it writes events until killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(eventstest.ChildEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestKill9")
	}
	err := eventstest.Child(dir, os.Stdout)
	fmt.Fprintln(os.Stderr, "child:", err)
	os.Exit(2)
}

// TestKill9 kills a writing child with SIGKILL at random points over 5
// rounds; after each restart every acknowledged event is in the stream
// exactly once.
func TestKill9(t *testing.T) {
	if os.Getenv(eventstest.ChildEnv) != "" {
		t.Skip("child")
	}
	if testing.Short() {
		t.Skip("runs child processes")
	}
	rep, err := eventstest.Crash(context.Background(), eventstest.CrashConfig{
		Dir:     t.TempDir(),
		Rounds:  5,
		Command: []string{os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1"},
		MinAcks: 200,
		MaxAcks: 3000,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rep.Rounds {
		t.Logf("round %d: killed after %d acks; restart drained in %v, %d re-published events dropped by JetStream",
			i, r.Acked, r.Drain.Round(1e6), r.Republished)
	}
	if rep.Lost != 0 || rep.Duplicated != 0 {
		t.Fatalf("%d acknowledged events: %d lost, %d in the stream more than once", rep.Acked, rep.Lost, rep.Duplicated)
	}
	if rep.InStream < rep.Acked {
		t.Fatalf("stream holds %d events, fewer than the %d acknowledged", rep.InStream, rep.Acked)
	}
	t.Logf("%d acknowledged, %d in the stream (committed but not yet printed when killed: %d)", rep.Acked, rep.InStream, rep.InStream-rep.Acked)
}
