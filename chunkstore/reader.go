package chunkstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Reader reads a stored file: io.ReaderAt for ranges (only the chunks a
// range touches are fetched) and io.ReadSeeker for http.ServeContent, with
// up to ReadAhead chunks fetched ahead of a sequential reader so time to
// first byte and throughput do not depend on the file's size. It holds at
// most ReadAhead+1 chunks in memory.
type Reader struct {
	s     *Store
	ctx   context.Context
	stop  context.CancelFunc
	id    string
	size  int64
	cs    int
	info  FileInfo
	off   int64 // Read/Seek position
	ahead int

	mu       sync.Mutex // guards cur, curIdx, curBuf, pending
	cur      []byte
	curIdx   int
	curBuf   *[]byte // cur's pooled memory, nil when cur is not pooled
	pending  map[int]*fetch
	lastRead int // chunk index of the last sequential Read, for prefetch
}

type fetch struct {
	done   chan struct{}
	cancel context.CancelFunc // stops a prefetch a seek made useless
	data   []byte
	buf    *[]byte // pooled memory data sits in, or nil
	err    error
}

func (s *Store) newReader(ctx context.Context, id string, size int64, cs int, info FileInfo) *Reader {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &Reader{s: s, ctx: ctx, stop: cancel, id: id, size: size, cs: cs, info: info,
		ahead: s.cfg.ReadAhead, curIdx: -1, pending: map[int]*fetch{}, lastRead: -1}
}

// Info is the file's row.
func (r *Reader) Info() FileInfo { return r.info }

// Size is the file's length.
func (r *Reader) Size() int64 { return r.size }

// Close stops any prefetch in flight.
func (r *Reader) Close() error {
	r.stop()
	r.mu.Lock()
	for idx, f := range r.pending {
		<-f.done
		delete(r.pending, idx)
		r.recycle(f.buf) // never handed out: only chunk() exposes a fetch's bytes
	}
	r.cur, r.curBuf = nil, nil
	r.mu.Unlock()
	return nil
}

// closeRecycle is Close that also gives the chunk in hand back to the pool.
// Only for a caller that is the Reader's one user (no ReadAt can still be
// copying from that chunk), as WriteTo's done is.
func (r *Reader) closeRecycle() {
	r.mu.Lock()
	buf := r.curBuf
	r.cur, r.curIdx, r.curBuf = nil, -1, nil
	r.mu.Unlock()
	r.Close()
	r.recycle(buf)
}

func (r *Reader) chunkLen(idx int) int {
	return int(min(int64(r.cs), r.size-int64(idx)*int64(r.cs)))
}

func (r *Reader) chunks() int { return int((r.size + int64(r.cs) - 1) / int64(r.cs)) }

// startFetch begins fetching chunk idx in the background; r.mu is held.
func (r *Reader) startFetch(idx int) *fetch {
	if f, ok := r.pending[idx]; ok {
		return f
	}
	ctx, cancel := context.WithCancel(r.ctx)
	f := &fetch{done: make(chan struct{}), cancel: cancel}
	r.pending[idx] = f
	var dst []byte
	if _, ok := r.s.b.(ChunkIntoGetter); ok && r.chunkLen(idx) <= r.s.cfg.ChunkSize {
		f.buf = r.s.getBuf()
		dst = (*f.buf)[:0]
	}
	go func() {
		defer close(f.done)
		defer cancel()
		f.data, f.err = r.s.readChunkInto(ctx, r.id, idx, r.chunkLen(idx), dst)
	}()
	return f
}

// recycle returns pooled chunk memory no caller can still be reading.
func (r *Reader) recycle(buf *[]byte) {
	if buf != nil {
		r.s.bufs.Put(buf)
	}
}

// chunk returns chunk idx, from the last one used, a prefetch, or a fetch.
func (r *Reader) chunk(idx int, sequential bool) ([]byte, error) {
	r.mu.Lock()
	if idx == r.curIdx {
		data := r.cur
		r.mu.Unlock()
		return data, nil
	}
	// The chunk in hand is done with (sequential readers move on; random
	// ones rarely come back): drop it first so that, with the window below,
	// at most ReadAhead+1 chunks are held. Its memory is left to the garbage
	// collector: a ReadAt running in parallel may still be copying from it
	// (WriteTo, which knows it is the only reader, recycles).
	r.cur, r.curIdx, r.curBuf = nil, -1, nil
	f := r.startFetch(idx)
	if sequential {
		// Stop prefetches a seek made useless, then keep the window full.
		for k, pf := range r.pending {
			if k < idx || k > idx+r.ahead {
				pf.cancel()
				delete(r.pending, k)
			}
		}
		for k := idx + 1; k <= idx+r.ahead && k < r.chunks(); k++ {
			r.startFetch(k)
		}
	}
	r.mu.Unlock()
	select {
	case <-f.done:
	case <-r.ctx.Done():
		return nil, r.ctx.Err()
	}
	r.mu.Lock()
	delete(r.pending, idx)
	if f.err == nil {
		r.cur, r.curIdx, r.curBuf = f.data, idx, f.buf
	}
	r.mu.Unlock()
	return f.data, f.err
}

// ReadAt implements io.ReaderAt.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	return r.readAt(p, off, false)
}

func (r *Reader) readAt(p []byte, off int64, sequential bool) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("chunkstore: negative offset %d", off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && off < r.size {
		idx := int(off / int64(r.cs))
		data, err := r.chunk(idx, sequential)
		if err != nil {
			return n, fmt.Errorf("read %s at %d: %w", r.id, off, err)
		}
		k := copy(p[n:], data[off-int64(idx)*int64(r.cs):])
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Read implements io.Reader, prefetching ahead.
func (r *Reader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	n, err := r.readAt(p, r.off, true)
	r.off += int64(n)
	if errors.Is(err, io.EOF) && n > 0 {
		err = nil
	}
	return n, err
}

// WriteTo implements io.WriterTo: it writes from the read position to the
// end, each chunk's bytes straight from the chunk as fetched, so io.Copy to
// an HTTP response makes one write per chunk instead of one per 32 KiB
// copy buffer, and no copy in between (issue 16: originals from the store).
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for r.off < r.size {
		idx := int(r.off / int64(r.cs))
		data, err := r.chunk(idx, true)
		if err != nil {
			return total, fmt.Errorf("read %s at %d: %w", r.id, r.off, err)
		}
		n, err := w.Write(data[r.off-int64(idx)*int64(r.cs):])
		total += int64(n)
		r.off += int64(n)
		if err != nil {
			return total, err
		}
		r.done(idx)
	}
	return total, nil
}

// done recycles chunk idx's memory once WriteTo has written all of it.
// Only WriteTo calls it: as an io.WriterTo it is the Reader's one user while
// it runs, so nothing else holds the chunk.
func (r *Reader) done(idx int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.curIdx == idx && r.curBuf != nil {
		buf := r.curBuf
		r.cur, r.curIdx, r.curBuf = nil, -1, nil
		r.recycle(buf)
	}
}

// Seek implements io.Seeker.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.off + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return 0, errors.New("chunkstore: bad whence")
	}
	if abs < 0 {
		return 0, errors.New("chunkstore: negative position")
	}
	r.off = abs
	return abs, nil
}

// ReadFull reads the whole file into p, which must be Size() bytes, with each
// chunk fetched straight into its place in p: no chunk buffer and no copy
// where the backend reads into a caller's memory (the embedded store), and
// up to ReadAhead+1 chunks in flight. It is for callers that need the file in
// memory anyway (libvips decodes from a buffer), where Read would fetch each
// chunk into a buffer of its own and copy it out. It does not move the
// Read/Seek position.
func (r *Reader) ReadFull(ctx context.Context, p []byte) error {
	if int64(len(p)) != r.size {
		return fmt.Errorf("read %s: %d-byte buffer for a %d-byte file", r.id, len(p), r.size)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.ahead + 1)
	for idx := range r.chunks() {
		if gctx.Err() != nil {
			break // a fetch failed: the others are moot
		}
		g.Go(func() error {
			off := idx * r.cs
			want := r.chunkLen(idx)
			dst := p[off : off+want : off+want]
			data, err := r.s.readChunkInto(gctx, r.id, idx, want, dst)
			if err != nil {
				return fmt.Errorf("read %s: %w", r.id, err)
			}
			if &data[0] != &dst[0] {
				copy(dst, data) // the backend returned memory of its own
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}
