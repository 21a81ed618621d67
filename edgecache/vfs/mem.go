package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// NewMem returns an empty in-memory file system. Like Linux, a removed or replaced
// file stays readable through handles opened before; a crash is not modelled (every
// write is "durable" at once), which is what the fault-injection tests want.
func NewMem() FS {
	return &memFS{root: &memNode{dir: map[string]*memNode{}, mod: time.Now()}}
}

type memFS struct {
	mu    sync.Mutex // guards the tree (dir maps) of every node, and locks
	root  *memNode
	locks map[string]bool // cleaned paths locked by TryLock
}

type memNode struct {
	dir map[string]*memNode // nil for a regular file

	mu   sync.RWMutex // guards data and mod of a regular file
	data []byte
	mod  time.Time
}

func (m *memFS) split(name string) []string {
	name = filepath.ToSlash(filepath.Clean(name))
	var parts []string
	for _, p := range strings.Split(name, "/") {
		if p != "" && p != "." {
			parts = append(parts, p)
		}
	}
	return parts
}

// lookup walks to name; m.mu must be held.
func (m *memFS) lookup(name string) (*memNode, error) {
	n := m.root
	for _, p := range m.split(name) {
		if n.dir == nil {
			return nil, syscallNotDir(name)
		}
		c, ok := n.dir[p]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		n = c
	}
	return n, nil
}

// parent returns the directory holding name and the base name; m.mu must be held.
func (m *memFS) parent(name string) (*memNode, string, error) {
	parts := m.split(name)
	if len(parts) == 0 {
		return nil, "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	dir, err := m.lookup(strings.Join(parts[:len(parts)-1], "/"))
	if err != nil {
		return nil, "", err
	}
	if dir.dir == nil {
		return nil, "", syscallNotDir(name)
	}
	return dir, parts[len(parts)-1], nil
}

func syscallNotDir(name string) error {
	return &fs.PathError{Op: "open", Path: name, Err: syscall.ENOTDIR}
}

func (m *memFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent(name)
	if err != nil {
		return nil, err
	}
	if _, ok := dir.dir[base]; ok {
		return nil, &fs.PathError{Op: "create", Path: name, Err: fs.ErrExist}
	}
	n := &memNode{mod: time.Now()}
	dir.dir[base] = n
	return &memFile{n: n, name: base, write: true}, nil
}

func (m *memFS) Open(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(name)
	if err != nil {
		return nil, err
	}
	return &memFile{n: n, name: filepath.Base(name)}, nil
}

func (m *memFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent(name)
	if err != nil {
		return err
	}
	n, ok := dir.dir[base]
	if !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if len(n.dir) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: errors.New("directory not empty")}
	}
	delete(dir.dir, base)
	return nil
}

func (m *memFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	od, ob, err := m.parent(oldname)
	if err != nil {
		return err
	}
	n, ok := od.dir[ob]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	nd, nb, err := m.parent(newname)
	if err != nil {
		return err
	}
	if old, ok := nd.dir[nb]; ok && old.dir != nil {
		return &fs.PathError{Op: "rename", Path: newname, Err: fs.ErrExist}
	}
	delete(od.dir, ob)
	nd.dir[nb] = n
	return nil
}

func (m *memFS) MkdirAll(dir string, _ fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.root
	for _, p := range m.split(dir) {
		c, ok := n.dir[p]
		if !ok {
			c = &memNode{dir: map[string]*memNode{}, mod: time.Now()}
			n.dir[p] = c
		} else if c.dir == nil {
			return syscallNotDir(dir)
		}
		n = c
	}
	return nil
}

func (m *memFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(dir)
	if err != nil {
		return nil, err
	}
	if n.dir == nil {
		return nil, syscallNotDir(dir)
	}
	names := make([]string, 0, len(n.dir))
	for k := range n.dir {
		names = append(names, k)
	}
	sort.Strings(names)
	return names, nil
}

func (m *memFS) Stat(name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(name)
	if err != nil {
		return nil, err
	}
	return n.info(filepath.Base(name)), nil
}

func (m *memFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(dir)
	if err != nil {
		return err
	}
	if n.dir == nil {
		return syscallNotDir(dir)
	}
	return nil
}

// TryLock is a lock table of this file system: two opens of one folder in a
// test conflict as they would on disk. The holder is always this process.
func (m *memFS) TryLock(name string) (io.Closer, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent(name)
	if err != nil {
		return nil, err
	}
	if m.locks[name] {
		return nil, &LockedError{Path: name, PID: os.Getpid()}
	}
	if _, ok := dir.dir[base]; !ok {
		dir.dir[base] = &memNode{mod: time.Now()}
	}
	if m.locks == nil {
		m.locks = map[string]bool{}
	}
	m.locks[name] = true
	return &memLock{m: m, name: name}, nil
}

type memLock struct {
	m    *memFS
	name string
	once sync.Once
}

func (l *memLock) Close() error {
	l.once.Do(func() {
		l.m.mu.Lock()
		delete(l.m.locks, l.name)
		l.m.mu.Unlock()
	})
	return nil
}

func (n *memNode) info(name string) fs.FileInfo {
	if n.dir != nil {
		return memInfo{name: name, dir: true, mod: n.mod}
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	return memInfo{name: name, size: int64(len(n.data)), mod: n.mod}
}

type memInfo struct {
	name string
	size int64
	dir  bool
	mod  time.Time
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) ModTime() time.Time { return i.mod }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

// memFile is an open handle with its own offset.
type memFile struct {
	n      *memNode
	name   string
	write  bool
	mu     sync.Mutex // guards off and closed
	off    int64
	closed bool
}

var errClosed = errors.New("vfs: file already closed")

func (f *memFile) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, errClosed
	}
	n, err := f.readAt(p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("vfs: negative offset %d", off)
	}
	n, err := f.readAt(p, off)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

func (f *memFile) readAt(p []byte, off int64) (int, error) {
	if f.n.dir != nil {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: errors.New("is a directory")}
	}
	f.n.mu.RLock()
	defer f.n.mu.RUnlock()
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	return copy(p, f.n.data[off:]), nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, errClosed
	}
	if !f.write {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: fs.ErrPermission}
	}
	f.n.mu.Lock()
	defer f.n.mu.Unlock()
	end := f.off + int64(len(p))
	if end > int64(len(f.n.data)) {
		grown := make([]byte, end)
		copy(grown, f.n.data)
		f.n.data = grown
	}
	copy(f.n.data[f.off:], p)
	f.off = end
	f.n.mod = time.Now()
	return len(p), nil
}

func (f *memFile) Seek(offset int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = f.off
	case io.SeekEnd:
		f.n.mu.RLock()
		base = int64(len(f.n.data))
		f.n.mu.RUnlock()
	default:
		return 0, fmt.Errorf("vfs: bad whence %d", whence)
	}
	if base+offset < 0 {
		return 0, fmt.Errorf("vfs: negative position")
	}
	f.off = base + offset
	return f.off, nil
}

func (f *memFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errClosed
	}
	f.closed = true
	return nil
}

func (f *memFile) Sync() error { return nil }

func (f *memFile) Stat() (fs.FileInfo, error) { return f.n.info(f.name), nil }
