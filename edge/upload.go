package edge

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/httperr"
)

// upload is POST /upload: a one-shot raw body, for curl. Resumable uploads
// use tus at /files/.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	owner, err := s.Authorize(r)
	if err != nil {
		httperr.Write(w, r, s.log, err)
		return
	}
	if r.ContentLength > s.cfg.MaxUploadSize {
		httperr.Write(w, r, s.log, tooLarge(s.cfg.MaxUploadSize))
		return
	}
	s.metrics.UploadStarted()
	body := &deadlineReader{r: http.MaxBytesReader(w, r.Body, s.cfg.MaxUploadSize),
		rc: http.NewResponseController(w), gap: s.cfg.BodyReadTimeout}
	info, err := s.store.Put(r.Context(), body, chunkstore.PutOptions{Owner: owner})
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe), errors.Is(err, chunkstore.ErrTooLarge):
			httperr.Write(w, r, s.log, tooLarge(s.cfg.MaxUploadSize))
		case body.err != nil:
			// The client went away or stalled; nothing was committed.
			httperr.Write(w, r, s.log, httperr.Wrap(http.StatusBadRequest, "body_read", "the request body could not be read", err))
		default:
			s.storeError(w, r, err)
		}
		return
	}
	s.metrics.BytesReceived(info.Size)
	s.metrics.UploadFinished()
	w.Header().Set("Location", s.MediaURL(info.ID))
	writeJSON(w, http.StatusCreated, s.infoOf(info))
}

func tooLarge(limit int64) *httperr.Error {
	return httperr.New(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the upload exceeds the limit of %d bytes", limit))
}

// deadlineReader pushes the connection's read deadline forward before each
// read: a slow client that keeps sending keeps going, a stalled one is cut
// after gap. It records the read error so the handler can tell a client fault
// from a store fault.
type deadlineReader struct {
	r   io.Reader
	rc  *http.ResponseController
	gap time.Duration
	err error
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	_ = d.rc.SetReadDeadline(time.Now().Add(d.gap))
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		d.err = err
	}
	return n, err
}
