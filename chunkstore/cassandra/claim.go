package cassandra

import (
	"context"
	"errors"
	"fmt"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// ClaimDerived is a lightweight transaction (INSERT ... IF NOT EXISTS), and a
// lightweight transaction whose coordinator dies or hangs mid-round ends in an
// error that does not say whether it applied: the proposal may have been
// accepted by a quorum and committed, accepted by a few replicas only, or
// never sent. Reporting that error would fail a render whose claim may well
// be stored, and simply resending the INSERT is not enough either (it reports
// "not applied" when the first attempt won). So, after an error:
//
//  1. Read the record at SERIAL. A serial read runs a Paxos round of its own:
//     it completes any proposal a quorum accepted, and its higher ballot
//     supersedes one that only a minority saw, so what it returns is final.
//  2. If the record holds our file id, the claim is ours (won). If it holds
//     another, that edge won. If there is none, nothing applied and nothing
//     will: claim again (at most claimAttempts in all).
//
// An INSERT that answers "not applied" with our own file id is also a win:
// an earlier attempt applied before its answer was lost. File ids are fresh
// per render, so no other edge ever proposes ours.

// claimAttempts bounds the INSERTs of one ClaimDerived.
const claimAttempts = 3

// claimStmts are the two statements a claim runs: the Backend's session in
// production, a fake in the tests that make the coordinator die.
type claimStmts interface {
	// insert runs the INSERT ... IF NOT EXISTS; when not applied, stored is
	// the file id already recorded.
	insert(ctx context.Context, sourceID, variant, fileID string) (applied bool, stored string, err error)
	// readSerial reads the record at SERIAL; found is false when there is none.
	readSerial(ctx context.Context, sourceID, variant string) (stored string, found bool, err error)
}

// ClaimDerived records fileID unless a record exists, and answers the file id
// recorded and whether it is fileID (won).
func (b *Backend) ClaimDerived(ctx context.Context, sourceID, variant, fileID string) (string, bool, error) {
	return claimDerived(ctx, sessionClaim{b}, sourceID, variant, fileID)
}

func claimDerived(ctx context.Context, st claimStmts, sourceID, variant, fileID string) (string, bool, error) {
	var lastErr error
	for range claimAttempts {
		applied, stored, err := st.insert(ctx, sourceID, variant, fileID)
		if err == nil {
			if applied || stored == fileID {
				return fileID, true, nil
			}
			return stored, false, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
		stored, found, rerr := st.readSerial(ctx, sourceID, variant)
		switch {
		case rerr != nil:
			lastErr = fmt.Errorf("%w (and the serial read: %v)", err, rerr)
			if ctx.Err() != nil {
				return "", false, fmt.Errorf("claim derived %s/%s: %w", sourceID, variant, lastErr)
			}
		case found && stored == fileID:
			return fileID, true, nil
		case found:
			return stored, false, nil
		}
		// Not found (or unknown still): claim again.
	}
	return "", false, fmt.Errorf("claim derived %s/%s: %w", sourceID, variant, lastErr)
}

// sessionClaim runs a claim's statements on the Backend's session.
type sessionClaim struct{ b *Backend }

func (c sessionClaim) insert(ctx context.Context, sourceID, variant, fileID string) (bool, string, error) {
	prev := map[string]any{}
	applied, err := c.b.s.Query(qClaimDerived, sourceID, variant, fileID).MapScanCASContext(ctx, prev)
	if err != nil {
		return false, "", err
	}
	stored, _ := prev["file_id"].(string)
	return applied, stored, nil
}

func (c sessionClaim) readSerial(ctx context.Context, sourceID, variant string) (string, bool, error) {
	var id string
	// Idempotent, so retried on the next replica; not speculated: concurrent
	// Paxos rounds on one partition would only contend with each other.
	err := c.b.s.Query(qGetDerived, sourceID, variant).Consistency(c.b.serial()).Idempotent(true).ScanContext(ctx, &id)
	if errors.Is(err, gocql.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return id, true, nil
}

// serial is the consistency of the reads that settle lightweight transactions.
func (b *Backend) serial() gocql.Consistency {
	if b.cfg.LocalDC != "" {
		return gocql.LocalSerial
	}
	return gocql.Serial
}
