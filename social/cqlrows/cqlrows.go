package cqlrows

import (
	"context"
	"errors"
	mrand "math/rand/v2"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/mediaedge/mediaedge/social/events"
)

// Batch is one LOGGED batch under construction: data rows and the outbox
// rows of their events, applied all or none. The first error (an event
// that does not encode) sticks: Exec returns it and sends nothing.
type Batch struct {
	b   *gocql.Batch
	err error
}

// NewBatch starts a LOGGED batch on s.
func NewBatch(s *gocql.Session) *Batch { return &Batch{b: s.Batch(gocql.LoggedBatch)} }

// Add appends a statement the driver may retry: it writes fixed values
// (or a cell USING TIMESTAMP), so applying it twice is applying it once.
func (b *Batch) Add(stmt string, args ...any) {
	b.b.Entries = append(b.b.Entries, gocql.BatchEntry{Stmt: stmt, Args: args, Idempotent: true})
}

// AddNonIdempotent appends a statement not marked idempotent; the driver
// then never retries the whole batch.
func (b *Batch) AddNonIdempotent(stmt string, args ...any) {
	b.b.Entries = append(b.b.Entries, gocql.BatchEntry{Stmt: stmt, Args: args})
}

// Event appends the outbox row of each event (events.AddCassandra); a zero
// event (ID 0) adds nothing.
func (b *Batch) Event(evs ...events.Event) {
	for _, ev := range evs {
		if b.err != nil || ev.ID == 0 {
			continue
		}
		b.err = events.AddCassandra(b.b, ev)
		if n := len(b.b.Entries); b.err == nil && n > 0 {
			b.b.Entries[n-1].Idempotent = true // a fixed row under the event's id
		}
	}
}

// Len is the number of statements added so far.
func (b *Batch) Len() int { return len(b.b.Entries) }

// Exec runs the batch: the sticky error if there is one, nothing if the
// batch is empty.
func (b *Batch) Exec(ctx context.Context) error {
	if b.err != nil {
		return b.err
	}
	if len(b.b.Entries) == 0 {
		return nil
	}
	return b.b.ExecContext(ctx)
}

// CAS runs the lightweight transaction stmt at the serial consistency
// serial (0: the session's) and reports whether it applied. When it did
// not, prev (nil: discarded) receives the row's current values. Mark it
// idempotent only when the caller recognises its own write in prev: a
// driver retry of an applied transaction answers not applied, with the
// caller's values.
func CAS(ctx context.Context, s *gocql.Session, serial gocql.Consistency, prev map[string]any, idempotent bool, stmt string, args ...any) (bool, error) {
	if prev == nil {
		prev = map[string]any{}
	}
	q := s.Query(stmt, args...).Idempotent(idempotent)
	if serial != 0 {
		q = q.SerialConsistency(serial)
	}
	return q.MapScanCASContext(ctx, prev)
}

// Read scans one row of stmt into dest at the session's consistency (a
// read the driver may retry). A missing row is found=false, not an error.
func Read(ctx context.Context, s *gocql.Session, stmt string, args []any, dest ...any) (found bool, err error) {
	err = s.Query(stmt, args...).Idempotent(true).ScanContext(ctx, dest...)
	if errors.Is(err, gocql.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Exists reports whether a point read of stmt (one column) finds a row.
func Exists(ctx context.Context, s *gocql.Session, stmt string, args ...any) (bool, error) {
	var v any
	return Read(ctx, s, stmt, args, &v)
}

// ValidSerial reports whether c can run the Paxos phase of a lightweight
// transaction: SERIAL or LOCAL_SERIAL.
func ValidSerial(c gocql.Consistency) bool { return c == gocql.Serial || c == gocql.LocalSerial }

// Sleep waits d, or until ctx ends (its error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Jitter is a random duration in [d/2, d]: retries spread so that
// contenders do not collide again.
func Jitter(d time.Duration) time.Duration { return d/2 + mrand.N(d/2+1) }

// Toggle writes stmt with ev in one LOGGED batch when the row read by
// getStmt is not yet in the state on (present, or absent), and reports
// whether it wrote. Two requests racing past the read both write, and
// both events go out: the rows are the same, and so is what the events
// say.
func Toggle(ctx context.Context, s *gocql.Session, on bool, getStmt string, getArgs []any, stmt string, args []any, ev events.Event) (changed bool, err error) {
	found, err := Exists(ctx, s, getStmt, getArgs...)
	if err != nil || found == on {
		return false, err
	}
	b := NewBatch(s)
	b.Add(stmt, args...)
	b.Event(ev)
	if err := b.Exec(ctx); err != nil {
		return false, err
	}
	return true, nil
}
