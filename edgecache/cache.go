package edgecache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/mediaedge/mediaedge/edgecache/vfs"
)

// FillFunc produces an entry's bytes into w and returns its metadata. With a
// healthy disk it runs once per key however many requests wait; when a disk fails
// during the write it runs again for the next disk, so it must be repeatable.
// Its context is the first caller's, detached from its cancellation: one client
// going away does not waste the work the others wait for.
type FillFunc func(ctx context.Context, w io.Writer) (Meta, error)

// Cache is the multi-disk cache. It is safe for concurrent use.
type Cache struct {
	cfg   Config
	fs    vfs.FS
	log   *slog.Logger
	disks []*disk
	seeds []uint64
	wts   []float64

	mu    sync.Mutex // guards index and the Evictor of every disk
	index map[string]*entry

	fds    fdCache
	flight singleflight.Group
	gen    atomic.Uint64 // generation of the next file; starts at the clock so it grows across restarts

	ready  chan struct{} // closed when the start-up scans have ended
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // background goroutines
	closed atomic.Bool
}

// Open opens the cache over cfg.Disks. It fails only for an invalid config or
// a folder another process holds (ErrInUse; see Config.ReadOnly): a
// missing or unusable disk starts offline (the probe brings it back) and the index
// is rebuilt from the disks in the background while the cache already serves
// (entries not yet scanned are misses until their disk's scan reaches them).
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Cache{cfg: cfg, fs: cfg.FS, log: logger.With("component", "edgecache"), index: map[string]*entry{}, ready: make(chan struct{})}
	if c.fs == nil {
		c.fs = vfs.Default
	}
	c.fds.max = cfg.OpenFileCache
	c.gen.Store(uint64(time.Now().UnixNano()))
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for i, dc := range cfg.Disks {
		root := filepath.Clean(dc.Path)
		d := &disk{idx: i, root: root, budget: dc.Budget, seed: diskSeed(root)}
		ev, err := NewEvictor(cfg.Policy, c.evictBudget(d))
		if err != nil {
			return nil, err
		}
		d.ev = ev
		c.disks = append(c.disks, d)
		c.seeds = append(c.seeds, d.seed)
		c.wts = append(c.wts, float64(dc.Budget))
	}
	// Every folder is locked before any scan starts: a scan removes temp files,
	// so it must not run in a folder another process writes, nor in ours when
	// Open then fails on the next folder.
	prepared := make([]error, len(c.disks))
	for i, d := range c.disks {
		prepared[i] = c.prepare(d)
		if errors.Is(prepared[i], ErrInUse) {
			c.cancel()
			for _, d := range c.disks {
				c.unlockDisk(d)
			}
			return nil, fmt.Errorf("edgecache: open: %w", prepared[i])
		}
	}
	limit := c.gen.Load() + 1
	var initial sync.WaitGroup
	for i, d := range c.disks {
		if err := prepared[i]; err != nil {
			d.state.Store(int32(Offline))
			d.lastErr = err.Error()
			c.log.Warn("cache disk offline at start", "disk", d.root, "err", err)
			continue
		}
		c.loadStats(d)
		initial.Add(1)
		d.scanning.Store(true)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer initial.Done()
			defer d.scanning.Store(false)
			c.scan(c.ctx, d, limit)
		}()
	}
	go func() {
		initial.Wait()
		close(c.ready)
	}()
	if !cfg.ReadOnly {
		c.wg.Add(2)
		go c.probeLoop(c.ctx)
		go c.statsLoop(c.ctx)
	}
	return c, nil
}

// WaitReady blocks until the start-up index rebuild has ended (or ctx ends).
func (c *Cache) WaitReady(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("edgecache: wait for index rebuild: %w", ctx.Err())
	}
}

// Ready reports whether the start-up index rebuild has ended.
func (c *Cache) Ready() bool {
	select {
	case <-c.ready:
		return true
	default:
		return false
	}
}

// Usable reports whether at least one disk is not offline (for /readyz).
func (c *Cache) Usable() bool {
	for _, d := range c.disks {
		if d.State() != Offline {
			return true
		}
	}
	return false
}

// usable is the placement filter: every disk not offline.
func (c *Cache) usable(i int) bool { return c.disks[i].State() != Offline }

// place is the disk placement names for key now, or nil when every disk is offline.
func (c *Cache) place(key string) *disk {
	if i := first(key, c.seeds, c.wts, c.usable); i >= 0 {
		return c.disks[i]
	}
	return nil
}

// Get returns the entry for key, opened, or an error wrapping ErrMiss. Close the
// Entry when done.
func (c *Cache) Get(ctx context.Context, key string) (*Entry, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	ent, err := c.get(key)
	if errors.Is(err, ErrMiss) {
		if d := c.place(key); d != nil {
			d.misses.Add(1)
		}
	}
	return ent, err
}

func (c *Cache) get(key string) (*Entry, error) {
	c.mu.Lock()
	e := c.index[key]
	if e != nil {
		e.d.ev.Hit(key)
	}
	c.mu.Unlock()
	if e == nil {
		return nil, fmt.Errorf("edgecache: get %q: %w", key, ErrMiss)
	}
	ent, err := c.open(e)
	if err != nil {
		return nil, err
	}
	e.d.hits.Add(1)
	return ent, nil
}

// open hands out an Entry over e: an idle file from the open-file cache or a new
// one, its body checked once (first open since start; fills are hashed on the way
// in) and the verdict kept, because hashing a whole entry on every hit would cost
// more than serving it.
func (c *Cache) open(e *entry) (*Entry, error) {
	f := c.fds.take(e)
	if f == nil {
		var err error
		f, err = c.fs.Open(e.d.bodyPath(e.name))
		if err != nil {
			if isNotExist(err) {
				// Evicted under us, or the whole folder is gone: tell them apart.
				if _, serr := c.fs.Stat(filepath.Join(e.d.root, tmpDir)); serr != nil {
					c.ioError(e.d, "stat", serr)
				}
			} else {
				c.ioError(e.d, "open", err)
			}
			c.forget(e, isNotExist(err))
			return nil, fmt.Errorf("edgecache: open %q on %s: %w: %w", e.key, e.d.root, ErrMiss, err)
		}
		c.fds.opens.Add(1)
	}
	if e.verified.Load() {
		// One byte by pread (page cache, well under a microsecond) before handing
		// the file out: a disk whose reads fail is caught here, while the request
		// can still be answered from another disk, instead of mid-response.
		var one [1]byte
		if _, err := f.ReadAt(one[:], 0); err != nil && e.size > 0 {
			f.Close()
			c.ioError(e.d, "read", err)
			c.forget(e, false)
			return nil, fmt.Errorf("edgecache: read %q on %s: %w: %w", e.key, e.d.root, ErrMiss, err)
		}
	} else {
		if err := check(e, f); err != nil {
			f.Close()
			if errors.Is(err, ErrCorrupt) {
				c.log.Warn("cache entry corrupt; dropped", "key", e.key, "err", err)
				c.forget(e, true)
			} else {
				c.ioError(e.d, "read", err)
				c.forget(e, false)
			}
			return nil, fmt.Errorf("edgecache: open %q: %w: %w", e.key, ErrMiss, err)
		}
		e.verified.Store(true)
	}
	return &Entry{File: f, Key: e.key, Size: e.size, ModTime: e.created, Meta: e.meta, Disk: e.d.root, c: c, e: e}, nil
}

// GetOrFill returns the entry for key, filling it on a miss: one fill per key
// however many callers wait (each waiter may give up on its own ctx). The fill is
// written to the disk placement names, or the next one when that disk fails. An
// error wrapping ErrUnavailable or ErrTooLarge means "serve it uncached"; other
// errors are the fill's own, wrapped.
func (c *Cache) GetOrFill(ctx context.Context, key string, fill FillFunc) (*Entry, error) {
	ent, err := c.Get(ctx, key)
	for attempt := 0; ; attempt++ {
		if err == nil || !errors.Is(err, ErrMiss) {
			return ent, err
		}
		if c.cfg.ReadOnly {
			return nil, fmt.Errorf("edgecache: fill %q: %w", key, ErrReadOnly)
		}
		if attempt == 3 { // each round lost its entry to eviction before opening it
			return nil, fmt.Errorf("edgecache: fill %q: evicted before it could be served: %w", key, ErrUnavailable)
		}
		ch := c.flight.DoChan(key, func() (any, error) {
			return c.fill(context.WithoutCancel(ctx), key, fill)
		})
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("edgecache: wait for fill of %q: %w", key, ctx.Err())
		case r := <-ch:
			if r.Err != nil {
				return nil, r.Err
			}
			ent, err = c.open(r.Val.(*entry))
		}
	}
}

// fill runs inside the flight: look again, then write to the first disk that takes it.
func (c *Cache) fill(ctx context.Context, key string, fill FillFunc) (*entry, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	c.mu.Lock()
	e := c.index[key]
	c.mu.Unlock()
	if e != nil {
		return e, nil
	}
	var last error
	for _, i := range Rank(key, c.seeds, c.wts, c.usable) {
		d := c.disks[i]
		if d.State() == Offline {
			continue
		}
		e, err := c.fillOnce(ctx, d, key, fill, time.Time{})
		if err == nil {
			c.insert(e)
			return e, nil
		}
		var df *diskFault
		if !errors.As(err, &df) {
			return nil, err
		}
		c.log.Warn("cache fill failed on disk; trying the next", "key", key, "disk", d.root, "err", err)
		last = err
	}
	if last == nil {
		return nil, fmt.Errorf("edgecache: fill %q: every disk offline: %w", key, ErrUnavailable)
	}
	return nil, fmt.Errorf("edgecache: fill %q: %w (last: %v)", key, ErrUnavailable, last)
}

// insert indexes a committed entry, replacing any other copy of its key and
// evicting what its disk's budget no longer holds.
func (c *Cache) insert(e *entry) {
	var gone []*entry
	c.mu.Lock()
	if e.d.State() == Offline {
		c.mu.Unlock()
		c.fds.kill(e) // its disk went offline meanwhile; the rescan will find it
		return
	}
	if old := c.index[e.key]; old != nil {
		old.d.ev.Remove(old.key)
		gone = append(gone, old)
	}
	c.index[e.key] = e
	gone = append(gone, c.evictLocked(e.d, e.d.ev.Add(e.key, e.size))...)
	c.mu.Unlock()
	c.unlinkAll(gone)
}

// evictLocked removes evicted keys from the index; c.mu must be held.
func (c *Cache) evictLocked(d *disk, keys []string) []*entry {
	out := make([]*entry, 0, len(keys))
	for _, k := range keys {
		if old := c.index[k]; old != nil && old.d == d {
			delete(c.index, k)
			out = append(out, old)
			d.evictions.Add(1)
			d.evicted.Add(old.size)
		}
	}
	return out
}

// unlinkAll drops entries' open files and removes their files (outside c.mu:
// syscalls). Each fill has its own file name, so this never touches a newer fill.
func (c *Cache) unlinkAll(es []*entry) {
	for _, e := range es {
		c.fds.kill(e)
		if c.cfg.ReadOnly {
			continue
		}
		c.unlink(e.d, e.name)
	}
}

// unlink removes a body then its sidecar (a sidecar alone is a harmless orphan).
func (c *Cache) unlink(d *disk, name string) {
	for _, p := range []string{d.bodyPath(name), d.metaPath(name)} {
		if err := c.fs.Remove(p); err != nil && !isNotExist(err) {
			c.ioError(d, "remove", err)
			return
		}
	}
}

// forget takes e out of the index (if it is still there) and, with unlink, off
// its disk.
func (c *Cache) forget(e *entry, unlink bool) {
	c.mu.Lock()
	indexed := c.index[e.key] == e
	if indexed {
		delete(c.index, e.key)
		e.d.ev.Remove(e.key)
	}
	c.mu.Unlock()
	c.fds.kill(e)
	if indexed && unlink && !c.cfg.ReadOnly {
		c.unlink(e.d, e.name)
	}
}

// evictBudget is the budget d's Evictor keeps: none (nothing is evicted) while
// inspecting or maintaining, where the budgets given may not be the server's.
func (c *Cache) evictBudget(d *disk) int64 {
	if c.cfg.ReadOnly || c.cfg.NoEvict {
		return math.MaxInt64
	}
	return d.budget
}

// dropDisk takes an offline disk's entries out of the index; its files stay for
// the rescan when it comes back.
func (c *Cache) dropDisk(d *disk) {
	var gone []*entry
	c.mu.Lock()
	for k, e := range c.index {
		if e.d == d {
			delete(c.index, k)
			gone = append(gone, e)
		}
	}
	d.ev, _ = NewEvictor(c.cfg.Policy, c.evictBudget(d)) // the policy was validated at Open
	d.scanned.Store(false)
	c.mu.Unlock()
	for _, e := range gone {
		c.fds.kill(e)
	}
}

// Close stops background work, saves the hit counters and closes idle files.
// Entries still open stay readable until they are closed.
func (c *Cache) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	c.cancel()
	c.wg.Wait()
	var errs []error
	for _, d := range c.disks {
		if err := c.saveStats(d); err != nil {
			errs = append(errs, err)
		}
	}
	c.fds.closeAll()
	for _, d := range c.disks {
		c.unlockDisk(d)
	}
	return errors.Join(errs...)
}
