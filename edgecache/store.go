package edgecache

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/mediaedge/mediaedge/edgecache/vfs"
)

// Meta is what a fill hands back besides the bytes; it is stored with the entry
// and returned on every hit.
type Meta struct {
	// ContentType is served as Content-Type.
	ContentType string
	// ETag is the entity tag the caller computed (quoted as it will be sent).
	ETag string
	// Extra holds other small response headers the caller wants back, e.g.
	// Content-Disposition.
	Extra map[string]string
}

// metaFile is the sidecar stored next to every body.
type metaFile struct {
	V       int       `json:"v"`
	Key     string    `json:"key"`
	Size    int64     `json:"size"`
	XXH64   string    `json:"xxh64"`
	Created time.Time `json:"created"`
	Meta
}

const metaVersion = 1

// entry is the index record of one entry on disk.
type entry struct {
	key     string
	d       *disk
	name    string // file name, "KEYHASH-GEN"
	gen     uint64
	size    int64
	sum     uint64 // xxhash64 of the body
	meta    Meta
	created time.Time

	verified atomic.Bool // body checked against size and sum since it was indexed

	// Guarded by fdCache.mu.
	idle []*idleFile
	dead bool
}

// fileName is the name of a fill of key: the key hash spreads files over the
// fan-out folders, the generation makes every fill's name unique, so a delayed
// unlink of an evicted entry can never remove a newer fill of the same key.
func fileName(key string, gen uint64) string {
	return fmt.Sprintf("%016x-%016x", keyHash(key), gen)
}

// parseName returns the generation of a body, meta, temp or probe file name.
func parseName(name string) (gen uint64, ok bool) {
	name = strings.TrimSuffix(name, metaExt)
	i := strings.LastIndexByte(name, '-')
	if i < 0 || len(name)-i-1 != 16 {
		return 0, false
	}
	g, err := strconv.ParseUint(name[i+1:], 16, 64)
	return g, err == nil
}

// diskFault marks a fill attempt that failed because of the disk, not the fill:
// the next disk is tried.
type diskFault struct{ err error }

func (f *diskFault) Error() string { return f.err.Error() }
func (f *diskFault) Unwrap() error { return f.err }

// runDeadline runs fn and gives up after d with ErrStalled. fn keeps running; when
// it finally returns, abandon (if not nil) receives its result to clean up.
func runDeadline[T any](d time.Duration, fn func() (T, error), abandon func(T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fn()
		done <- result{v, err}
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case r := <-done:
		return r.v, r.err
	case <-t.C:
		if abandon != nil {
			go func() {
				r := <-done
				abandon(r.v, r.err)
			}()
		}
		var zero T
		return zero, ErrStalled
	}
}

func (c *Cache) withDeadline(fn func() error) error {
	_, err := runDeadline(c.cfg.WriteDeadline, func() (struct{}, error) { return struct{}{}, fn() }, nil)
	return err
}

// fillWriter is the io.Writer a fill streams into. It buffers into memory it owns
// and hands each full buffer to the disk under the write deadline: a write that
// stalls is abandoned, and since its buffer is never reused the stalled write
// cannot race with the fill. It hashes and counts what passes through.
type fillWriter struct {
	c   *Cache
	f   vfs.File
	buf []byte
	n   int64
	h   *xxhash.Digest
	err error // sticky: the disk failed
}

const fillBufSize = 64 << 10

func (w *fillWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	done := 0
	for len(p) > 0 {
		if w.buf == nil {
			w.buf = make([]byte, 0, fillBufSize)
		}
		k := min(cap(w.buf)-len(w.buf), len(p))
		w.buf = append(w.buf, p[:k]...)
		w.h.Write(p[:k])
		w.n += int64(k)
		p = p[k:]
		done += k
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return done, err
			}
		}
	}
	return done, nil
}

func (w *fillWriter) flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == 0 {
		return nil
	}
	buf := w.buf
	w.buf = nil // never reuse: a stalled write may still read it
	if err := w.c.withDeadline(func() error { _, err := w.f.Write(buf); return err }); err != nil {
		w.err = fmt.Errorf("write: %w", err)
		return w.err
	}
	w.buf = buf[:0]
	return nil
}

// fillOnce runs fill into a temp file on d and commits it: fsync the body, write
// and fsync the sidecar, rename the sidecar into place, rename the body into place
// (the commit point), fsync the folder. A crash before the body's rename leaves
// only temp files and at worst a sidecar without a body, both removed by the
// next scan; a body is never visible before its sidecar and both are complete.
//
// created is the entry's time (zero: now); a move keeps the original.
func (c *Cache) fillOnce(ctx context.Context, d *disk, key string, fill FillFunc, created time.Time) (*entry, error) {
	gen := c.gen.Add(1)
	name := fileName(key, gen)
	tmpBody, tmpMeta := d.tmpPath(name), d.tmpPath(name+metaExt)
	finalBody, finalMeta := d.bodyPath(name), d.metaPath(name)
	closeRemove := func(f vfs.File, err error) {
		if f != nil {
			f.Close()
			c.fs.Remove(tmpBody)
		}
	}
	f, err := runDeadline(c.cfg.WriteDeadline, func() (vfs.File, error) { return c.fs.Create(tmpBody) }, closeRemove)
	if err != nil {
		c.ioError(d, "create", err)
		return nil, &diskFault{fmt.Errorf("create %s: %w", tmpBody, err)}
	}
	cleanup := func() {
		// In the background: on a stalled disk these calls may hang too.
		go func() {
			f.Close()
			for _, p := range []string{tmpBody, tmpMeta, finalMeta} {
				c.fs.Remove(p)
			}
		}()
	}
	w := &fillWriter{c: c, f: f, h: xxhash.New()}
	meta, ferr := fill(ctx, w)
	if ferr == nil {
		ferr = w.flush()
	}
	if w.err != nil {
		cleanup()
		c.ioError(d, "write", w.err)
		return nil, &diskFault{fmt.Errorf("fill %s: %w", tmpBody, w.err)}
	}
	if ferr != nil {
		cleanup()
		return nil, fmt.Errorf("edgecache: fill %q: %w", key, ferr)
	}
	if w.n > d.budget {
		cleanup()
		return nil, fmt.Errorf("edgecache: fill %q: %d bytes on %s (budget %d): %w", key, w.n, d.root, d.budget, ErrTooLarge)
	}
	if created.IsZero() {
		created = time.Now().UTC().Truncate(time.Second)
	}
	mf := metaFile{V: metaVersion, Key: key, Size: w.n, XXH64: strconv.FormatUint(w.h.Sum64(), 16), Created: created, Meta: meta}
	mb, err := json.Marshal(mf)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("edgecache: fill %q: encode sidecar: %w", key, err)
	}
	commit := func() error {
		if c.cfg.SyncFills {
			if err := vfs.Sync(f); err != nil {
				return fmt.Errorf("sync %s: %w", tmpBody, err)
			}
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("close %s: %w", tmpBody, err)
		}
		mfile, err := c.fs.Create(tmpMeta)
		if err != nil {
			return fmt.Errorf("create %s: %w", tmpMeta, err)
		}
		_, err = mfile.Write(mb)
		if err == nil && c.cfg.SyncFills {
			err = vfs.Sync(mfile)
		}
		if cerr := mfile.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", tmpMeta, err)
		}
		if err := c.fs.Rename(tmpMeta, finalMeta); err != nil {
			return fmt.Errorf("commit %s: %w", finalMeta, err)
		}
		if err := c.fs.Rename(tmpBody, finalBody); err != nil {
			return fmt.Errorf("commit %s: %w", finalBody, err)
		}
		if c.cfg.SyncFills {
			if err := c.fs.SyncDir(filepath.Dir(finalBody)); err != nil {
				return fmt.Errorf("sync dir of %s: %w", finalBody, err)
			}
		}
		return nil
	}
	if err := c.withDeadline(commit); err != nil {
		cleanup()
		go c.fs.Remove(finalBody)
		if c.tmpRemoved(d, finalBody, err) {
			// Not the disk's fault: counting it would take a healthy disk offline
			// (and empty its part of the index) after FailThreshold such fills.
			// The fill is lost; the caller serves it uncached.
			c.log.Warn("cache fill's temp file removed by another process; not cached", "key", key, "disk", d.root, "err", err)
			return nil, fmt.Errorf("edgecache: commit %q on %s: temp file removed by another process: %w: %w", key, d.root, ErrUnavailable, err)
		}
		c.ioError(d, "commit", err)
		return nil, &diskFault{fmt.Errorf("commit %q on %s: %w", key, d.root, err)}
	}
	c.writeOK(d)
	e := &entry{key: key, d: d, name: name, gen: gen, size: w.n, sum: w.h.Sum64(), meta: meta, created: created}
	e.verified.Store(true) // hashed on the way in
	return e, nil
}

// tmpRemoved reports whether a commit failed because our own temp file was
// gone (another process removed it: a second writer's scan, an operator's
// rm), as opposed to the disk failing: the error is ENOENT, yet both folders
// the renames touch are there. A missing folder is an unmounted or failed disk.
func (c *Cache) tmpRemoved(d *disk, finalBody string, err error) bool {
	if !isNotExist(err) {
		return false
	}
	for _, dir := range []string{d.tmpPath(""), filepath.Dir(finalBody)} {
		if fi, serr := c.fs.Stat(dir); serr != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

// readMeta reads and checks a sidecar.
func (c *Cache) readMeta(d *disk, name string) (metaFile, error) {
	var mf metaFile
	f, err := c.fs.Open(d.metaPath(name))
	if err != nil {
		return mf, err
	}
	defer f.Close()
	if err := json.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&mf); err != nil {
		return mf, fmt.Errorf("decode %s: %w: %w", d.metaPath(name), ErrCorrupt, err)
	}
	if mf.V != metaVersion || mf.Key == "" || mf.Size < 0 || fileName(mf.Key, 0)[:16] != name[:16] {
		return mf, fmt.Errorf("sidecar %s: %w", d.metaPath(name), ErrCorrupt)
	}
	if _, err := strconv.ParseUint(mf.XXH64, 16, 64); err != nil {
		return mf, fmt.Errorf("sidecar %s checksum: %w", d.metaPath(name), ErrCorrupt)
	}
	return mf, nil
}

func entryFromMeta(d *disk, name string, gen uint64, mf metaFile) *entry {
	sum, _ := strconv.ParseUint(mf.XXH64, 16, 64)
	return &entry{key: mf.Key, d: d, name: name, gen: gen, size: mf.Size, sum: sum, meta: mf.Meta, created: mf.Created}
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// check reads the whole body through f (by ReadAt, leaving f's offset alone) and
// compares its length and checksum with the sidecar's. It returns ErrCorrupt for a
// mismatch and the I/O error for a failed read.
func check(e *entry, f vfs.File) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	h := xxhash.New()
	n, err := io.CopyBuffer(h, io.NewSectionReader(f, 0, e.size+1), *bp)
	if err != nil {
		return fmt.Errorf("read %s: %w", e.d.bodyPath(e.name), err)
	}
	if n != e.size {
		return fmt.Errorf("%s: length %d, sidecar says %d: %w", e.d.bodyPath(e.name), n, e.size, ErrCorrupt)
	}
	if h.Sum64() != e.sum {
		return fmt.Errorf("%s: checksum mismatch: %w", e.d.bodyPath(e.name), ErrCorrupt)
	}
	return nil
}
