package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"golang.org/x/sync/errgroup"
)

// Query strings are constants so that the driver's prepared-statement cache
// hits. The session is bound to the keyspace.
const (
	qOutboxInsert = `INSERT INTO outbox (shard, id, event) VALUES (?, ?, ?)`
	qOutboxRead   = `SELECT id, event FROM outbox WHERE shard = ? AND id > ? LIMIT ?`
	qOutboxDelete = `DELETE FROM outbox WHERE shard = ? AND id = ?`
	qFloorGet     = `SELECT floor FROM outbox_floor WHERE shard = ?`
	qFloorSet     = `INSERT INTO outbox_floor (shard, floor) VALUES (?, ?)`
)

// AddCassandra adds ev's outbox row to the caller's batch, which must be a
// LOGGED batch holding the data the event describes: Cassandra then applies
// both or neither, even if the coordinator dies half-way (the batchlog
// replays it).
func AddCassandra(b *gocql.Batch, ev Event) error {
	if b.Type != gocql.LoggedBatch {
		return fmt.Errorf("outbox row of event %d: the batch must be LOGGED to be atomic", ev.ID)
	}
	data, err := Encode(ev)
	if err != nil {
		return fmt.Errorf("encode event %d: %w", ev.ID, err)
	}
	b.Query(qOutboxInsert, OutboxShard(ev.ID), ev.ID, data)
	return nil
}

// CassandraOutbox is the outbox table (schema/cql): OutboxShards
// partitions, rows in id order. A relay reads the shards it owns; in a
// fleet give each shard one relay (two relays on a shard publish the same
// events twice, which JetStream drops, and waste the work).
type CassandraOutbox struct {
	s      *gocql.Session
	shards []int
}

var (
	_ Outbox   = (*CassandraOutbox)(nil)
	_ Floorer  = (*CassandraOutbox)(nil)
	_ Appender = (*CassandraOutbox)(nil)
)

// NewCassandraOutbox is the outbox in the keyspace s is bound to, limited to
// shards (0..OutboxShards-1; none means all of them).
func NewCassandraOutbox(s *gocql.Session, shards ...int) (*CassandraOutbox, error) {
	if len(shards) == 0 {
		for i := range OutboxShards {
			shards = append(shards, i)
		}
	}
	seen := map[int]bool{}
	for _, sh := range shards {
		if sh < 0 || sh >= OutboxShards || seen[sh] {
			return nil, fmt.Errorf("events: outbox shard %d: want distinct shards 0..%d", sh, OutboxShards-1)
		}
		seen[sh] = true
	}
	return &CassandraOutbox{s: s, shards: slices.Sorted(slices.Values(shards))}, nil
}

// Read implements Outbox. Each shard is read from after, a few rows each,
// and the rows are merged; when a shard returned all it was asked for, the
// result stops at that shard's last id, so no row of another shard below
// it is skipped.
func (o *CassandraOutbox) Read(ctx context.Context, after int64, limit int) ([]Entry, error) {
	per := max(16, (limit+len(o.shards)-1)/len(o.shards))
	var mu sync.Mutex // guards out and cut
	var out []Entry
	cut := int64(-1) // the smallest last id of a shard that filled its page
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, sh := range o.shards {
		g.Go(func() error {
			iter := o.s.Query(qOutboxRead, sh, after, per).IterContext(gctx)
			var rows []Entry
			var id int64
			var data []byte
			for iter.Scan(&id, &data) {
				rows = append(rows, Entry{ID: id, Data: data})
				data = nil
			}
			if err := iter.Close(); err != nil {
				return fmt.Errorf("read outbox shard %d: %w", sh, err)
			}
			mu.Lock()
			defer mu.Unlock()
			out = append(out, rows...)
			if len(rows) == per {
				if last := rows[len(rows)-1].ID; cut < 0 || last < cut {
					cut = last
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Entry) int { return cmpInt64(a.ID, b.ID) })
	if cut >= 0 {
		n, _ := slices.BinarySearchFunc(out, cut, func(e Entry, t int64) int { return cmpInt64(e.ID, t) })
		out = out[:n+1]
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Delete implements Outbox: one unlogged batch per shard (a single-partition
// batch is one mutation), up to 100 rows each.
func (o *CassandraOutbox) Delete(ctx context.Context, ids []int64) error {
	byShard := map[int][]int64{}
	for _, id := range ids {
		sh := OutboxShard(id)
		byShard[sh] = append(byShard[sh], id)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for sh, ids := range byShard {
		for chunk := range slices.Chunk(ids, 100) {
			g.Go(func() error {
				b := o.s.Batch(gocql.UnloggedBatch)
				for _, id := range chunk {
					b.Query(qOutboxDelete, sh, id)
				}
				if err := b.ExecContext(gctx); err != nil {
					return fmt.Errorf("delete %d outbox rows of shard %d: %w", len(chunk), sh, err)
				}
				return nil
			})
		}
	}
	return g.Wait()
}

// Append implements Appender: the events alone in one LOGGED batch.
func (o *CassandraOutbox) Append(ctx context.Context, evs ...Event) error {
	b := o.s.Batch(gocql.LoggedBatch)
	for _, ev := range evs {
		if err := AddCassandra(b, ev); err != nil {
			return err
		}
	}
	if err := b.ExecContext(ctx); err != nil {
		return fmt.Errorf("append %d events: %w", len(evs), err)
	}
	return nil
}

// Floor implements Floorer: the lowest floor of the outbox's shards (0 for
// a shard that has none yet).
func (o *CassandraOutbox) Floor(ctx context.Context) (int64, error) {
	floor := int64(-1)
	for _, sh := range o.shards {
		var f int64
		err := o.s.Query(qFloorGet, sh).ScanContext(ctx, &f)
		if errors.Is(err, gocql.ErrNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("read outbox floor of shard %d: %w", sh, err)
		}
		if floor < 0 || f < floor {
			floor = f
		}
	}
	return max(floor, 0), nil
}

// SetFloor implements Floorer, for every shard of the outbox.
func (o *CassandraOutbox) SetFloor(ctx context.Context, id int64) error {
	for _, sh := range o.shards {
		if err := o.s.Query(qFloorSet, sh, id).ExecContext(ctx); err != nil {
			return fmt.Errorf("set outbox floor of shard %d: %w", sh, err)
		}
	}
	return nil
}
