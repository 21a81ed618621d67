package chunkstore

import (
	"context"
	"errors"
	"hash/crc32"
	"io"
	"sync"

	"github.com/mediaedge/mediaedge/mediatype"
)

// chunkWriter cuts a stream into chunks and writes them with bounded
// concurrency. Memory is bounded by WriteConcurrency in-flight chunks plus the
// one being filled, whatever the stream's length.
type chunkWriter struct {
	s      *Store
	ctx    context.Context
	cancel context.CancelFunc
	id     string
	fence  int64   // an upload's lease fence, carried by every chunk write; 0 for a file's chunks
	cs     int     // chunk size of this file or upload
	next   int     // index of the chunk being filled
	buf    *[]byte // the chunk being filled
	sum    uint32  // CRC32C of *buf so far
	limit  int64   // most bytes the stream may add
	added  int64   // bytes read from the stream
	maxIdx int     // highest chunk index submitted, -1 if none
	head   []byte  // the stream's first bytes when it starts at offset 0, for sniffing

	sem chan struct{}
	wg  sync.WaitGroup
	mu  sync.Mutex // guards err
	err error
}

// newChunkWriter writes the chunks of id from startIdx on; fence is the
// upload lease's fence (0: a new file's chunks, written unfenced).
func (s *Store) newChunkWriter(ctx context.Context, id string, cs, startIdx int, limit, fence int64) *chunkWriter {
	ctx, cancel := context.WithCancel(ctx)
	return &chunkWriter{s: s, ctx: ctx, cancel: cancel, id: id, fence: fence, cs: cs, next: startIdx, buf: s.getBuf(),
		limit: limit, maxIdx: startIdx - 1, sem: make(chan struct{}, s.cfg.WriteConcurrency)}
}

// prefill puts the already stored bytes of a partial tail chunk in front of
// the stream, so the chunk is rewritten whole.
func (w *chunkWriter) prefill(tail []byte) {
	*w.buf = append((*w.buf)[:0], tail...)
	w.sum = crc32.Update(0, castagnoli, tail)
}

// copyFrom reads r to its end. After each full chunk is handed to a writer,
// onFull (if set) is called with the number of bytes read so far; it may
// wait() and record progress. A read error returns with the bytes read so far
// still in the current chunk (not yet written): flush keeps them.
func (w *chunkWriter) copyFrom(r io.Reader, onFull func(added int64) error) (int64, error) {
	cs := w.cs
	lr := io.LimitReader(r, w.limit-w.added+1)
	for {
		if cap(*w.buf) < cs { // an upload made under a larger chunk size
			nb := make([]byte, len(*w.buf), cs)
			copy(nb, *w.buf)
			*w.buf = nb
		}
		b := (*w.buf)[:cs]
		start := len(*w.buf)
		// io.ReadFull, but the chunk's CRC is taken piece by piece, right
		// after each read, while the bytes are still in the CPU's cache (the
		// caller's TeeReader has just hashed them too). Taken over the whole
		// 1 MiB chunk later it read the chunk back from memory: 7% of an
		// upload's CPU, against about 2% this way.
		n := start
		var err error
		for n < cs && err == nil {
			var k int
			k, err = lr.Read(b[n:])
			w.sum = crc32.Update(w.sum, castagnoli, b[n:n+k])
			n += k
		}
		*w.buf = b[:n]
		w.added += int64(n - start)
		if w.next == 0 && len(w.head) < mediatype.SniffLen {
			w.head = append(w.head, (*w.buf)[len(w.head):min(len(*w.buf), mediatype.SniffLen)]...)
		}
		if w.added > w.limit {
			return w.added, ErrTooLarge
		}
		if len(*w.buf) == cs {
			w.submit()
			if onFull != nil {
				if ferr := onFull(w.added); ferr != nil {
					return w.added, ferr
				}
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return w.added, w.firstErr()
		default:
			return w.added, err
		}
		if ferr := w.firstErr(); ferr != nil {
			return w.added, ferr
		}
	}
}

// submit hands the current chunk to a background write and starts a new one.
func (w *chunkWriter) submit() {
	idx, buf, sum := w.next, w.buf, w.sum
	w.next++
	w.buf, w.sum = w.s.getBuf(), 0
	if idx > w.maxIdx {
		w.maxIdx = idx
	}
	select {
	case w.sem <- struct{}{}:
	case <-w.ctx.Done():
		w.setErr(w.ctx.Err())
		w.s.bufs.Put(buf)
		return
	}
	w.wg.Add(1)
	go func() {
		defer func() {
			<-w.sem
			w.s.bufs.Put(buf)
			w.wg.Done()
		}()
		data := *buf
		var err error
		if w.fence != 0 {
			err = w.s.b.PutUploadChunk(w.ctx, w.id, idx, data, sum, w.fence)
		} else {
			err = w.s.b.PutChunk(w.ctx, w.id, idx, data, sum)
		}
		if err != nil {
			w.setErr(err)
		}
	}()
}

func (w *chunkWriter) setErr(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
		w.cancel()
	}
	w.mu.Unlock()
}

func (w *chunkWriter) firstErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// wait blocks until every submitted chunk is written.
func (w *chunkWriter) wait() error {
	w.wg.Wait()
	return w.firstErr()
}

// close writes the partial last chunk, if any, and waits for every write.
func (w *chunkWriter) close() error {
	if len(*w.buf) > 0 {
		w.submit()
	}
	err := w.wait()
	w.cancel()
	w.s.bufs.Put(w.buf)
	return err
}

// abort stops the writes in flight.
func (w *chunkWriter) abort() {
	w.cancel()
	w.wg.Wait()
	w.s.bufs.Put(w.buf)
}
