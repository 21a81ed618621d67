package tus

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/httperr"
)

// head is HEAD /files/{id}: the upload's durable offset. It takes the
// upload's lock, so a PATCH in this process still reading a dead
// connection's body is ended first and the offset answered includes the
// bytes it received. A PATCH holding the upload on another server is asked
// to stop the same way (Store.Interrupt) but not waited for: the client's
// next PATCH gets 423 until it has let go, then 409 if it kept bytes.
func (h *Handler) head(w http.ResponseWriter, r *http.Request, id string) {
	owner, err := h.authorize(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	release, err := h.lock(r.Context(), id, -1, nil)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer release()
	ctx := context.WithoutCancel(r.Context())
	u, err := h.getUpload(ctx, id, owner)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.interruptRemote(ctx, u)
	if complete(u) && u.State != chunkstore.UploadFinished && len(u.ConcatParts) == 0 {
		// The last bytes are durable but the commit did not happen (the
		// server died in between): commit now, so the client that sees
		// offset == length also finds its file.
		if u, err = h.finish(ctx, w, u); err != nil {
			h.fail(w, r, err)
			return
		}
	} else if u.State == chunkstore.UploadFinished && !chunkstore.IsPartial(u) {
		h.setMediaHeaders(w.Header(), u.ID)
	}
	hdr := w.Header()
	setUploadHeaders(hdr, u)
	if m := FormatMetadata(u.Metadata); m != "" {
		hdr.Set("Upload-Metadata", m)
	}
	switch {
	case len(u.ConcatParts) > 0:
		urls := make([]string, len(u.ConcatParts))
		for i, p := range u.ConcatParts {
			urls[i] = h.uploadURL(r, p)
		}
		hdr.Set("Upload-Concat", "final;"+strings.Join(urls, " "))
	case chunkstore.IsPartial(u):
		hdr.Set("Upload-Concat", "partial")
	}
	w.WriteHeader(http.StatusOK)
}

// delete is DELETE /files/{id} (termination): an unfinished upload and its
// chunks go away; later requests for it get 410 Gone.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request, id string) {
	owner, err := h.authorize(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	release, err := h.lock(r.Context(), id, -1, nil)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer release()
	ctx := context.WithoutCancel(r.Context())
	u, err := h.getUpload(ctx, id, owner)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.interruptRemote(ctx, u) // then 423 below, and the retry finds it free
	if err := h.store.Terminate(ctx, id); err != nil {
		if errors.Is(err, chunkstore.ErrFinished) {
			h.fail(w, r, httperr.Wrap(http.StatusConflict, "upload_finished",
				"the upload is finished and is media now; DELETE /m/{id} removes it", err))
			return
		}
		h.fail(w, r, h.storeError(id, fmt.Errorf("terminate %s: %w", id, err)))
		return
	}
	if h.terminated != nil {
		h.terminated.Add(id, struct{}{})
	}
	w.WriteHeader(http.StatusNoContent)
}

// interruptRemote asks the writer holding u, which is not in this process
// (this request holds the upload's lock here), to stop. Best effort: a
// failure only means the client waits for that writer's lease.
func (h *Handler) interruptRemote(ctx context.Context, u chunkstore.UploadInfo) {
	if u.Lease.Holder == "" {
		return
	}
	if err := h.store.Interrupt(ctx, u.ID); err != nil {
		h.log.Warn("interrupt the writer of an upload", "id", u.ID, "err", err)
	}
}
