package pebblestore

import (
	"context"
	"encoding/binary"
	"time"
)

// SweepIdempotency deletes the group creates' Idempotency-Keys older than
// IdempotencyTTL (Cassandra's rows expire by TTL; these would stay for
// good). A key is re-read under the creator's stripe, which CreateGroup
// holds, so one written again meanwhile stays. It returns how many it
// deleted.
func (s *Store) SweepIdempotency(ctx context.Context, now time.Time) (int, error) {
	// c/gkey/<creator><key>
	return s.db.SweepExpired(ctx, []byte(pGKey), now.Add(-s.ttl), func(k []byte) func() {
		var creator int64
		if len(k) >= len(pGKey)+8 {
			creator = int64(binary.BigEndian.Uint64(k[len(pGKey):]))
		}
		return s.stripes.Lock(creator)
	})
}
