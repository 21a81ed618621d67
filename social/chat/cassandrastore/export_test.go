package cassandrastore

import (
	"context"
	"time"

	"github.com/mediaedge/mediaedge/social/chat"
)

// OwnForTest runs the owner's half of a send (claim, record, finalize) as
// the attempt attempt, whatever the chat_sends row says: the tests use it
// to play an attempt whose row was taken over while it claimed.
func (s *Store) OwnForTest(ctx context.Context, m chat.Message, attempt, hint int64, deadline time.Time, ev chat.EventFunc) (chat.Message, bool, error) {
	x := &sender{s: s, m: m, ev: ev, key: []any{m.Conv, m.Sender, m.ClientMsgID}, ttl: int(s.cfg.SendTTL / time.Second)}
	return x.own(ctx, attempt, hint, deadline)
}
