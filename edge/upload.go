package edge

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/httpbody"
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
	limit := s.cfg.MaxUploadSize
	room, err := s.QuotaRoom(r.Context(), owner)
	if err != nil {
		s.fail(w, r, storeFault(err))
		return
	}
	// overQuota does not name a size: a streamed body's is unknown.
	overQuota := func() *httperr.Error {
		return httperr.New(http.StatusRequestEntityTooLarge, "quota_exceeded",
			fmt.Sprintf("the upload does not fit in what is left of your storage quota (%d bytes)", max(room, 0)))
	}
	if room >= 0 && room < limit {
		if room <= 0 || r.ContentLength > room {
			httperr.Write(w, r, s.log, overQuota())
			return
		}
		limit = room
	}
	if r.ContentLength > limit {
		httperr.Write(w, r, s.log, tooLarge(s.cfg.MaxUploadSize))
		return
	}
	s.metrics.UploadStarted()
	body := &errReader{r: httpbody.NewReader(http.MaxBytesReader(w, r.Body, limit),
		http.NewResponseController(w), s.cfg.BodyLimits())}
	info, err := s.store.Put(r.Context(), body, chunkstore.PutOptions{Owner: owner, StripLocation: s.StripLocation(owner)})
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.Is(err, chunkstore.ErrMetadata):
			s.fail(w, r, err)
		case (errors.As(err, &mbe) || errors.Is(err, chunkstore.ErrTooLarge)) && limit < s.cfg.MaxUploadSize:
			httperr.Write(w, r, s.log, overQuota())
		case errors.As(err, &mbe), errors.Is(err, chunkstore.ErrTooLarge):
			httperr.Write(w, r, s.log, tooLarge(s.cfg.MaxUploadSize))
		case errors.Is(body.err, httpbody.ErrTooSlow):
			httperr.Write(w, r, s.log, httperr.Wrap(http.StatusRequestTimeout, "body_too_slow",
				fmt.Sprintf("the body arrived slower than %d bytes a second; nothing was kept", s.cfg.BodyMinRate), err))
		case isTimeout(body.err):
			httperr.Write(w, r, s.log, httperr.Wrap(http.StatusRequestTimeout, "body_read_timeout",
				"no body bytes arrived in time; nothing was kept", err))
		case body.err != nil:
			// The client went away; nothing was committed.
			httperr.Write(w, r, s.log, httperr.Wrap(http.StatusBadRequest, "body_read", "the request body could not be read", err))
		default:
			s.fail(w, r, storeFault(err))
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

// errReader records the body's read error so the handler can tell a client
// fault from a store fault.
type errReader struct {
	r   io.Reader
	err error
}

func (d *errReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		d.err = err
	}
	return n, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
