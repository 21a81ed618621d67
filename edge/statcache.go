package edge

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/mediaedge/mediaedge/chunkstore"
)

// statCache keeps recent files rows in memory. A file's row never changes
// but for its deletion, so a hit is correct except for a delete made on
// another edge within the TTL; a delete made here drops the entry at once.
// It saves a database round trip (a Cassandra read, or a Pebble read and a
// JSON decode) on every hit of a hot file.
//
// A Stat that missed reads the store, then stores the row; a delete made
// here between the two would be undone by it, and the deleted file served
// for up to the TTL. So a Stat stores its row only if no delete began or
// ended since it started: deletes bump gen. The generation is one for all
// keys, not one per key: deletes are rare next to Stats, a Stat that
// overlaps another file's delete only misses the chance to store its row
// (the next Stat does), and a per-key one would need a map of its own,
// pruned.
type statCache struct {
	Store
	rows *expirable.LRU[string, chunkstore.FileInfo]

	mu  sync.Mutex // guards gen, and orders a Stat's store of its row against a delete's removal
	gen uint64     // bumped before and after each delete
}

func newStatCache(s Store, size int, ttl time.Duration) *statCache {
	return &statCache{Store: s, rows: expirable.NewLRU[string, chunkstore.FileInfo](size, nil, ttl)}
}

func (c *statCache) Stat(ctx context.Context, id string) (chunkstore.FileInfo, error) {
	if f, ok := c.rows.Get(id); ok {
		return f, nil
	}
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	f, err := c.Store.Stat(ctx, id)
	if err == nil {
		c.mu.Lock()
		if c.gen == gen {
			c.rows.Add(id, f)
		}
		c.mu.Unlock()
	}
	return f, err
}

// Delete drops the row before the store's delete, so that requests stop
// being answered from it, and after, in case a Stat stored it meanwhile.
// Each drop bumps gen under mu: a Stat that began before either drop and
// has not stored its row yet (it may have read the row before the store's
// delete landed) then does not store it.
func (c *statCache) Delete(ctx context.Context, id string) error {
	c.forget(id)
	err := c.Store.Delete(ctx, id)
	c.forget(id)
	return err
}

// forget drops id's row and makes every Stat in flight not store its own.
func (c *statCache) forget(id string) {
	c.mu.Lock()
	c.gen++
	c.rows.Remove(id)
	c.mu.Unlock()
}
