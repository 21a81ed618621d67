package tus

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/httperr"
)

// post is POST /files/: creation, creation-with-upload, creation-defer-length
// and concatenation (partial and final).
func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	owner, err := h.authorize(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	concat, err := parseConcat(r.Header.Get("Upload-Concat"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	meta, err := ParseMetadata(r.Header.Get("Upload-Metadata"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for k := range meta {
		// The server's own keys (location removal, partial uploads) live in
		// the same map: a client must not set or clear them.
		if strings.HasPrefix(k, reservedMetaPrefix) {
			h.fail(w, r, httperr.BadParam("Upload-Metadata", "metadata keys starting with "+reservedMetaPrefix+" are reserved"))
			return
		}
	}
	if h.cfg.ServerMetadata != nil {
		for k, v := range h.cfg.ServerMetadata(owner) {
			if meta == nil {
				meta = map[string]string{}
			}
			meta[k] = v
		}
	}
	// Another Content-Type means no upload data: some HTTP clients set a
	// default type on every POST, so it is ignored rather than refused.
	withBody := isChunk(r)
	ctx := context.WithoutCancel(r.Context())
	if concat.final {
		if withBody && r.ContentLength != 0 {
			h.fail(w, r, httperr.New(http.StatusForbidden, "modify_final", "a final concatenation takes no upload data"))
			return
		}
		h.concatFinal(ctx, w, r, owner, concat.parts, meta)
		return
	}
	length, deferred, err := parseLength(r.Header)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	limit, quota, err := h.sizeLimit(r.Context(), owner)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if length > limit {
		h.fail(w, r, tooLarge(length, limit, quota))
		return
	}
	var ck *checksum
	if withBody {
		if ck, err = parseChecksum(r.Header.Get("Upload-Checksum")); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	state := chunkstore.UploadActive
	if concat.partial {
		state = chunkstore.UploadPartial
	}
	u, err := h.store.CreateUpload(ctx, chunkstore.UploadInfo{
		Length: length, DeferLength: deferred, Metadata: meta, Owner: owner, State: state,
	})
	if err != nil {
		h.fail(w, r, h.storeError("", fmt.Errorf("create upload: %w", err)))
		return
	}
	// Location goes out even if the body below fails: the client can resume.
	w.Header().Set("Location", h.uploadURL(r, u.ID))
	if !concat.partial {
		h.uploadStarted()
	}
	switch {
	case withBody:
		body := newBodyReader(w, r, h.cfg.bodyLimits(), ck)
		release, err := h.lock(r.Context(), u.ID, 0, body)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if err := h.checkFits(u, r.ContentLength); err != nil {
			release()
			h.fail(w, r, err)
			return
		}
		u, err = h.appendBody(ctx, w, u, body)
		release()
		if err != nil {
			h.fail(w, r, err)
			return
		}
	case complete(u):
		// An empty file is complete on creation.
		release, err := h.lock(r.Context(), u.ID, -1, nil)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		u, err = h.finish(ctx, w, u)
		release()
		if err != nil {
			h.fail(w, r, err)
			return
		}
	}
	setUploadHeaders(w.Header(), u)
	w.WriteHeader(http.StatusCreated)
}

// concatFinal creates the final upload of a concatenation: the parts, each
// a finished partial upload of this owner, become one file at once.
func (h *Handler) concatFinal(ctx context.Context, w http.ResponseWriter, r *http.Request, owner string, refs []string, meta map[string]string) {
	// The header is checked whole before a part is read: each part costs a
	// row read here and a reader while the final is built.
	ids := make([]string, 0, len(refs))
	seen := make(map[string]bool, len(refs))
	for _, ref := range refs {
		id, ok := h.uploadID(ref)
		if !ok {
			h.fail(w, r, httperr.BadParam("Upload-Concat", fmt.Sprintf("%q is not an upload URL under %s", ref, h.mount)))
			return
		}
		if seen[id] {
			// tus does not forbid it, but no client splits a file so that a
			// part repeats, and a part named over and over is the cheap way
			// to make one request read the same bytes many times.
			h.fail(w, r, httperr.BadParam("Upload-Concat", fmt.Sprintf("Upload-Concat names the partial upload %s twice", id)))
			return
		}
		seen[id] = true
		ids = append(ids, id)
	}
	var total int64
	for _, id := range ids {
		p, err := h.getUpload(ctx, id, owner)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if !complete(p) {
			h.fail(w, r, httperr.New(http.StatusBadRequest, "upload_incomplete",
				fmt.Sprintf("partial upload %s is not finished (%d of %d bytes)", id, p.Offset, p.Length)))
			return
		}
		total += p.Length
	}
	// The final is the only upload of a concatenation that becomes a file
	// (the parts have no files row, so no quota ever saw them): it is held
	// to MaxSize and the owner's quota like any upload of its length.
	limit, quota, err := h.sizeLimit(ctx, owner)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if total > limit {
		if quota {
			h.fail(w, r, tooLarge(total, limit, true))
		} else {
			h.fail(w, r, httperr.New(http.StatusRequestEntityTooLarge, "too_large",
				fmt.Sprintf("the concatenation (%d bytes) exceeds the limit of %d bytes", total, limit)))
		}
		return
	}
	u, f, err := h.store.ConcatUploads(ctx, owner, ids, meta)
	if err != nil {
		h.fail(w, r, h.storeError("", fmt.Errorf("concatenate %v: %w", ids, err)))
		return
	}
	w.Header().Set("Location", h.uploadURL(r, u.ID))
	h.uploadStarted()
	h.fileMade(ctx, f)
	h.setMediaHeaders(w.Header(), u.ID)
	u.State = chunkstore.UploadFinished
	setUploadHeaders(w.Header(), u)
	w.WriteHeader(http.StatusCreated)
}
