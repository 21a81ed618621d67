package tus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/httperr"
)

// patch is PATCH /files/{id}: append the body at Upload-Offset.
//
// What one PATCH costs the database (Cassandra): a read of the row here
// (ownership, offset), then in the store's Append, which is handed that row,
// one lightweight transaction to take the writer lease, the chunk writes
// (WriteConcurrency in flight), and one more LWT that advances the offset
// and lets the lease go; a PATCH that completes the upload adds the commit
// (a read, the files row, one LWT). Large bodies add one LWT per
// checkpoint (16 MiB) or per LeaseTTL/3 of a slow body. A refused PATCH
// (423, 409) costs the reads and at most one LWT, and none of its body.
func (h *Handler) patch(w http.ResponseWriter, r *http.Request, id string) {
	owner, err := h.authorize(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !isChunk(r) {
		h.fail(w, r, &httperr.Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_content_type",
			Message: "PATCH needs Content-Type: " + contentTypeChunk, Param: "Content-Type"})
		return
	}
	offset, err := parseOffset(r.Header)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ck, err := parseChecksum(r.Header.Get("Upload-Checksum"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body := newBodyReader(w, r, h.cfg.bodyLimits(), ck)
	release, err := h.lock(r.Context(), id, offset, body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer release()
	// The store work must outlive the client: when the connection drops, the
	// bytes that arrived are still made durable (the body read fails, which
	// ends the append).
	ctx := context.WithoutCancel(r.Context())

	u, err := h.getUpload(ctx, id, owner)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if len(u.ConcatParts) > 0 {
		h.fail(w, r, httperr.New(http.StatusForbidden, "modify_final", "a concatenated (final) upload takes no PATCH"))
		return
	}
	if v := r.Header.Get("Upload-Length"); v != "" {
		if u, err = h.declareLength(ctx, u, v); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	if offset != u.Offset {
		w.Header().Set("Upload-Offset", strconv.FormatInt(u.Offset, 10))
		h.fail(w, r, httperr.New(http.StatusConflict, "offset_mismatch",
			fmt.Sprintf("Upload-Offset %d does not match the upload's offset %d", offset, u.Offset)))
		return
	}
	if complete(u) {
		// Nothing left to send (a retried last PATCH, or a crash between the
		// last append and the commit): make sure the file exists. A body
		// with bytes is refused rather than dropped behind a 204: the upload
		// takes no more (tusd answers 204 here and loses them silently).
		if u, err = h.finish(ctx, w, u); err != nil {
			h.fail(w, r, err)
			return
		}
		setUploadHeaders(w.Header(), u)
		if hasBytes(r, body) {
			h.fail(w, r, httperr.New(http.StatusConflict, "upload_finished",
				fmt.Sprintf("the upload has all its %d bytes and takes no more", u.Length)))
			return
		}
		body.closeIfCut(w)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err := h.checkFits(u, r.ContentLength); err != nil {
		h.fail(w, r, err)
		return
	}
	u, err = h.appendBody(ctx, w, u, body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	setUploadHeaders(w.Header(), u)
	body.closeIfCut(w)
	w.WriteHeader(http.StatusNoContent)
}

// lock takes the upload's lock within LockTimeout (see locks.acquire):
// offset is a writing request's Upload-Offset, -1 for the others; body is
// a writing request's body (nil for the others), which a later request
// interrupts. The returned release detaches body before it lets go (see
// bodyReader.detach).
func (h *Handler) lock(ctx context.Context, id string, offset int64, body *bodyReader) (func(), error) {
	if h.closing.Load() {
		return nil, errShuttingDown
	}
	var interrupt func()
	if body != nil {
		interrupt = body.interrupt
	}
	lctx, cancel := context.WithTimeout(ctx, h.cfg.LockTimeout)
	defer cancel()
	release, err := h.locks.acquire(lctx, id, offset, interrupt)
	switch {
	case errors.Is(err, errBusy):
		return nil, &httperr.Error{Status: http.StatusLocked, Code: "locked",
			Message: "another PATCH at this offset is in progress; retry after it (HEAD tells the new offset)", RetryAfter: 1, Cause: err}
	case err != nil:
		return nil, &httperr.Error{Status: http.StatusLocked, Code: "locked",
			Message: "another request holds this upload and did not let go; retry", RetryAfter: 1, Cause: err}
	}
	if body == nil {
		return release, nil
	}
	return func() {
		body.detach()
		release()
	}, nil
}

// hasBytes reports whether a request carries a body with at least one byte.
// A body of unknown length (chunked) is probed with a one-byte read of
// body, so that body knows when it has ended (see bodyReader.stop); the
// body is not used afterwards.
func hasBytes(r *http.Request, body io.Reader) bool {
	switch {
	case r.ContentLength > 0:
		return true
	case r.ContentLength == 0 || r.Body == nil:
		return false
	}
	var one [1]byte
	n, _ := io.ReadFull(body, one[:])
	return n > 0
}

// complete: every byte of a known length has arrived.
func complete(u chunkstore.UploadInfo) bool {
	return !(u.DeferLength && u.Length < 0) && u.Offset == u.Length
}

// checkFits refuses a body whose declared length cannot fit, before reading it.
func (h *Handler) checkFits(u chunkstore.UploadInfo, contentLength int64) error {
	if contentLength <= 0 {
		return nil
	}
	limit := u.Length
	if u.DeferLength && u.Length < 0 {
		limit = h.cfg.MaxSize
	}
	if u.Offset+contentLength > limit {
		return httperr.New(http.StatusRequestEntityTooLarge, "too_large",
			fmt.Sprintf("%d bytes at offset %d exceed the length %d", contentLength, u.Offset, limit))
	}
	return nil
}

// declareLength handles Upload-Length on a PATCH (creation-defer-length).
func (h *Handler) declareLength(ctx context.Context, u chunkstore.UploadInfo, v string) (chunkstore.UploadInfo, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return u, httperr.BadParam("Upload-Length", "Upload-Length must be a non-negative integer")
	}
	if !(u.DeferLength && u.Length < 0) {
		if n == u.Length {
			return u, nil // a retry that repeats the declaration
		}
		return u, httperr.BadParam("Upload-Length", "the upload's length is already set")
	}
	limit, quota, err := h.sizeLimit(ctx, u.Owner)
	if err != nil {
		return u, err
	}
	if n > limit {
		return u, tooLarge(n, limit, quota)
	}
	if n < u.Offset {
		return u, httperr.BadParam("Upload-Length", fmt.Sprintf("Upload-Length %d is below the offset %d", n, u.Offset))
	}
	nu, err := h.store.DeclareLength(ctx, u.ID, n)
	if err != nil {
		return u, h.storeError(u.ID, fmt.Errorf("declare length of %s: %w", u.ID, err))
	}
	return nu, nil
}

// appendBody streams the body into the store at u.Offset, then commits the
// upload if it is complete. It returns the upload's durable state, which is
// also right after a failure (the bytes received before it are kept unless
// a checksum was sent).
func (h *Handler) appendBody(ctx context.Context, w http.ResponseWriter, u chunkstore.UploadInfo, body *bodyReader) (chunkstore.UploadInfo, error) {
	body.limit = u.Length - u.Offset
	if u.DeferLength && u.Length < 0 {
		limit, _, err := h.sizeLimit(ctx, u.Owner)
		if err != nil {
			return u, err
		}
		body.limit = max(limit-u.Offset, 0)
	}
	// A request on another server for this upload (a resuming client's
	// HEAD) ends the body read as one in this process does.
	opt := chunkstore.AppendOptions{Interrupt: body.interrupt, Row: &u}
	if body.ck != nil {
		opt.Verify = body.verify
	}
	before := u
	nu, err := h.store.Append(ctx, u.ID, u.Offset, body, opt)
	if err != nil {
		// Learn the durable offset: the store kept what arrived before the
		// failure, and the response must say so.
		if cur, gerr := h.store.GetUpload(ctx, u.ID); gerr == nil {
			nu = cur
		} else {
			nu = before
		}
	}
	if h.bytes != nil && nu.Offset > before.Offset {
		h.bytes.BytesReceived(nu.Offset - before.Offset)
	}
	// Commit a complete upload even after an error (a body that was cut
	// right after its last byte): the bytes are durable, so is the file.
	if complete(nu) && nu.State != chunkstore.UploadFinished {
		var ferr error
		if nu, ferr = h.finish(ctx, w, nu); ferr != nil && err == nil {
			err = ferr
		}
	}
	if err != nil {
		w.Header().Set("Upload-Offset", strconv.FormatInt(nu.Offset, 10))
		switch berr := body.failure(); {
		case berr != nil:
			return nu, berr
		case errors.Is(err, errChecksumMismatch):
			return nu, mismatchError(body.ck.alg)
		}
		var he *httperr.Error
		if errors.As(err, &he) {
			return nu, err
		}
		return nu, h.storeError(u.ID, fmt.Errorf("append to %s at %d: %w", u.ID, before.Offset, err))
	}
	return nu, nil
}

// finish commits a complete upload. A partial (concatenation part) gets no
// file; anything else becomes the file whose media id is the upload id.
// Called with the upload's lock held, so OnFinish runs once per upload.
func (h *Handler) finish(ctx context.Context, w http.ResponseWriter, u chunkstore.UploadInfo) (chunkstore.UploadInfo, error) {
	if u.State == chunkstore.UploadFinished {
		if !chunkstore.IsPartial(u) {
			h.setMediaHeaders(w.Header(), u.ID)
		}
		return u, nil
	}
	f, err := h.store.FinishUpload(ctx, u.ID)
	if err != nil && !errors.Is(err, chunkstore.ErrFinished) {
		return u, h.storeError(u.ID, fmt.Errorf("finish upload %s: %w", u.ID, err))
	}
	if chunkstore.IsPartial(u) {
		return u, nil
	}
	u.State = chunkstore.UploadFinished
	h.setMediaHeaders(w.Header(), u.ID)
	if err == nil {
		h.fileMade(ctx, f)
	}
	return u, nil
}
