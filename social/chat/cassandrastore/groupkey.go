package cassandrastore

import (
	"context"
	"errors"
	"fmt"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/mediaedge/mediaedge/social/chat"
	"github.com/mediaedge/mediaedge/social/cqlrows"
)

// groupKeyConv is the conv_id of the chat_sends rows that claim group
// creates' Idempotency-Keys: no conversation has id 0, so no send ever
// reads or writes them (Send reads the conversation first). Such a row is
// a pending send that never finishes: msg_id and attempt are the group's
// id, deadline the claim's time plus ClaimGrace, hint and seq 0, event
// empty. See the package doc.
const groupKeyConv = int64(0)

// qReleaseGroupKey gives back a claim whose batch was refused outright.
const qReleaseGroupKey = `DELETE FROM chat_sends` + sendKey + ` IF msg_id = ?`

// claimGroupKey claims key for the group c. done=true: the key belongs to
// a group that exists, returned as prev (a retry). An error is
// chat.ErrBusy while the key's group is being created elsewhere.
func (s *Store) claimGroupKey(ctx context.Context, c chat.Conversation, key string) (prev chat.Conversation, done bool, err error) {
	op := fmt.Sprintf("create group of %d: key %q", c.CreatedBy, key)
	k := []any{groupKeyConv, c.CreatedBy, key}
	ttl := int(s.cfg.SendTTL / time.Second)
	m := map[string]any{}
	// Idempotent: a driver retry of our applied claim answers with our own
	// group id, recognised below.
	applied, err := cqlrows.CAS(ctx, s.s, s.cfg.Serial, m, true, qSendPending,
		append(k, c.ID, c.ID, int64(0), time.Now().Add(s.cfg.ClaimGrace), []byte{}, ttl)...)
	if err != nil {
		return chat.Conversation{}, false, fmt.Errorf("%s: claim: %w", op, err)
	}
	for try := 0; !applied; try++ {
		row := sendRowOf(m)
		if row.msgID == c.ID {
			return chat.Conversation{}, false, nil // a driver retry of our own claim
		}
		existing, err := s.GetConversation(ctx, row.msgID)
		switch {
		case err == nil:
			return existing, true, nil
		case !errors.Is(err, chat.ErrNotFound):
			return chat.Conversation{}, false, fmt.Errorf("%s: %w", op, err)
		case try >= 3:
			return chat.Conversation{}, false, fmt.Errorf("%s: claim keeps changing: %w", op, chat.ErrBusy)
		case time.Now().Before(row.deadline):
			existing, _, err := s.awaitConv(ctx, op, row.msgID)
			return existing, err == nil, err
		}
		// A stale claim: its create died before its conversation row.
		m = map[string]any{}
		applied, err = cqlrows.CAS(ctx, s.s, s.cfg.Serial, m, false, qSendSet,
			append([]any{ttl, c.ID, c.ID, int64(0), time.Now().Add(s.cfg.ClaimGrace), int64(0), []byte{}}, append(k, row.attempt)...)...)
		if err != nil {
			return chat.Conversation{}, false, fmt.Errorf("%s: take over stale claim: %w", op, err)
		}
		if !applied {
			// Someone else took it over, or it expired: read it again.
			m = map[string]any{}
			err := s.serial(qSendGet, k...).MapScanContext(ctx, m)
			if errors.Is(err, gocql.ErrNotFound) {
				m = map[string]any{}
				applied, err = cqlrows.CAS(ctx, s.s, s.cfg.Serial, m, true, qSendPending,
					append(k, c.ID, c.ID, int64(0), time.Now().Add(s.cfg.ClaimGrace), []byte{}, ttl)...)
			}
			if err != nil {
				return chat.Conversation{}, false, fmt.Errorf("%s: read claim: %w", op, err)
			}
		}
	}
	return chat.Conversation{}, false, nil
}
