package cqlrows

import (
	"context"
	"errors"
	"fmt"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// KeyClaim is the claim of a unique key (an Idempotency-Key, a direct
// chat's pair of users) by a lightweight transaction on a row that names
// the id of what the create makes, then writes in its batch. When another
// create holds the row, what it names decides:
//   - it exists: this create is a retry, and gets it back (done);
//   - it does not exist yet and the claim is young: its create may still be
//     running, and this one waits for it, up to Wait (then Busy);
//   - it does not exist and the claim is old: its create died before its
//     batch, and this one takes the row over, compare-and-set on the
//     holder, so two takeovers cannot both win.
//
// A row that changed or vanished under a takeover is read again (or
// claimed afresh); after three rounds the claim is Busy. Stories, comments,
// group creates and direct conversations claim this way, each on its own
// table: the closures say how their rows read and are written.
type KeyClaim[T any] struct {
	Op   string // names the create in errors: "create story of 5"
	Mine int64  // the id this create makes
	// Claim writes the row naming Mine IF NOT EXISTS; when not applied,
	// the row found fills m.
	Claim func(ctx context.Context, m map[string]any) (applied bool, err error)
	// Holder reads a row: the id it names, and whether its claim is young
	// enough that its create may still be running.
	Holder func(row map[string]any) (id int64, young bool)
	// TakeOver names Mine in row's place, IF the row still names row's
	// holder; when not applied, the row found fills m.
	TakeOver func(ctx context.Context, row, m map[string]any) (applied bool, err error)
	// Reread reads the row at serial consistency into m; gocql.ErrNotFound
	// when it is gone (expired, or given back).
	Reread func(ctx context.Context, m map[string]any) error
	// Get reads what an id made; an error wrapping NotFound when it does
	// not exist (yet).
	Get      func(ctx context.Context, id int64) (T, error)
	NotFound error
	Busy     error
	Wait     time.Duration // how long to wait for a young claim's create
}

// Run claims the key. done: another create made what the key names,
// returned as prev. Otherwise the key is this create's (a driver retry of
// its own claim included), and the caller writes its batch.
func (k KeyClaim[T]) Run(ctx context.Context) (prev T, done bool, err error) {
	var zero T
	m := map[string]any{}
	applied, err := k.Claim(ctx, m)
	if err != nil {
		return zero, false, fmt.Errorf("%s: claim: %w", k.Op, err)
	}
	for try := 0; !applied; try++ {
		holder, young := k.Holder(m)
		if holder == k.Mine {
			return zero, false, nil // a driver retry of our own claim
		}
		existing, err := k.Get(ctx, holder)
		switch {
		case err == nil:
			return existing, true, nil
		case !errors.Is(err, k.NotFound):
			return zero, false, fmt.Errorf("%s: %w", k.Op, err)
		case try >= 3:
			return zero, false, fmt.Errorf("%s: claim keeps changing: %w", k.Op, k.Busy)
		case young:
			return k.await(ctx, holder)
		}
		// A stale claim: its create died before its batch (or what it
		// made was deleted since).
		row := m
		m = map[string]any{}
		if applied, err = k.TakeOver(ctx, row, m); err != nil {
			return zero, false, fmt.Errorf("%s: take over stale claim: %w", k.Op, err)
		}
		if !applied {
			// Someone else took it over, or it went: read it again.
			m = map[string]any{}
			err := k.Reread(ctx, m)
			if errors.Is(err, gocql.ErrNotFound) {
				m = map[string]any{}
				applied, err = k.Claim(ctx, m)
			}
			if err != nil {
				return zero, false, fmt.Errorf("%s: read claim: %w", k.Op, err)
			}
		}
	}
	return zero, false, nil
}

// await waits for what a young claim's create makes.
func (k KeyClaim[T]) await(ctx context.Context, id int64) (T, bool, error) {
	var zero T
	deadline := time.Now().Add(k.Wait)
	for time.Now().Before(deadline) {
		if err := Sleep(ctx, Jitter(100*time.Millisecond)); err != nil {
			return zero, false, err
		}
		v, err := k.Get(ctx, id)
		if err == nil {
			return v, true, nil
		}
		if !errors.Is(err, k.NotFound) {
			return zero, false, fmt.Errorf("%s: %w", k.Op, err)
		}
	}
	return zero, false, fmt.Errorf("%s: %d still being made: %w", k.Op, id, k.Busy)
}
