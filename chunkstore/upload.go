package chunkstore

import (
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"math"
	"time"

	"github.com/mediaedge/mediaedge/mediatype"
)

// AppendOptions tune one Append.
type AppendOptions struct {
	// Verify, if set, is called after the reader hit EOF and before the new
	// offset becomes durable; an error discards the bytes (the offset stays)
	// and is returned. tus checksums use it.
	Verify func() error
	// Interrupt, if set, is called (once, on another goroutine) when another
	// request asks this append to stop (Store.Interrupt, from any process).
	// It should make r's reads end soon: the append then keeps the bytes
	// received (per the rules above) and lets the upload go.
	Interrupt func()
	// Row, if set, is the upload's row as the caller has just read it (tus
	// does, to check ownership and the offset): the store then takes the
	// lease without reading it again. A row that has moved since costs one
	// failed compare-and-set and a read, never a wrong write: the lease is
	// taken on the row's version.
	Row *UploadInfo
}

// CreateUpload starts an upload session. The id is assigned when empty; it
// becomes the media id when the upload finishes.
func (s *Store) CreateUpload(ctx context.Context, u UploadInfo) (UploadInfo, error) {
	if u.ID == "" {
		u.ID = NewID()
	}
	if u.DeferLength {
		u.Length = -1
	} else if u.Length < 0 {
		return UploadInfo{}, fmt.Errorf("create upload: negative length %d", u.Length)
	}
	if u.Length > s.cfg.MaxFileSize {
		return UploadInfo{}, fmt.Errorf("create upload of %d bytes: %w", u.Length, ErrTooLarge)
	}
	if u.State != UploadPartial {
		u.State = UploadActive
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	u.Offset, u.ChunkSize, u.CreatedAt = 0, s.cfg.ChunkSize, now
	u.ExpiresAt = now.Add(s.cfg.UploadTTL)
	u.HashState = nil
	u.Version, u.Lease = 1, UploadLease{}
	if err := s.b.CreateUpload(ctx, u); err != nil {
		return UploadInfo{}, fmt.Errorf("create upload: %w", err)
	}
	return u, nil
}

// GetUpload returns an upload; an expired unfinished upload is not found.
func (s *Store) GetUpload(ctx context.Context, id string) (UploadInfo, error) {
	u, err := s.b.GetUpload(ctx, id)
	if err != nil {
		return UploadInfo{}, err
	}
	// A finished upload expires too (its file stays): tus HEAD answers for
	// UploadTTL after the last byte, as the expiration extension promises.
	if s.now().After(u.ExpiresAt) {
		return UploadInfo{}, fmt.Errorf("upload %s: %w", id, ErrExpired)
	}
	return u, nil
}

func (s *Store) restoreHash(u UploadInfo) (hash.Hash, error) {
	h := sha256.New()
	if len(u.HashState) == 0 {
		if u.Offset != 0 {
			return nil, fmt.Errorf("upload %s has no hash state at offset %d: %w", u.ID, u.Offset, ErrCorrupt)
		}
		return h, nil
	}
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.HashState); err != nil {
		return nil, fmt.Errorf("upload %s hash state: %w", u.ID, ErrCorrupt)
	}
	return h, nil
}

func hashState(h hash.Hash) []byte {
	b, _ := h.(encoding.BinaryMarshaler).MarshalBinary() // sha256 never fails
	return b
}

// Append adds the bytes of r at offset, which must be the durable offset.
// It first takes the upload's writer lease (lease.go): if another writer
// holds it the answer is a *LockedError (ErrLocked) and if the offset moved
// ErrOffsetMismatch, in both cases before a byte of r is read. The offset is
// made durable after every 4 x WriteConcurrency full chunks (so a crash
// loses at most those since the last checkpoint) unless opt.Verify is set,
// when nothing becomes durable before Verify passes. If r fails (the client
// went away), the bytes received so far are kept and the read error
// returned; if r holds more than the upload takes, or fails with
// ErrTooLarge, nothing of this append is kept (checkpoints are undone) and
// the error is ErrTooLarge. If the lease is lost meanwhile (this writer
// stalled past LeaseTTL and another took over), the bytes since the last
// checkpoint are not kept and the error is ErrLocked.
func (s *Store) Append(ctx context.Context, id string, offset int64, r io.Reader, opt AppendOptions) (UploadInfo, error) {
	release, err := s.lockUpload(id)
	if err != nil {
		return UploadInfo{}, err
	}
	defer release()
	// The writes outlive the request: when the client goes away mid-body, the
	// request context ends but the bytes that arrived are still written. A
	// lost lease cancels them.
	wctx, stopWrites := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWrites()
	l, u, err := s.hold(wctx, id, opt.Row, func(u UploadInfo) error {
		if u.State == UploadFinished || u.State == UploadFinishing {
			return fmt.Errorf("append to %s: %w", id, ErrFinished)
		}
		if u.State == UploadPurging {
			return fmt.Errorf("append to %s: %w", id, ErrExpired)
		}
		if offset != u.Offset {
			return fmt.Errorf("append to %s at %d, durable offset %d: %w", id, offset, u.Offset, ErrOffsetMismatch)
		}
		return nil
	}, leaseHooks{lost: stopWrites, interrupt: opt.Interrupt})
	if err != nil {
		return u, err
	}
	committed := false
	defer func() {
		if !committed {
			l.abandon(wctx)
		}
	}()
	limit := s.cfg.MaxFileSize
	if u.Length >= 0 {
		limit = u.Length
	}
	h, err := s.restoreHash(u)
	if err != nil {
		return u, err
	}
	cs := int64(u.ChunkSize)
	startIdx := int(offset / cs)
	w := s.newChunkWriter(wctx, id, u.ChunkSize, startIdx, limit-offset, l.fence)
	if rem := int(offset % cs); rem > 0 {
		tail, err := s.readChunk(ctx, id, startIdx, rem)
		if err != nil {
			w.abort()
			return u, fmt.Errorf("append to %s: tail chunk: %w", id, err)
		}
		w.prefill(tail)
	}
	checkpoint := func(added int64) error { return nil }
	if opt.Verify == nil {
		// Every checkpoint costs an fsync of the chunks and of the row (and
		// an LWT on Cassandra); one per 4 x WriteConcurrency chunks (16 MiB
		// by default) bounds what a crash can lose without paying that
		// every MiB.
		every := 4 * int64(s.cfg.WriteConcurrency) * cs
		last := offset
		checkpoint = func(added int64) error {
			// Never at the limit: only the stream's end tells a body that
			// fills the upload from one that goes past it, and a durable
			// offset at the length is a complete upload (tus commits it,
			// even after an error) made of an overflowing body's first
			// bytes. The commit below records the end.
			if offset+added-last < every || offset+added >= limit {
				return nil
			}
			// At a chunk boundary: h covers exactly offset+added bytes.
			state := hashState(h)
			if err := w.wait(); err != nil {
				return err
			}
			at := offset + added
			_, err := l.update(wctx, func(n *UploadInfo) {
				n.Offset, n.HashState = at, state
				n.ExpiresAt = s.now().UTC().Add(s.cfg.UploadTTL)
			})
			if err == nil {
				last = at
			}
			return err
		}
	}
	var storeErr error // a failed chunk write or checkpoint, a lost lease: not the client's fault
	added, rerr := w.copyFrom(io.TeeReader(r, h), func(added int64) error {
		if err := checkpoint(added); err != nil {
			storeErr = err
			return err
		}
		return nil
	})
	if werr := w.firstErr(); werr != nil && storeErr == nil {
		storeErr = werr
	}
	if lerr := l.lostErr(); lerr != nil {
		storeErr = lerr // the chunk writes failed because the lease went: say so
	} else if errors.Is(storeErr, ErrConflict) {
		storeErr = errLeaseLost(id, storeErr) // a fenced chunk write was refused
	}
	switch {
	case storeErr != nil:
		// The durable offset stays where the last checkpoint put it.
		w.abort()
		return l.row(), fmt.Errorf("append to %s: %w", id, storeErr)
	case rerr == nil:
	case errors.Is(rerr, ErrTooLarge):
		// Nothing of this append is kept, as if its length had been known
		// and refused up front: the offset goes back to where it began
		// (checkpoints may have moved it; the bytes before offset, the
		// tail chunk's included, are untouched), then chunks past it go.
		// Back first, so no reader is ever sent to a dropped chunk.
		w.abort()
		if l.row().Offset != offset {
			if _, err := l.update(wctx, func(n *UploadInfo) {
				n.Offset, n.HashState = offset, u.HashState
			}); err != nil {
				return l.row(), fmt.Errorf("append to %s: undo checkpoints of an overflow: %w", id, err)
			}
		}
		s.dropChunksAfter(wctx, id, offset, w.maxIdx, cs, l.fence)
		return l.row(), fmt.Errorf("append to %s: more than %d bytes: %w", id, limit, ErrTooLarge)
	case opt.Verify != nil:
		// Nothing of this append is kept; with Verify no checkpoint moved
		// the durable offset, so only chunks past it go.
		w.abort()
		s.dropChunksAfter(wctx, id, l.row().Offset, w.maxIdx, cs, l.fence)
		return l.row(), fmt.Errorf("append to %s: %w", id, rerr)
	}
	// Keep what arrived, even after a read error: write the partial chunk too.
	if err := w.close(); err != nil {
		if lerr := l.lostErr(); lerr != nil {
			err = lerr
		} else if errors.Is(err, ErrConflict) {
			err = errLeaseLost(id, err)
		}
		return l.row(), fmt.Errorf("append to %s: %w", id, err)
	}
	if rerr == nil && opt.Verify != nil {
		if err := opt.Verify(); err != nil {
			s.dropChunksAfter(wctx, id, l.row().Offset, w.maxIdx, cs, l.fence)
			return l.row(), err
		}
	}
	// The commit: the new offset and hash state, and the lease let go, in
	// one compare-and-set that holds only if the lease is still ours. The
	// client may be gone: record what arrived even if ctx is cancelled.
	state := hashState(h)
	nu, err := l.release(wctx, func(n *UploadInfo) {
		n.Offset, n.HashState = offset+added, state
		n.ExpiresAt = s.now().UTC().Add(s.cfg.UploadTTL)
	})
	if err != nil {
		return nu, fmt.Errorf("append to %s: record offset: %w", id, err)
	}
	committed = true
	if rerr != nil {
		return nu, fmt.Errorf("append to %s: read body: %w", id, rerr)
	}
	return nu, nil
}

// dropChunksAfter removes chunks written wholly past the durable offset (a
// discarded append); the tail chunk holding offset is kept (its stored bytes
// before offset are still good; the rest is ignored by readers). The deletes
// carry the lease's fence, so they can never remove a later holder's chunks.
func (s *Store) dropChunksAfter(ctx context.Context, id string, offset int64, maxIdx int, cs, fence int64) {
	first := int((offset + cs - 1) / cs)
	if first > maxIdx {
		return
	}
	// Best effort: a chunk left behind past the offset is harmless (readers
	// stop at the offset, the next append overwrites it, purge removes it).
	_ = s.b.DeleteUploadChunks(ctx, id, first, maxIdx+1, fence)
}

// updateUpload applies edit to upload id with a compare-and-set, reading
// again and retrying when the row moved meanwhile. edit may refuse (its
// error is returned with the row it saw) or report that nothing needs
// writing (changed false).
func (s *Store) updateUpload(ctx context.Context, id string, edit func(u *UploadInfo) (changed bool, err error)) (UploadInfo, error) {
	u, err := s.GetUpload(ctx, id)
	if err != nil {
		return UploadInfo{}, err
	}
	for attempt := 1; ; attempt++ {
		next := u
		if next.Metadata != nil {
			next.Metadata = maps.Clone(u.Metadata)
		}
		changed, err := edit(&next)
		if err != nil || !changed {
			return u, err
		}
		cur, err := s.b.UpdateUpload(ctx, next, u.Version)
		switch {
		case err == nil:
			return cur, nil
		case errors.Is(err, ErrConflict) && attempt < maxCASAttempts:
			u = cur
		case errors.Is(err, ErrConflict):
			return cur, &LockedError{ID: id, Reason: "contended"}
		default:
			return u, err
		}
	}
}

// DeclareLength sets the length of a deferred-length upload. It waits for
// no one: while another writer holds the upload it is ErrLocked.
func (s *Store) DeclareLength(ctx context.Context, id string, length int64) (UploadInfo, error) {
	release, err := s.lockUpload(id)
	if err != nil {
		return UploadInfo{}, err
	}
	defer release()
	return s.updateUpload(ctx, id, func(u *UploadInfo) (bool, error) {
		if u.Length >= 0 {
			if u.Length == length {
				return false, nil
			}
			return false, fmt.Errorf("declare length of %s: already %d", id, u.Length)
		}
		if length < u.Offset {
			return false, fmt.Errorf("declare length %d of %s below offset %d: %w", length, id, u.Offset, ErrOffsetMismatch)
		}
		if length > s.cfg.MaxFileSize {
			return false, fmt.Errorf("declare length of %s: %w", id, ErrTooLarge)
		}
		if now := s.now(); u.Lease.Held(now, "") {
			return false, &LockedError{ID: id, RetryAfter: u.Lease.Until.Sub(now), Reason: "another writer holds it"}
		}
		u.Length = length
		return true, nil
	})
}

// FinishUpload commits a complete upload: the files row is written (the id
// becomes readable only now) and the upload marked finished. A partial
// upload (a tus concatenation part) gets no files row. Idempotent, and safe
// for two callers at once (two edges committing after a crash): the files
// row they write is the same, and the state changes once.
//
// Before the files row is written the upload is moved to UploadFinishing
// by a compare-and-set that a live writer lease refuses (ErrLocked): a
// Terminate holds the lease while it deletes, and refuses a finishing
// upload, so of a commit and a termination racing on two edges exactly one
// goes through. Without it a commit that read the row before a Terminate
// on another edge wrote its files row over the chunks that Terminate
// deleted: a visible file with no bytes.
func (s *Store) FinishUpload(ctx context.Context, id string) (FileInfo, error) {
	release, err := s.lockUpload(id)
	if err != nil {
		return FileInfo{}, err
	}
	defer release()
	u, err := s.GetUpload(ctx, id)
	if err != nil {
		return FileInfo{}, err
	}
	wroteFile := false
	for attempt := 1; ; attempt++ {
		if u.State == UploadPurging {
			// Its removal began (purgeUpload): some chunks may be gone.
			return FileInfo{}, fmt.Errorf("finish %s: %w", id, ErrExpired)
		}
		if u.Length < 0 || u.Offset != u.Length {
			return FileInfo{}, fmt.Errorf("finish %s at %d of %d: %w", id, u.Offset, u.Length, ErrIncomplete)
		}
		h, err := s.restoreHash(u)
		if err != nil {
			return FileInfo{}, err
		}
		f := FileInfo{ID: id, Size: u.Length, ChunkSize: u.ChunkSize, SHA256: h.Sum(nil), Owner: u.Owner,
			CreatedAt: s.now().UTC().Truncate(time.Millisecond), State: StateComplete}
		if u.State == UploadFinished {
			if IsPartial(u) {
				f.ContentType = s.sniffUpload(ctx, u)
				return f, nil
			}
			// The files row was written before the upload was marked finished.
			return s.b.GetFile(ctx, id)
		}
		f.ContentType = s.sniffUpload(ctx, u)
		partial := u.State == UploadPartial
		if !partial && !wroteFile && wantsStrip(u.Metadata, f.ContentType) && u.Metadata[MetaLocationRemoved] != "1" {
			// Before the commit: the file that becomes visible is the
			// stripped one (location.go). The new row carries the hash of
			// the stripped bytes; look again with it.
			if u, err = s.stripUpload(ctx, u); err != nil {
				return FileInfo{}, fmt.Errorf("finish %s: %w", id, err)
			}
			continue
		}
		if !partial && !wroteFile {
			// Claim the commit first (see above). The version is the row's
			// as judged here, so a lease taken since is a conflict, and the
			// row is judged again. A row already finishing (its finisher
			// died) is claimed again too: the new version and expiry are
			// what make a sweep that judged the old row leave it alone.
			now := s.now()
			if u.Lease.Held(now, "") {
				return FileInfo{}, &LockedError{ID: id, RetryAfter: u.Lease.Until.Sub(now), Reason: "another writer holds it"}
			}
			next := u
			next.State = UploadFinishing
			// Activity: the sweeper must not find it idle while the files
			// row is being written (see SweepOnce).
			next.ExpiresAt = now.UTC().Add(s.cfg.UploadTTL)
			cur, err := s.b.UpdateUpload(ctx, next, u.Version)
			switch {
			case err == nil:
				u = cur
			case errors.Is(err, ErrConflict) && attempt < maxCASAttempts:
				u = cur
				continue
			default:
				return FileInfo{}, fmt.Errorf("finish %s: %w", id, err)
			}
		}
		if !partial && !wroteFile {
			// Offset == Length and the state finishing: no writer can change
			// these bytes any more and no Terminate remove them, so the row
			// is right whoever of several finishers writes it.
			if err := s.b.PutFile(ctx, f); err != nil {
				return FileInfo{}, fmt.Errorf("finish %s: %w", id, err)
			}
			wroteFile = true
		}
		next := u
		next.Metadata = maps.Clone(u.Metadata)
		if next.Metadata == nil {
			next.Metadata = map[string]string{}
		}
		if partial {
			next.Metadata["mediaedge.partial"] = "1"
		}
		next.State = UploadFinished
		cur, err := s.b.UpdateUpload(ctx, next, u.Version)
		switch {
		case err == nil:
			return f, nil
		case errors.Is(err, ErrConflict) && attempt < maxCASAttempts:
			u = cur // another finisher, or a lease taken and let go: look again
		default:
			return FileInfo{}, fmt.Errorf("finish %s: %w", id, err)
		}
	}
}

func (s *Store) sniffUpload(ctx context.Context, u UploadInfo) string {
	if u.Length == 0 {
		return mediatype.Sniff(nil)
	}
	head, err := s.readChunk(ctx, u.ID, 0, int(min(u.Length, int64(u.ChunkSize), mediatype.SniffLen)))
	if err != nil {
		return "application/octet-stream"
	}
	return mediatype.Sniff(head)
}

// uploadChunkBound is how many chunks of u may exist: those below the durable
// offset, plus those an Append may have written past it before a crash (up to
// one checkpoint interval and the writes in flight; see Append), capped by the
// declared length. Purging that many leaves no orphan chunk behind.
func uploadChunkBound(u UploadInfo, writeConcurrency int) int {
	cs := int64(max(1, u.ChunkSize))
	end := u.Offset + int64(5*writeConcurrency+1)*cs
	if u.Length >= 0 {
		end = min(end, u.Length)
	}
	end = max(end, u.Offset)
	return int((end + cs - 1) / cs)
}

// IsPartial reports whether u is (or was) a concatenation part.
func IsPartial(u UploadInfo) bool {
	return u.State == UploadPartial || u.Metadata["mediaedge.partial"] == "1"
}

// ConcatUploads builds a final upload from finished partial uploads: their
// bytes are streamed, in order, into a new upload (memory bounded by the
// chunk writer and one part's reader), which is then finished. Parts need
// not be chunk-aligned.
func (s *Store) ConcatUploads(ctx context.Context, owner string, parts []string, meta map[string]string) (UploadInfo, FileInfo, error) {
	if len(parts) == 0 {
		return UploadInfo{}, FileInfo{}, errors.New("concat: no parts")
	}
	var total int64
	rows := make([]UploadInfo, 0, len(parts))
	for _, p := range parts {
		pu, err := s.GetUpload(ctx, p)
		if err != nil {
			return UploadInfo{}, FileInfo{}, fmt.Errorf("concat part %s: %w", p, err)
		}
		if !IsPartial(pu) || pu.State != UploadFinished {
			return UploadInfo{}, FileInfo{}, fmt.Errorf("concat part %s is not a finished partial upload: %w", p, ErrIncomplete)
		}
		total += pu.Length
		rows = append(rows, pu)
	}
	u, err := s.CreateUpload(ctx, UploadInfo{Length: total, Owner: owner, Metadata: meta, ConcatParts: parts})
	if err != nil {
		return UploadInfo{}, FileInfo{}, err
	}
	pr := &partsReader{s: s, ctx: ctx, parts: rows}
	defer pr.close()
	if u, err = s.Append(ctx, u.ID, 0, pr, AppendOptions{}); err != nil {
		return u, FileInfo{}, fmt.Errorf("concat into %s: %w", u.ID, err)
	}
	f, err := s.FinishUpload(ctx, u.ID)
	if err != nil {
		return u, FileInfo{}, err
	}
	u.State = UploadFinished
	return u, f, nil
}

// partsReader reads concatenation parts one after another, each opened
// when the one before it has ended and closed then. A Reader holds a chunk
// buffer until it is closed, so opening every part up front (io.MultiReader
// over them all) kept one chunk per part alive for the whole concatenation:
// a final naming a 1-byte part a thousand times held a thousand chunks.
type partsReader struct {
	s     *Store
	ctx   context.Context
	parts []UploadInfo // those not yet opened
	cur   *Reader      // the part being read, nil between parts
}

func (p *partsReader) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		if p.cur == nil {
			if len(p.parts) == 0 {
				return 0, io.EOF
			}
			pu := p.parts[0]
			p.parts = p.parts[1:]
			p.cur = p.s.newReader(p.ctx, pu.ID, pu.Length, pu.ChunkSize, FileInfo{})
		}
		n, err := p.cur.Read(b)
		if errors.Is(err, io.EOF) {
			p.close()
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// close closes the part being read. Its chunk goes back to the pool: this
// reader is the Reader's only user, so nothing can still be copying from it.
func (p *partsReader) close() {
	if p.cur != nil {
		p.cur.closeRecycle()
		p.cur = nil
	}
}

// Terminate removes an unfinished upload and its chunks. It takes the
// writer lease first, so no writer is mid-append (ErrLocked while another
// holds it) and none can start, nor a commit (FinishUpload refuses a held
// lease); then the chunks go, then the row. An upload that is a file, or
// is becoming one (UploadFinishing), is ErrFinished.
func (s *Store) Terminate(ctx context.Context, id string) error {
	release, err := s.lockUpload(id)
	if err != nil {
		return err
	}
	defer release()
	committed := func(u UploadInfo) error {
		// A finishing upload may have its files row already: its chunks
		// are the file's.
		if (u.State == UploadFinished && !IsPartial(u)) || u.State == UploadFinishing {
			return fmt.Errorf("terminate %s: %w", id, ErrFinished)
		}
		return nil
	}
	l, _, err := s.hold(ctx, id, nil, committed, leaseHooks{})
	if errors.Is(err, ErrExpired) {
		// Expired but not swept yet: terminating it is the sweeper's job
		// done early, and, as the sweeper does, it leaves a file's chunks.
		u, gerr := s.b.GetUpload(ctx, id)
		if gerr != nil {
			return gerr
		}
		if err := committed(u); err != nil {
			return err
		}
		return s.purgeUpload(ctx, u)
	}
	if err != nil {
		return err
	}
	// The lease is renewed while the chunks go (thousands of deletes on
	// Cassandra for a large upload), so no writer starts meanwhile; the row
	// goes last, at the version the last renewal left.
	u := l.row()
	bound := uploadChunkBound(u, s.cfg.WriteConcurrency)
	if err := s.deleteChunksPast(ctx, u, bound); err != nil { // first: see purgeUpload
		l.abandon(ctx)
		return fmt.Errorf("terminate %s: %w", id, err)
	}
	if err := s.deleteChunks(ctx, id, bound); err != nil {
		l.abandon(ctx)
		return fmt.Errorf("terminate %s: %w", id, err)
	}
	l.stopRenewing()
	if err := l.lostErr(); err != nil {
		return fmt.Errorf("terminate %s: %w", id, err)
	}
	if err := s.b.DeleteUpload(ctx, id, l.row().Version); err != nil {
		return fmt.Errorf("terminate %s: %w", id, err)
	}
	return nil
}

// purgeUpload removes an expired upload: it claims the row (state purging,
// by compare-and-set on the version the caller judged), then removes the
// chunks, then the row. A row that changed since is left alone, chunks
// included (ErrConflict): a commit that read the row before the sweep
// (FinishUpload does not look at the expiry) or a writer whose renewal
// came late would otherwise write a files row, or a new offset, over
// chunks already gone. After the claim no append or commit goes through,
// and a purge cut short is taken on by the next sweep or Terminate.
func (s *Store) purgeUpload(ctx context.Context, u UploadInfo) error {
	if u.State != UploadPurging {
		next := u
		next.State = UploadPurging
		cur, err := s.b.UpdateUpload(ctx, next, u.Version)
		if err != nil {
			return fmt.Errorf("purge upload %s: %w", u.ID, err)
		}
		u = cur
	}
	bound := uploadChunkBound(u, s.cfg.WriteConcurrency)
	// The tail first: the embedded backend frees an id's blob file with
	// its chunks from 0, after which a chunk's index entry still there
	// would read as an error rather than as missing.
	if err := s.deleteChunksPast(ctx, u, bound); err != nil {
		return fmt.Errorf("purge upload %s: %w", u.ID, err)
	}
	if err := s.deleteChunks(ctx, u.ID, bound); err != nil {
		return fmt.Errorf("purge upload %s: %w", u.ID, err)
	}
	if err := s.b.DeleteUpload(ctx, u.ID, u.Version); err != nil {
		return fmt.Errorf("purge upload %s: %w", u.ID, err)
	}
	return nil
}

// deleteChunksPast removes the chunks of u at or past from that a crashed
// Append left: a PATCH with a checksum takes no checkpoint (its bytes count
// only once the whole body matched), so a crash in one leaves up to that
// PATCH's worth of chunks past any bound the row can tell. They were
// written in order, at most WriteConcurrency at a time, so the tail ends
// before a run of WriteConcurrency+1 missing chunks; probing stops there
// (or at the declared length), which costs one small read per chunk left
// and a few per upload.
func (s *Store) deleteChunksPast(ctx context.Context, u UploadInfo, from int) error {
	limit := math.MaxInt32
	if u.Length >= 0 {
		cs := int64(max(1, u.ChunkSize))
		limit = int((u.Length + cs - 1) / cs)
	}
	misses := 0
	for i := from; i < limit && misses <= s.cfg.WriteConcurrency; i++ {
		ok, err := s.hasChunk(ctx, u.ID, i)
		if err != nil {
			return err
		}
		if !ok {
			misses++
			continue
		}
		misses = 0
		if err := s.b.DeleteChunk(ctx, u.ID, i); err != nil {
			return fmt.Errorf("delete chunk %d of %s: %w", i, u.ID, err)
		}
	}
	return nil
}

// hasChunk says whether chunk (id, idx) exists, without its bytes where the
// backend can (ChunkExister). A chunk that exists but reads as corrupt
// exists.
func (s *Store) hasChunk(ctx context.Context, id string, idx int) (bool, error) {
	if ex, ok := s.b.(ChunkExister); ok {
		return ex.HasChunk(ctx, id, idx)
	}
	_, _, err := s.b.GetChunk(ctx, id, idx)
	switch {
	case errors.Is(err, ErrNotFound):
		return false, nil
	case err == nil, errors.Is(err, ErrCorrupt):
		return true, nil
	}
	return false, err
}
