package socialtest

import (
	"context"
	"testing"

	"github.com/mediaedge/mediaedge/social/events"
)

// OutboxFunc reads every event in a store's outbox: the shape of the
// conformance suites' Backend.Outbox.
type OutboxFunc = func(ctx context.Context) ([]events.Event, error)

// ReadOutbox reads the outbox with read; an error ends the test.
func ReadOutbox(t testing.TB, read OutboxFunc) []events.Event {
	t.Helper()
	evs, err := read(context.Background())
	if err != nil {
		t.Fatalf("read outbox: %v", err)
	}
	return evs
}
