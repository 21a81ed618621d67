package edgecache

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// startScan rebuilds d's part of the index in the background (a disk back online).
func (c *Cache) startScan(d *disk, limit uint64) {
	if !d.scanning.CompareAndSwap(false, true) {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer d.scanning.Store(false)
		c.scan(c.ctx, d, limit)
	}()
}

// scan walks d and indexes every complete entry: a body with a readable sidecar.
// Files from before the scan started that are not entries are removed: temp files
// of fills a crash interrupted, sidecars without a body (a crash between the two
// renames) and bodies without a sidecar. Files at or after the scan's starting
// generation belong to fills running now and are left alone. When a key is found
// twice (an interrupted rebalance, or a refill while this disk was offline), the
// copy on the disk placement names wins, then the newer one; the other is removed.
//
// limit is the first generation the scan must not judge; take it before the disk
// can receive fills.
func (c *Cache) scan(ctx context.Context, d *disk, limit uint64) {
	ro := c.cfg.ReadOnly
	var found, removed int
	if !ro {
		names, err := c.fs.List(d.tmpPath(""))
		if err != nil {
			c.ioError(d, "list", err)
			return
		}
		for _, n := range names {
			if g, ok := parseName(n); !ok || g < limit {
				if err := c.fs.Remove(d.tmpPath(n)); err == nil {
					removed++
				}
			}
		}
	}
	for i := 0; i < 256; i++ {
		if ctx.Err() != nil || d.State() == Offline {
			return
		}
		dir := filepath.Join(d.root, fmt.Sprintf("%02x", i))
		names, err := c.fs.List(dir)
		if err != nil {
			if isNotExist(err) && ro {
				continue
			}
			c.ioError(d, "list", err)
			return
		}
		have := make(map[string]bool, len(names))
		for _, n := range names {
			have[n] = true
		}
		for _, n := range names {
			g, ok := parseName(n)
			if ok && g >= limit {
				continue // a fill of this process, indexed by it
			}
			isMeta := strings.HasSuffix(n, metaExt)
			body := strings.TrimSuffix(n, metaExt)
			switch {
			case !ok || (isMeta && !have[body]) || (!isMeta && !have[body+metaExt]):
				if !ro && c.fs.Remove(filepath.Join(dir, n)) == nil {
					removed++
				}
				continue
			case isMeta:
				continue // handled with its body
			}
			mf, err := c.readMeta(d, body)
			if err != nil {
				if errors.Is(err, ErrCorrupt) {
					if !ro {
						c.unlink(d, body)
						removed++
					}
					continue
				}
				if isNotExist(err) {
					continue // removed meanwhile
				}
				c.ioError(d, "read sidecar", err)
				return
			}
			if c.addScanned(entryFromMeta(d, body, g, mf)) {
				found++
			}
		}
	}
	d.orphans.Add(int64(removed))
	d.scanned.Store(true)
	c.log.Info("cache disk indexed", "disk", d.root, "entries", found, "removed", removed)
}

// addScanned indexes a scanned entry unless a better copy of its key is indexed.
func (c *Cache) addScanned(e *entry) bool {
	var gone []*entry
	c.mu.Lock()
	if e.d.State() == Offline {
		c.mu.Unlock()
		return false
	}
	if old := c.index[e.key]; old != nil {
		if old.d == e.d && old.name == e.name {
			c.mu.Unlock()
			return false
		}
		if !c.better(e, old) {
			c.mu.Unlock()
			if !c.cfg.ReadOnly {
				c.unlink(e.d, e.name)
			}
			return false
		}
		old.d.ev.Remove(old.key)
		gone = append(gone, old)
	}
	c.index[e.key] = e
	gone = append(gone, c.evictLocked(e.d, e.d.ev.Add(e.key, e.size))...)
	c.mu.Unlock()
	c.unlinkAll(gone)
	return true
}

// better reports whether copy a of a key should be kept over copy b.
func (c *Cache) better(a, b *entry) bool {
	if p := c.place(a.key); p != nil && (a.d == p) != (b.d == p) {
		return a.d == p
	}
	return a.gen > b.gen
}
