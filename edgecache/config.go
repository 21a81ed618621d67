package edgecache

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mediaedge/mediaedge/edgecache/vfs"
)

// Sentinel errors, wrapped with %w and the operation; test them with errors.Is.
var (
	// ErrMiss: the key is not in the cache (or its entry was bad and has been dropped).
	ErrMiss = errors.New("edgecache: miss")
	// ErrCorrupt: an entry failed its length or checksum check; it was removed. Errors
	// carrying ErrCorrupt from Get also carry ErrMiss.
	ErrCorrupt = errors.New("edgecache: corrupt entry")
	// ErrUnavailable: no disk could take the entry (all offline or failing at write).
	// The caller serves the result uncached.
	ErrUnavailable = errors.New("edgecache: no disk available")
	// ErrTooLarge: the entry is larger than the budget of the disk placement chose.
	// The caller serves the result uncached.
	ErrTooLarge = errors.New("edgecache: entry larger than the disk budget")
	// ErrReadOnly: a write was asked of a cache opened with Config.ReadOnly.
	ErrReadOnly = errors.New("edgecache: read-only")
	// ErrClosed: the cache has been closed.
	ErrClosed = errors.New("edgecache: closed")
	// ErrStalled: a disk write or sync took longer than Config.WriteDeadline.
	ErrStalled = errors.New("edgecache: disk write stalled past its deadline")
	// ErrInUse: Open found a cache folder locked by another process (a running
	// server or cache command). Only one process may write a folder: each one's
	// start-up scan removes the temp files it did not write.
	ErrInUse = errors.New("edgecache: cache folder in use")
)

// DefaultBudget is a disk's byte budget when the --cache-dir spec gives none.
const DefaultBudget int64 = 10 << 30

// DiskConfig is one cache folder, normally one per physical disk.
type DiskConfig struct {
	// Path is the folder. It must exist unless Config.CreateDirs is set: a missing
	// folder usually means an unmounted disk, and filling the mount point would fill
	// the root file system instead.
	Path string
	// Budget is how many bytes of entries the folder may hold. It is also the disk's
	// placement weight, so a disk twice as large receives twice the keys.
	Budget int64
}

// Policy names an eviction policy.
type Policy string

// The eviction policies. S3-FIFO is the default: bench/eviction.go measures it
// against LRU on a Zipf(0.9) trace (see doc.go for the numbers).
const (
	PolicyS3FIFO Policy = "s3fifo"
	PolicyLRU    Policy = "lru"
)

// Config configures a Cache.
type Config struct {
	// Disks are the cache folders; at least one.
	Disks []DiskConfig
	// Policy picks the eviction policy per disk.
	Policy Policy
	// FailThreshold is how many I/O errors in a row (with no successful write or
	// probe between them) take a disk from failing to offline.
	FailThreshold int
	// ProbeInterval is how often failing and offline disks are probed (a small
	// write, fsync, read back and remove); a passing probe brings a disk back online.
	ProbeInterval time.Duration
	// WriteDeadline bounds each disk write and fsync of a fill. A write that takes
	// longer is abandoned and counts as an I/O error: a stalled disk must not hold
	// requests hostage.
	WriteDeadline time.Duration
	// OpenFileCache is how many idle open files of hot entries are kept for reuse
	// (0 disables reuse: every hit opens its file).
	OpenFileCache int
	// StatsInterval is how often per-disk hit and miss counters are written to each
	// disk's stats file, so that `mediaedge cache stats` can show them offline.
	StatsInterval time.Duration
	// SyncFills fsyncs each new entry (body, sidecar, folder) before it is
	// served. Off by default: an entry is a copy of data the store keeps, and
	// entries found at start are verified (length and xxhash) on first open,
	// so one torn by a power loss is dropped and refilled, never served. Three
	// fsyncs per fill cost more than the refill they would save.
	SyncFills bool
	// CreateDirs creates missing disk folders. Off by default (see DiskConfig.Path);
	// the edge turns it on for its default ./data/cache.
	CreateDirs bool
	// ReadOnly opens the cache for inspection only: nothing on disk is created,
	// removed or written, no background probe runs. Fills return ErrReadOnly.
	// It takes no folder lock, so it can inspect the folders of a running server.
	ReadOnly bool
	// NoEvict turns eviction off: budgets still weigh placement and cap the size
	// of one entry, but no entry is removed to keep a disk within its budget.
	// The maintenance commands (cache verify, purge, rebalance) set it: they run
	// with the sizes typed on their command line (10 GiB when none is given),
	// and evicting down to those would delete what the server's budgets keep.
	// The server evicts to its own budgets at its next start.
	NoEvict bool
	// FS is the file system the disks are reached through; nil is vfs.Default.
	// Tests pass vfs.NewMem() or an errorfs wrapper.
	FS vfs.FS
}

// DefaultConfig returns a configuration with every field but Disks set.
func DefaultConfig() Config {
	return Config{
		Policy:        PolicyS3FIFO,
		FailThreshold: 3,
		ProbeInterval: 10 * time.Second,
		WriteDeadline: 10 * time.Second,
		OpenFileCache: 1024,
		StatsInterval: 10 * time.Second,
	}
}

// Validate reports every problem in c at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Disks) == 0 {
		errs = append(errs, errors.New("no cache disks"))
	}
	seen := map[string]bool{}
	for i, d := range c.Disks {
		if d.Path == "" {
			errs = append(errs, fmt.Errorf("disk %d: empty path", i))
		}
		if d.Budget <= 0 {
			errs = append(errs, fmt.Errorf("disk %d (%s): budget %d must be positive", i, d.Path, d.Budget))
		}
		p := filepath.Clean(d.Path)
		if seen[p] {
			errs = append(errs, fmt.Errorf("disk %d: %s listed twice", i, d.Path))
		}
		seen[p] = true
	}
	if c.Policy != PolicyS3FIFO && c.Policy != PolicyLRU {
		errs = append(errs, fmt.Errorf("cache-policy %q: want %q or %q", c.Policy, PolicyS3FIFO, PolicyLRU))
	}
	if c.FailThreshold < 1 {
		errs = append(errs, fmt.Errorf("cache-fail-threshold %d: must be at least 1", c.FailThreshold))
	}
	if c.ProbeInterval <= 0 {
		errs = append(errs, fmt.Errorf("cache-probe-interval %v: must be positive", c.ProbeInterval))
	}
	if c.WriteDeadline <= 0 {
		errs = append(errs, fmt.Errorf("cache-write-deadline %v: must be positive", c.WriteDeadline))
	}
	if c.OpenFileCache < 0 {
		errs = append(errs, fmt.Errorf("cache-open-files %d: must not be negative", c.OpenFileCache))
	}
	if c.StatsInterval <= 0 {
		errs = append(errs, fmt.Errorf("cache-stats-interval %v: must be positive", c.StatsInterval))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("edgecache config: %w", err)
	}
	return nil
}

// ParseDisk parses a --cache-dir value, "PATH[:SIZE]", where SIZE is a byte count
// with an optional unit: B, KB/MB/GB/TB (powers of 1000), KiB/MiB/GiB/TiB or
// K/M/G/T (powers of 1024, as nginx reads them). Without SIZE the budget is
// DefaultBudget. A path that itself contains ':' is kept whole when what follows
// the last ':' is not a size.
func ParseDisk(spec string) (DiskConfig, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return DiskConfig{}, errors.New("parse cache dir: empty")
	}
	if i := strings.LastIndexByte(spec, ':'); i >= 0 {
		if n, err := ParseSize(spec[i+1:]); err == nil {
			if spec[:i] == "" {
				return DiskConfig{}, fmt.Errorf("parse cache dir %q: empty path", spec)
			}
			if n <= 0 {
				return DiskConfig{}, fmt.Errorf("parse cache dir %q: size must be positive", spec)
			}
			return DiskConfig{Path: spec[:i], Budget: n}, nil
		}
	}
	return DiskConfig{Path: spec, Budget: DefaultBudget}, nil
}

var units = []struct {
	suffix string
	mult   float64
}{ // longest suffixes first so "GiB" is not read as "B"
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40},
	{"b", 1},
}

// ParseSize parses "500MB", "10GiB", "1.5G" or a plain byte count.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) || v*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("parse size %q: want a number with an optional unit like 10GiB", s)
	}
	return int64(v * mult), nil
}

// FormatSize renders n bytes with a binary unit, e.g. "1.5 GiB".
func FormatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
