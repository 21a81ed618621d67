package pebblestore

import (
	"context"
	"encoding/binary"
	"time"
)

// SweepIdempotency deletes the post and comment Idempotency-Keys older than
// IdempotencyTTL (Cassandra's rows expire by TTL; these would stay for
// good). A key is re-read under the stripe its create takes, so one written
// again meanwhile stays. It returns how many it deleted.
func (s *Store) SweepIdempotency(ctx context.Context, now time.Time) (int, error) {
	cutoff := now.Add(-s.ttl)
	// p/idem/<author><key>: the author's stripe.
	n, err := s.db.SweepExpired(ctx, []byte(pIdem), cutoff, func(k []byte) func() {
		return s.stripes.Lock('a', idAfter(k, len(pIdem)))
	})
	if err != nil {
		return n, err
	}
	// p/cidem/<post><author><key>: the post's stripe.
	m, err := s.db.SweepExpired(ctx, []byte(pCIdem), cutoff, func(k []byte) func() {
		return s.stripes.Lock('p', idAfter(k, len(pCIdem)))
	})
	return n + m, err
}

// idAfter reads the big-endian id at k[off:].
func idAfter(k []byte, off int) int64 {
	if len(k) < off+8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(k[off:]))
}
