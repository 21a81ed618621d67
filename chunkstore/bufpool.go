package chunkstore

// bufPool keeps chunk buffers for reuse: the writers fill them from the
// network, the embedded store's reads fill them from disk.
//
// Why not sync.Pool: a sync.Pool is emptied by the garbage collector (its
// items survive one cycle as victims, then go). The 1 MiB buffers it dropped
// were freed, the runtime's scavenger gave their pages back to the kernel,
// and the next buffer made was faulted in and zeroed page by page, from the
// socket read that filled it: clear_page was 4% of the server's CPU in a
// pinned `bench upload` profile, at a steady load that never needed more
// buffers than it already had. This list keeps up to max buffers whatever
// the collector does; beyond it (more writers at once than the list holds)
// a buffer is made and dropped as before.
type bufPool struct {
	size int
	free chan *[]byte
}

func newBufPool(size, max int) *bufPool {
	return &bufPool{size: size, free: make(chan *[]byte, max)}
}

// Get returns an empty buffer of capacity size.
func (p *bufPool) Get() *[]byte {
	select {
	case b := <-p.free:
		*b = (*b)[:0]
		return b
	default:
		b := make([]byte, 0, p.size)
		return &b
	}
}

// Put gives b back. A buffer of another capacity (grown for an upload made
// under a larger chunk size) is dropped.
func (p *bufPool) Put(b *[]byte) {
	if b == nil || cap(*b) != p.size {
		return
	}
	select {
	case p.free <- b:
	default:
	}
}
