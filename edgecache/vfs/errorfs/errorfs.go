// Package errorfs wraps a vfs.FS and injects faults, modelled on pebble's
// vfs/errorfs: every operation is described as an Op and handed to an Injector,
// which may return an error (EIO, ENOSPC, ...), block (a stalled disk), or let it
// pass. Tests use it to make one cache disk fail at runtime.
package errorfs

import (
	"io"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mediaedge/mediaedge/edgecache/vfs"
)

// OpKind names a file-system operation.
type OpKind int

// The operations an Injector sees.
const (
	OpCreate OpKind = iota
	OpOpen
	OpRemove
	OpRename
	OpMkdirAll
	OpList
	OpStat
	OpSyncDir
	OpRead
	OpWrite
	OpSync
)

var opNames = [...]string{"create", "open", "remove", "rename", "mkdirall", "list", "stat", "syncdir", "read", "write", "sync"}

func (k OpKind) String() string {
	if int(k) < len(opNames) {
		return opNames[k]
	}
	return "unknown"
}

// IsWrite reports whether the operation changes the disk.
func (k OpKind) IsWrite() bool {
	switch k {
	case OpCreate, OpRemove, OpRename, OpMkdirAll, OpSyncDir, OpWrite, OpSync:
		return true
	}
	return false
}

// Op is one operation: its kind and the path it touches (for a file handle, the
// path it was opened with).
type Op struct {
	Kind OpKind
	Path string
}

// Injector decides the fate of each operation: nil lets it run.
type Injector interface {
	MaybeError(op Op) error
}

// InjectorFunc adapts a function to Injector.
type InjectorFunc func(Op) error

// MaybeError calls f.
func (f InjectorFunc) MaybeError(op Op) error { return f(op) }

// Toggle injects Err into every operation under Prefix that Match accepts (all
// when Match is nil), while switched on. It is safe for concurrent use.
type Toggle struct {
	Prefix string
	Err    error
	Match  func(Op) bool
	on     atomic.Bool
	hits   atomic.Int64
}

// On starts injecting.
func (t *Toggle) On() { t.on.Store(true) }

// Off stops injecting.
func (t *Toggle) Off() { t.on.Store(false) }

// Injected is how many operations have failed so far.
func (t *Toggle) Injected() int64 { return t.hits.Load() }

// MaybeError implements Injector.
func (t *Toggle) MaybeError(op Op) error {
	if !t.on.Load() || !strings.HasPrefix(op.Path, t.Prefix) {
		return nil
	}
	if t.Match != nil && !t.Match(op) {
		return nil
	}
	t.hits.Add(1)
	return &fs.PathError{Op: op.Kind.String(), Path: op.Path, Err: t.Err}
}

// Stall blocks every matching operation under Prefix while on, until Release:
// a disk whose writes hang. Blocked operations then fail with Err.
type Stall struct {
	Prefix string
	Match  func(Op) bool
	Err    error

	mu      sync.Mutex // guards on and release
	on      bool
	release chan struct{}
}

// On starts stalling.
func (s *Stall) On() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.on {
		s.on = true
		s.release = make(chan struct{})
	}
}

// Release stops stalling and lets blocked operations return Err.
func (s *Stall) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.on {
		s.on = false
		close(s.release)
	}
}

// MaybeError implements Injector.
func (s *Stall) MaybeError(op Op) error {
	if !strings.HasPrefix(op.Path, s.Prefix) || (s.Match != nil && !s.Match(op)) {
		return nil
	}
	s.mu.Lock()
	on, ch := s.on, s.release
	s.mu.Unlock()
	if !on {
		return nil
	}
	<-ch
	return &fs.PathError{Op: op.Kind.String(), Path: op.Path, Err: s.Err}
}

// Any runs each injector in turn and returns the first error.
func Any(injs ...Injector) Injector {
	return InjectorFunc(func(op Op) error {
		for _, in := range injs {
			if err := in.MaybeError(op); err != nil {
				return err
			}
		}
		return nil
	})
}

// FS is a vfs.FS whose operations pass through an Injector first.
type FS struct {
	fs  vfs.FS
	inj Injector
}

// Wrap returns fs with faults from inj.
func Wrap(fs vfs.FS, inj Injector) *FS { return &FS{fs: fs, inj: inj} }

func (e *FS) check(k OpKind, path string) error { return e.inj.MaybeError(Op{Kind: k, Path: path}) }

// Create implements vfs.FS.
func (e *FS) Create(name string) (vfs.File, error) {
	if err := e.check(OpCreate, name); err != nil {
		return nil, err
	}
	f, err := e.fs.Create(name)
	if err != nil {
		return nil, err
	}
	return &file{File: f, path: name, fs: e}, nil
}

// Open implements vfs.FS.
func (e *FS) Open(name string) (vfs.File, error) {
	if err := e.check(OpOpen, name); err != nil {
		return nil, err
	}
	f, err := e.fs.Open(name)
	if err != nil {
		return nil, err
	}
	return &file{File: f, path: name, fs: e}, nil
}

// Remove implements vfs.FS.
func (e *FS) Remove(name string) error {
	if err := e.check(OpRemove, name); err != nil {
		return err
	}
	return e.fs.Remove(name)
}

// Rename implements vfs.FS.
func (e *FS) Rename(oldname, newname string) error {
	if err := e.check(OpRename, newname); err != nil {
		return err
	}
	return e.fs.Rename(oldname, newname)
}

// MkdirAll implements vfs.FS.
func (e *FS) MkdirAll(dir string, perm fs.FileMode) error {
	if err := e.check(OpMkdirAll, dir); err != nil {
		return err
	}
	return e.fs.MkdirAll(dir, perm)
}

// List implements vfs.FS.
func (e *FS) List(dir string) ([]string, error) {
	if err := e.check(OpList, dir); err != nil {
		return nil, err
	}
	return e.fs.List(dir)
}

// Stat implements vfs.FS.
func (e *FS) Stat(name string) (fs.FileInfo, error) {
	if err := e.check(OpStat, name); err != nil {
		return nil, err
	}
	return e.fs.Stat(name)
}

// SyncDir implements vfs.FS.
func (e *FS) SyncDir(dir string) error {
	if err := e.check(OpSyncDir, dir); err != nil {
		return err
	}
	return e.fs.SyncDir(dir)
}

// TryLock implements vfs.Locker by the wrapped FS's (no faults: a lock is
// taken once per folder, at open, and is not what these tests break).
func (e *FS) TryLock(name string) (io.Closer, error) { return vfs.TryLock(e.fs, name) }

type file struct {
	vfs.File
	path string
	fs   *FS
}

func (f *file) Read(p []byte) (int, error) {
	if err := f.fs.check(OpRead, f.path); err != nil {
		return 0, err
	}
	return f.File.Read(p)
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.check(OpRead, f.path); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *file) Write(p []byte) (int, error) {
	if err := f.fs.check(OpWrite, f.path); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *file) Sync() error {
	if err := f.fs.check(OpSync, f.path); err != nil {
		return err
	}
	return f.File.Sync()
}
