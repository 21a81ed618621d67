package cassandrastore

import (
	"context"
	"fmt"
	"time"

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

// claimGroupKey claims key for the group c (cqlrows.KeyClaim). done=true:
// the key belongs to a group that exists, returned as prev (a retry). An
// error is chat.ErrBusy while the key's group is being created elsewhere.
// A claim is young until its deadline (the claim's time plus ClaimGrace).
func (s *Store) claimGroupKey(ctx context.Context, c chat.Conversation, key string) (prev chat.Conversation, done bool, err error) {
	k := []any{groupKeyConv, c.CreatedBy, key}
	ttl := int(s.cfg.SendTTL / time.Second)
	return cqlrows.KeyClaim[chat.Conversation]{
		Op:   fmt.Sprintf("create group of %d: key %q", c.CreatedBy, key),
		Mine: c.ID,
		// Idempotent: a driver retry of our applied claim answers with
		// our own group id, which Run recognises.
		Claim: func(ctx context.Context, m map[string]any) (bool, error) {
			return cqlrows.CAS(ctx, s.s, s.cfg.Serial, m, true, qSendPending,
				append(k, c.ID, c.ID, int64(0), time.Now().Add(s.cfg.ClaimGrace), []byte{}, ttl)...)
		},
		Holder: func(m map[string]any) (int64, bool) {
			row := sendRowOf(m)
			return row.msgID, time.Now().Before(row.deadline)
		},
		TakeOver: func(ctx context.Context, row, m map[string]any) (bool, error) {
			return cqlrows.CAS(ctx, s.s, s.cfg.Serial, m, false, qSendSet,
				append([]any{ttl, c.ID, c.ID, int64(0), time.Now().Add(s.cfg.ClaimGrace), int64(0), []byte{}}, append(k, sendRowOf(row).attempt)...)...)
		},
		Reread: func(ctx context.Context, m map[string]any) error {
			return s.serial(qSendGet, k...).MapScanContext(ctx, m)
		},
		Get:      s.GetConversation,
		NotFound: chat.ErrNotFound,
		Busy:     chat.ErrBusy,
		Wait:     s.cfg.ReplayWait,
	}.Run(ctx)
}
