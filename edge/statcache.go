package edge

import (
	"context"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/mediaedge/mediaedge/chunkstore"
)

// statCache keeps recent files rows in memory. A file's row never changes
// but for its deletion, so a hit is correct except for a delete made on
// another edge within the TTL; a delete made here drops the entry at once.
// It saves a database round trip (a Cassandra read, or a Pebble read and a
// JSON decode) on every hit of a hot file.
type statCache struct {
	Store
	rows *expirable.LRU[string, chunkstore.FileInfo]
}

func newStatCache(s Store, size int, ttl time.Duration) *statCache {
	return &statCache{Store: s, rows: expirable.NewLRU[string, chunkstore.FileInfo](size, nil, ttl)}
}

func (c *statCache) Stat(ctx context.Context, id string) (chunkstore.FileInfo, error) {
	if f, ok := c.rows.Get(id); ok {
		return f, nil
	}
	f, err := c.Store.Stat(ctx, id)
	if err == nil {
		c.rows.Add(id, f)
	}
	return f, err
}

func (c *statCache) Delete(ctx context.Context, id string) error {
	c.rows.Remove(id)
	err := c.Store.Delete(ctx, id)
	c.rows.Remove(id)
	return err
}
