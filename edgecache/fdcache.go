package edgecache

import (
	"container/list"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediaedge/mediaedge/edgecache/vfs"
)

// Entry is an open cache entry. Serve it with
//
//	http.ServeContent(w, r, "", e.ModTime, e.File)
//
// On a real disk File is the *os.File itself, so the body goes out by sendfile.
// The File's offset is the Entry's own (no other request shares it). Close the
// Entry when done: its file goes back to the open-file cache for the next hit.
// An Entry stays readable after its entry is evicted or purged; the file is
// unlinked but the open handle keeps the bytes until Close.
type Entry struct {
	File    vfs.File
	Key     string
	Size    int64
	ModTime time.Time
	Meta    Meta
	// Disk is the path of the folder the entry lives in.
	Disk string

	c      *Cache
	e      *entry
	closed atomic.Bool
}

// Close returns the file to the open-file cache (or closes it). It is safe to call
// more than once.
func (e *Entry) Close() error {
	if e == nil || !e.closed.CompareAndSwap(false, true) {
		return nil
	}
	e.c.fds.put(e.e, e.File)
	return nil
}

// maxIdlePerEntry bounds the idle files kept for one entry: enough for the few
// concurrent requests a hot key sees between two releases, without one key
// holding the whole cache.
const maxIdlePerEntry = 4

// fdCache keeps idle open files of entries, most recently released first, so a
// hot entry is served without open(2). A file is either checked out by exactly one
// Entry (which owns its offset: ServeContent seeks and reads, and sendfile uses
// the file offset, so two requests can never share a handle) or idle here. A dead
// entry (evicted, purged, its disk offline) gets no more idle files: its
// checked-out files are closed when their Entry closes. Hand-written rather than
// golang-lru because an entry may have several idle files and is dropped as a
// group.
type fdCache struct {
	mu     sync.Mutex // guards lru, and idle and dead of every entry
	lru    list.List  // of *idleFile; front is the most recently released
	max    int
	closed bool
	opens  atomic.Int64 // files opened (cache misses of this cache)
	reuses atomic.Int64 // idle files handed out again
}

type idleFile struct {
	e  *entry
	f  vfs.File
	el *list.Element
}

// take hands out an idle file of e, rewound, or nil.
func (c *fdCache) take(e *entry) vfs.File {
	c.mu.Lock()
	n := len(e.idle)
	if n == 0 {
		c.mu.Unlock()
		return nil
	}
	it := e.idle[n-1]
	e.idle = e.idle[:n-1]
	c.lru.Remove(it.el)
	c.mu.Unlock()
	if _, err := it.f.Seek(0, io.SeekStart); err != nil {
		it.f.Close()
		return nil
	}
	c.reuses.Add(1)
	return it.f
}

// put takes f back from a closed Entry.
func (c *fdCache) put(e *entry, f vfs.File) {
	var toClose []vfs.File
	c.mu.Lock()
	switch {
	case c.closed || e.dead || c.max == 0 || len(e.idle) >= maxIdlePerEntry:
		toClose = append(toClose, f)
	default:
		it := &idleFile{e: e, f: f}
		it.el = c.lru.PushFront(it)
		e.idle = append(e.idle, it)
		for c.lru.Len() > c.max {
			old := c.lru.Remove(c.lru.Back()).(*idleFile)
			old.e.removeIdle(old)
			toClose = append(toClose, old.f)
		}
	}
	c.mu.Unlock()
	for _, f := range toClose {
		f.Close()
	}
}

// removeIdle drops it from e.idle; fdCache.mu must be held.
func (e *entry) removeIdle(it *idleFile) {
	for i, x := range e.idle {
		if x == it {
			e.idle = append(e.idle[:i], e.idle[i+1:]...)
			return
		}
	}
}

// kill marks e dead and closes its idle files.
func (c *fdCache) kill(e *entry) {
	c.mu.Lock()
	e.dead = true
	idle := e.idle
	e.idle = nil
	for _, it := range idle {
		c.lru.Remove(it.el)
	}
	c.mu.Unlock()
	for _, it := range idle {
		it.f.Close()
	}
}

// closeAll closes every idle file; later puts close their files.
func (c *fdCache) closeAll() {
	c.mu.Lock()
	c.closed = true
	var fs []vfs.File
	for el := c.lru.Front(); el != nil; el = el.Next() {
		it := el.Value.(*idleFile)
		it.e.idle = nil
		fs = append(fs, it.f)
	}
	c.lru.Init()
	c.mu.Unlock()
	for _, f := range fs {
		f.Close()
	}
}

// idleCount is the number of idle files held.
func (c *fdCache) idleCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
