package edgecache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediaedge/mediaedge/edgecache/vfs"
)

// DiskState is a disk's health.
type DiskState int32

// Disk states. Online and failing disks take fills and serve; an offline disk is
// out of placement and its entries are out of the index until a probe passes.
const (
	Online DiskState = iota
	Failing
	Offline
)

func (s DiskState) String() string {
	switch s {
	case Online:
		return "online"
	case Failing:
		return "failing"
	case Offline:
		return "offline"
	}
	return fmt.Sprintf("DiskState(%d)", int32(s))
}

// MarshalText writes the state's name, so DiskStats read as JSON by the
// cache CLI from a running server say "online", not 0.
func (s DiskState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state's name.
func (s *DiskState) UnmarshalText(b []byte) error {
	for _, st := range []DiskState{Online, Failing, Offline} {
		if st.String() == string(b) {
			*s = st
			return nil
		}
	}
	return fmt.Errorf("edgecache: unknown disk state %q", b)
}

// On-disk layout of one cache folder:
//
//	ROOT/tmp/                 temp files of fills in progress and probes
//	ROOT/00 .. ROOT/ff/       256 fan-out folders by the key hash's top byte
//	ROOT/ff/HHHHHHHHHHHHHHHH-GGGGGGGGGGGGGGGG        the body: exactly the bytes served
//	ROOT/ff/HHHHHHHHHHHHHHHH-GGGGGGGGGGGGGGGG.meta   the sidecar: key, length, checksum, headers
//	ROOT/stats.json           persisted hit and miss counters
//	ROOT/mediaedge.lock       flock(2)ed by the process writing the folder; holds its pid
const (
	tmpDir    = "tmp"
	metaExt   = ".meta"
	statsFile = "stats.json"
	lockFile  = "mediaedge.lock"
)

type disk struct {
	idx    int
	root   string
	budget int64
	seed   uint64

	state  atomic.Int32 // DiskState
	consec atomic.Int32 // I/O errors since the last successful write or probe
	errs   atomic.Int64 // I/O errors since start

	hmu     sync.Mutex // guards lastErr and transitions of state
	lastErr string

	hits, misses         atomic.Int64 // since start
	baseHits, baseMisses int64        // loaded from stats.json; set before background work starts
	savedHits, savedMiss atomic.Int64 // hits and misses already written to stats.json
	orphans              atomic.Int64 // orphan and stale files removed by scans
	evictions, evicted   atomic.Int64 // entries and their bytes evicted for the budget since start
	scanned              atomic.Bool  // the index holds this disk's entries
	scanning             atomic.Bool  // a scan is running

	ev Evictor // guarded by Cache.mu

	lmu  sync.Mutex // guards lock
	lock io.Closer  // the folder's lock, held from the first prepare to Close; nil before
}

func (d *disk) State() DiskState { return DiskState(d.state.Load()) }

func (d *disk) tmpPath(name string) string { return filepath.Join(d.root, tmpDir, name) }

func (d *disk) bodyPath(name string) string { return filepath.Join(d.root, name[:2], name) }

func (d *disk) metaPath(name string) string { return d.bodyPath(name) + metaExt }

// ioError records an I/O error on d: failing at once, offline after
// FailThreshold in a row.
func (c *Cache) ioError(d *disk, op string, err error) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	d.errs.Add(1)
	n := d.consec.Add(1)
	d.hmu.Lock()
	d.lastErr = fmt.Sprintf("%s: %v", op, err)
	prev := d.State()
	next := Failing
	if int(n) >= c.cfg.FailThreshold {
		next = Offline
	}
	if prev == Offline {
		d.hmu.Unlock()
		return
	}
	d.state.Store(int32(next))
	d.hmu.Unlock()
	if next == Offline {
		c.log.Warn("cache disk offline", "disk", d.root, "errors", n, "err", err)
		c.dropDisk(d)
	} else if prev == Online {
		c.log.Warn("cache disk failing", "disk", d.root, "err", err)
	}
}

// writeOK records a successful write on d: a failing disk is online again.
func (c *Cache) writeOK(d *disk) {
	if d.consec.Load() == 0 && d.State() == Online {
		return
	}
	d.hmu.Lock()
	defer d.hmu.Unlock()
	d.consec.Store(0)
	if d.State() == Failing {
		d.state.Store(int32(Online))
		c.log.Info("cache disk online", "disk", d.root)
	}
}

// prepare checks that d's folder is usable, locks it and lays it out. Read-only
// caches only check that the folder exists. A folder another process holds is
// an error wrapping ErrInUse.
func (c *Cache) prepare(d *disk) error {
	if c.cfg.CreateDirs && !c.cfg.ReadOnly {
		if err := c.fs.MkdirAll(d.root, 0o755); err != nil {
			return fmt.Errorf("create cache dir %s: %w", d.root, err)
		}
	}
	fi, err := c.fs.Stat(d.root)
	if err != nil {
		return fmt.Errorf("cache dir %s: %w", d.root, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("cache dir %s: not a directory", d.root)
	}
	if c.cfg.ReadOnly {
		// No lock, not even a shared one: the server holds its exclusive lock as
		// long as it runs, so a shared lock would make `cache stats` refuse on
		// a live server, and a read-only cache creates, writes and removes
		// nothing, so it cannot disturb the server's fills.
		return nil
	}
	if err := c.lockDisk(d); err != nil {
		return err
	}
	if err := c.fs.MkdirAll(filepath.Join(d.root, tmpDir), 0o755); err != nil {
		return fmt.Errorf("lay out cache dir %s: %w", d.root, err)
	}
	for i := 0; i < 256; i++ {
		if err := c.fs.MkdirAll(filepath.Join(d.root, fmt.Sprintf("%02x", i)), 0o755); err != nil {
			return fmt.Errorf("lay out cache dir %s: %w", d.root, err)
		}
	}
	return nil
}

// lockDisk takes d's folder lock unless it is held already. Without it, a
// second process writing the folder (a cache command run against a live
// server) would remove the temp files of the other's fills in its start-up
// scan, and their commits would fail.
func (c *Cache) lockDisk(d *disk) error {
	d.lmu.Lock()
	defer d.lmu.Unlock()
	if d.lock != nil {
		return nil
	}
	l, err := vfs.TryLock(c.fs, filepath.Join(d.root, lockFile))
	if err != nil {
		var le *vfs.LockedError
		if errors.As(err, &le) {
			who := "another process"
			if le.PID > 0 {
				who = fmt.Sprintf("pid %d", le.PID)
			}
			return fmt.Errorf("%w: %s is in use by a running server or cache command (%s)", ErrInUse, d.root, who)
		}
		if !errors.Is(err, errors.ErrUnsupported) {
			return fmt.Errorf("lock cache dir %s: %w", d.root, err)
		}
		// A file system without flock (some FUSE mounts) should not cost the
		// disk; it runs unprotected, as before locks existed.
		c.log.Warn("cache dir cannot be locked; do not run cache commands beside the server", "disk", d.root, "err", err)
		l = io.NopCloser(nil)
	}
	d.lock = l
	return nil
}

// unlockDisk releases d's folder lock (at Close).
func (c *Cache) unlockDisk(d *disk) {
	d.lmu.Lock()
	defer d.lmu.Unlock()
	if d.lock != nil {
		d.lock.Close()
		d.lock = nil
	}
}

// probe writes, syncs, reads back and removes a small file on d, within the
// write deadline.
func (c *Cache) probe(d *disk) error {
	if err := c.prepare(d); err != nil {
		return err
	}
	name := d.tmpPath(fmt.Sprintf("probe-%016x", c.gen.Add(1)))
	want := []byte("mediaedge cache probe\n")
	err := c.withDeadline(func() error {
		f, err := c.fs.Create(name)
		if err != nil {
			return err
		}
		_, werr := f.Write(want)
		if werr == nil {
			werr = vfs.Sync(f)
		}
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			c.fs.Remove(name)
			return werr
		}
		r, err := c.fs.Open(name)
		if err != nil {
			return err
		}
		got, rerr := io.ReadAll(r)
		r.Close()
		if rmErr := c.fs.Remove(name); rerr == nil {
			rerr = rmErr
		}
		if rerr == nil && string(got) != string(want) {
			rerr = errors.New("probe read back different bytes")
		}
		return rerr
	})
	if err != nil {
		return fmt.Errorf("probe %s: %w", d.root, err)
	}
	return nil
}

// Probe checks every disk that is not online now: a disk that passes is online
// again (and rescanned if it was offline); a failing disk that does not pass
// counts one more error. The background loop calls it every ProbeInterval; tests
// and readiness checks may call it directly.
func (c *Cache) Probe(ctx context.Context) {
	if c.cfg.ReadOnly {
		return
	}
	for _, d := range c.disks {
		if ctx.Err() != nil {
			return
		}
		st := d.State()
		if st == Online {
			continue
		}
		if err := c.probe(d); err != nil {
			if st == Failing {
				c.ioError(d, "probe", err)
			} else {
				d.hmu.Lock()
				d.lastErr = err.Error()
				d.hmu.Unlock()
			}
			continue
		}
		limit := c.gen.Load() + 1
		d.hmu.Lock()
		d.consec.Store(0)
		d.state.Store(int32(Online))
		d.hmu.Unlock()
		c.log.Info("cache disk online", "disk", d.root, "was", st.String())
		if st == Offline {
			c.startScan(d, limit)
		}
	}
}

func (c *Cache) probeLoop(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.Probe(ctx)
		}
	}
}

// statsRecord is the content of ROOT/stats.json: cumulative counters across runs.
type statsRecord struct {
	Hits    int64     `json:"hits"`
	Misses  int64     `json:"misses"`
	Updated time.Time `json:"updated"`
}

func (c *Cache) loadStats(d *disk) {
	f, err := c.fs.Open(filepath.Join(d.root, statsFile))
	if err != nil {
		return
	}
	defer f.Close()
	var rec statsRecord
	if err := json.NewDecoder(io.LimitReader(f, 1<<16)).Decode(&rec); err != nil {
		c.log.Warn("cache stats file unreadable; counters start at zero", "disk", d.root, "err", err)
		return
	}
	d.baseHits, d.baseMisses = rec.Hits, rec.Misses
}

// saveStats writes d's counters (temp file + rename) when they changed since the
// last save, so a process that served nothing (the CLI) never overwrites the
// server's numbers.
func (c *Cache) saveStats(d *disk) error {
	h, m := d.hits.Load(), d.misses.Load()
	if c.cfg.ReadOnly || d.State() == Offline || (h == d.savedHits.Load() && m == d.savedMiss.Load()) {
		return nil
	}
	rec, err := json.Marshal(statsRecord{Hits: d.baseHits + h, Misses: d.baseMisses + m, Updated: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("save stats of %s: %w", d.root, err)
	}
	tmp := d.tmpPath(fmt.Sprintf("stats-%016x", c.gen.Add(1)))
	err = c.withDeadline(func() error {
		f, err := c.fs.Create(tmp)
		if err != nil {
			return err
		}
		_, werr := f.Write(rec)
		if werr == nil {
			werr = vfs.Sync(f)
		}
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr == nil {
			werr = c.fs.Rename(tmp, filepath.Join(d.root, statsFile))
		}
		if werr != nil {
			c.fs.Remove(tmp)
		}
		return werr
	})
	if err != nil {
		return fmt.Errorf("save stats of %s: %w", d.root, err)
	}
	d.savedHits.Store(h)
	d.savedMiss.Store(m)
	return nil
}

func (c *Cache) statsLoop(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.StatsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, d := range c.disks {
				if err := c.saveStats(d); err != nil {
					c.log.Warn("cache stats not saved", "err", err)
				}
			}
		}
	}
}

// isNotExist reports a missing file, which for an entry is a miss, not a disk fault.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
