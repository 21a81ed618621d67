package socialtest

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/mediaedge/mediaedge/social/events"
)

// Ledger is what a conformance case keeps of the outbox: the ids of every
// event it built (handed to a write) and of those the outbox must hold
// (the writes that changed something). The database may be shared with
// other cases and processes, so the case looks only at the events it
// built: what else is in the outbox is not its business. Safe for
// concurrent use.
type Ledger struct {
	mu   sync.Mutex     // guards made, want
	made map[int64]bool // ids of every event the case built
	want []int64        // ids of the events the outbox must hold
}

// NewLedger is an empty ledger.
func NewLedger() *Ledger { return &Ledger{made: map[int64]bool{}} }

// Made records that the case built the event id.
func (l *Ledger) Made(id int64) {
	l.mu.Lock()
	l.made[id] = true
	l.mu.Unlock()
}

// Expect records that the outbox must hold the events ids.
func (l *Ledger) Expect(ids ...int64) {
	l.mu.Lock()
	l.want = append(l.want, ids...)
	l.mu.Unlock()
}

// Outbox reads the outbox and returns the events the case built, in id
// order; a read error ends the test.
func (l *Ledger) Outbox(t testing.TB, read OutboxFunc) []events.Event {
	t.Helper()
	all := ReadOutbox(t, read)
	var out []events.Event
	l.mu.Lock()
	for _, e := range all {
		if l.made[e.ID] {
			out = append(out, e)
		}
	}
	l.mu.Unlock()
	slices.SortFunc(out, func(a, b events.Event) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Want ends the test unless got (the case's events, from Outbox) are
// exactly the expected ones, each once; the message lists the unexpected
// events and the missing ids.
func (l *Ledger) Want(t testing.TB, got []events.Event) {
	t.Helper()
	gotIDs := make([]int64, len(got))
	for i, e := range got {
		gotIDs[i] = e.ID
	}
	l.mu.Lock()
	want := slices.Sorted(slices.Values(l.want))
	l.mu.Unlock()
	if slices.Equal(gotIDs, want) {
		return
	}
	var extra, missing []string
	for _, e := range got {
		if !slices.Contains(want, e.ID) {
			extra = append(extra, fmt.Sprintf("%s %d %s", e.Kind, e.ID, e.Data))
		}
	}
	for _, id := range want {
		if !slices.Contains(gotIDs, id) {
			missing = append(missing, fmt.Sprint(id))
		}
	}
	t.Fatalf("outbox holds %d of the case's events %v, want %d %v\nunexpected: %v\nmissing: %v", len(gotIDs), gotIDs, len(want), want, extra, missing)
}

// Check is Outbox then Want, skipped when the test already failed (its
// writes stopped half-way, so the outbox proves nothing more).
func (l *Ledger) Check(t testing.TB, read OutboxFunc) {
	t.Helper()
	if t.Failed() {
		return
	}
	l.Want(t, l.Outbox(t, read))
}
