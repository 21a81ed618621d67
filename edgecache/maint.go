package edgecache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// DiskStats describes one disk.
type DiskStats struct {
	Path    string
	State   DiskState
	Entries int
	Bytes   int64
	Budget  int64
	// Hits and Misses count since the stats file was created (across restarts).
	// A miss counts on the disk placement names for the key.
	Hits, Misses int64
	// Errors counts I/O errors since start; LastError is the latest.
	Errors    int64
	LastError string
	// Indexed reports whether the disk's entries are in the index (its scan ended).
	Indexed bool
	// Removed counts orphan and temp files the scans removed since start.
	Removed int64
	// Evictions and EvictedBytes count the entries (and their bytes) evicted
	// to keep the disk within its budget since start.
	Evictions, EvictedBytes int64
}

// HitRatio is Hits / (Hits + Misses), 0 with no requests.
func (s DiskStats) HitRatio() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

// Stats describes every disk, in configuration order.
func (c *Cache) Stats() []DiskStats {
	out := make([]DiskStats, len(c.disks))
	c.mu.Lock()
	for i, d := range c.disks {
		out[i] = DiskStats{Path: d.root, Entries: d.ev.Len(), Bytes: d.ev.Bytes(), Budget: d.budget}
	}
	c.mu.Unlock()
	for i, d := range c.disks {
		d.hmu.Lock()
		out[i].State, out[i].LastError = d.State(), d.lastErr
		d.hmu.Unlock()
		out[i].Hits = d.baseHits + d.hits.Load()
		out[i].Misses = d.baseMisses + d.misses.Load()
		out[i].Errors = d.errs.Load()
		out[i].Indexed = d.scanned.Load()
		out[i].Removed = d.orphans.Load()
		out[i].Evictions, out[i].EvictedBytes = d.evictions.Load(), d.evicted.Load()
	}
	return out
}

// OpenFileStats describes the open-file cache.
type OpenFileStats struct {
	Idle   int   // idle files held now
	Opens  int64 // files opened for hits since start
	Reuses int64 // hits served from an idle file since start
}

// OpenFiles describes the open-file cache.
func (c *Cache) OpenFiles() OpenFileStats {
	return OpenFileStats{Idle: c.fds.idleCount(), Opens: c.fds.opens.Load(), Reuses: c.fds.reuses.Load()}
}

// Progress receives (done, total) as a long operation advances; nil is allowed.
type Progress func(done, total int)

// snapshot lists the indexed entries.
func (c *Cache) snapshot() []*entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*entry, 0, len(c.index))
	for _, e := range c.index {
		out = append(out, e)
	}
	return out
}

// RebalanceReport says what Rebalance did (or, dry, would do).
type RebalanceReport struct {
	Checked int   // entries examined
	Moved   int   // entries moved (or to move)
	Bytes   int64 // their bytes
	Failed  int   // moves that failed (the entry stays where it was)
	DryRun  bool
}

// Rebalance moves every entry to the disk placement names now (after disks were
// added or removed, or came back). A move copies the entry to the target disk
// (temp, fsync, rename), switches the index, then removes the old copy; so it is
// safe to interrupt: at worst a key has two copies, and the next start-up scan
// keeps the one on the placement disk. Run it again and it converges.
func (c *Cache) Rebalance(ctx context.Context, dryRun bool, progress Progress) (RebalanceReport, error) {
	rep := RebalanceReport{DryRun: dryRun}
	if c.cfg.ReadOnly && !dryRun {
		return rep, fmt.Errorf("edgecache: rebalance: %w", ErrReadOnly)
	}
	if err := c.WaitReady(ctx); err != nil {
		return rep, err
	}
	es := c.snapshot()
	if progress != nil {
		progress(0, len(es))
	}
	for i, e := range es {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("edgecache: rebalance: %w", err)
		}
		rep.Checked++
		target := c.place(e.key)
		if target == nil {
			return rep, fmt.Errorf("edgecache: rebalance: %w", ErrUnavailable)
		}
		if target != e.d {
			rep.Moved++
			rep.Bytes += e.size
			if !dryRun {
				if err := c.move(ctx, e, target); err != nil {
					rep.Failed++
					rep.Moved--
					rep.Bytes -= e.size
					c.log.Warn("cache rebalance: move failed", "key", e.key, "from", e.d.root, "to", target.root, "err", err)
				}
			}
		}
		if progress != nil {
			progress(i+1, len(es))
		}
	}
	return rep, nil
}

// move copies e to target and switches the index to the copy.
func (c *Cache) move(ctx context.Context, e *entry, target *disk) error {
	src, err := c.open(e)
	if err != nil {
		return err
	}
	defer src.Close()
	copyFill := func(_ context.Context, w io.Writer) (Meta, error) {
		_, err := io.Copy(w, io.NewSectionReader(src.File, 0, e.size))
		return e.meta, err
	}
	ne, err := c.fillOnce(ctx, target, e.key, copyFill, e.created)
	if err != nil {
		return err
	}
	if ne.sum != e.sum || ne.size != e.size {
		c.unlink(target, ne.name)
		c.forget(e, true)
		return fmt.Errorf("edgecache: move %q: source changed while copied: %w", e.key, ErrCorrupt)
	}
	var gone []*entry
	c.mu.Lock()
	if c.index[e.key] != e || target.State() == Offline {
		c.mu.Unlock()
		c.unlink(target, ne.name) // the key changed meanwhile; keep the index's copy
		return nil
	}
	e.d.ev.Remove(e.key)
	c.index[e.key] = ne
	gone = append(gone, e)
	gone = append(gone, c.evictLocked(target, target.ev.Add(ne.key, ne.size))...)
	c.mu.Unlock()
	c.unlinkAll(gone)
	return nil
}

// VerifyReport says what Verify found.
type VerifyReport struct {
	Checked int // entries read in full
	Bad     int // entries whose length or checksum did not match; removed
	Errors  int // entries that could not be read (I/O errors; counted against the disk)
	Removed int64
}

// Verify reads every entry in full and checks its length and checksum against
// its sidecar; bad entries are removed (and refilled on their next request).
// Removed reports the orphan and temp files the start-up scans cleared.
func (c *Cache) Verify(ctx context.Context, progress Progress) (VerifyReport, error) {
	var rep VerifyReport
	if err := c.WaitReady(ctx); err != nil {
		return rep, err
	}
	es := c.snapshot()
	if progress != nil {
		progress(0, len(es))
	}
	for i, e := range es {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("edgecache: verify: %w", err)
		}
		rep.Checked++
		f, err := c.fs.Open(e.d.bodyPath(e.name))
		switch {
		case isNotExist(err):
			rep.Bad++
			c.forget(e, true)
		case err != nil:
			rep.Errors++
			c.ioError(e.d, "open", err)
		default:
			err = check(e, f)
			f.Close()
			switch {
			case errors.Is(err, ErrCorrupt):
				rep.Bad++
				c.log.Warn("cache verify: bad entry removed", "key", e.key, "err", err)
				c.forget(e, true)
			case err != nil:
				rep.Errors++
				c.ioError(e.d, "read", err)
			default:
				e.verified.Store(true)
			}
		}
		if progress != nil {
			progress(i+1, len(es))
		}
	}
	for _, d := range c.disks {
		rep.Removed += d.orphans.Load()
	}
	return rep, nil
}

// Matcher selects keys for Purge.
type Matcher func(key string) bool

// MatchKey matches one key.
func MatchKey(key string) Matcher { return func(k string) bool { return k == key } }

// MatchAll matches every key.
func MatchAll() Matcher { return func(string) bool { return true } }

// MatchID matches the keys of one media id: the id itself and every key that
// continues it with a character that cannot be part of an id (ids are lower-case
// base32, so "ID/w=400", "ID.webp?..." and "ID|hls/..." match, "IDX" does not).
// This is the key convention callers follow.
func MatchID(id string) Matcher {
	return func(k string) bool {
		if !strings.HasPrefix(k, id) {
			return false
		}
		if len(k) == len(id) {
			return true
		}
		ch := k[len(id)]
		return !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-')
	}
}

// PurgeReport says what Purge removed.
type PurgeReport struct {
	Entries int
	Bytes   int64
}

// Purge removes every indexed entry whose key match accepts. Open Entries stay
// readable until closed. Entries on a disk that is offline now are not reached:
// they come back when it does (purge again then, or rely on immutable ids).
func (c *Cache) Purge(ctx context.Context, match Matcher) (PurgeReport, error) {
	var rep PurgeReport
	if c.cfg.ReadOnly {
		return rep, fmt.Errorf("edgecache: purge: %w", ErrReadOnly)
	}
	if err := c.WaitReady(ctx); err != nil {
		return rep, err
	}
	var gone []*entry
	c.mu.Lock()
	for k, e := range c.index {
		if match(k) {
			delete(c.index, k)
			e.d.ev.Remove(k)
			gone = append(gone, e)
			rep.Entries++
			rep.Bytes += e.size
		}
	}
	c.mu.Unlock()
	c.unlinkAll(gone)
	return rep, nil
}
