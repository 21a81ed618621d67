package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mediaedge/mediaedge/fleet"
	"github.com/mediaedge/mediaedge/httperr"
)

// Fleet is what the edge needs from package fleet to route cache keys across
// edges; *fleet.Fleet is one. Deps.Fleet nil is a lone edge.
//
// The model (package fleet's doc has the rest): a request for a cache key
// (an original /m/{id} or a rendition /m/{id}?params, GET or HEAD) that
// reached this edge from a client goes to the key's Candidates through
// ForwardRanked, and the answer is streamed back as it came (status,
// headers, body: Range, conditionals and HEAD are the serving edge's job).
// When the walk reaches this edge, or the request came from another edge
// (fleet.HopHeader, signed: Inbound strips the fleet's headers from any
// other request, so a client cannot make an edge compute what another
// owns), it is served here, counted in this edge's load by Begin. Serving
// here:
//
//   - when a member ranked above this edge answers, this edge is a spill
//     target (or its view is stale): it relays the request to that member
//     (spill), Range and conditionals included, and keeps no copy; the
//     owner computes under its own single-flight; the request carries
//     FillHeader so the owner serves it itself whatever its own view, which
//     ends any chain of edges whose views differ;
//
// else a miss is filled (produce):
//
//   - from the first member ranked above this edge that answers, with
//     FillHeader (an edge without a cache, which does not spill);
//   - else, for FleetHandoff after a member joined, from the next-ranked
//     member with only-if-cached (it owned the key before the join), so a
//     join moves results instead of recomputing them;
//   - else here: the store read or the transform.
//
// Uploads, deletes, /v1, /files (tus), HLS (claimed once fleet-wide in the
// store) and the admin routes are never routed.
type Fleet interface {
	// Inbound reports whether r is a genuine forward from another edge,
	// and strips the fleet's headers (fleet.HopHeader, FillHeader) from
	// r when it is not. route calls it first, before anything reads them.
	Inbound(r *http.Request) bool
	Candidates(key string) (cands []fleet.Member, owner fleet.Member, spilled bool)
	ForwardRanked(ctx context.Context, cands []fleet.Member, r *http.Request) (*http.Response, fleet.Member, error)
	Forward(ctx context.Context, target fleet.Member, r *http.Request) (*http.Response, error)
	Rank(key string) []fleet.Member
	Begin() (done func())
	LastJoin() time.Time
}

// MediaKeyer is the optional capability of a MediaHandler to name the cache
// key a request resolves to, so that the fleet routes renditions by it
// (the Renderer has it). ok=false serves the request where it lands.
type MediaKeyer interface {
	CacheKey(r *http.Request, id, ext string) (key string, ok bool)
}

// FillHeader marks an edge's request that fills its cache miss from the
// key's owner: the receiver serves it from its cache or makes it, never
// asking a third edge. Honoured only on a forward Inbound verified.
const FillHeader = fleet.FillHeader

// The sources of a fill from another edge (mediaedge_fleet_fills_total{source}).
const (
	fillOwner    = "owner"
	fillPrevious = "previous"
)

// peerFillTimeout bounds the body of a fill from another edge, from its
// response headers on. The wait for the headers, which includes the owner
// computing the result, is the fleet's (fleet.Config.ResponseHeaderTimeout,
// sized to the longest render): a total bound here would cut a long video
// conversion short and answer 502 where a lone edge serves it.
const peerFillTimeout = 2 * time.Minute

// isFill reports whether r is another edge filling its miss from this one.
func isFill(r *http.Request) bool {
	return fleet.IsForwarded(r) && r.Header.Get(FillHeader) != ""
}

// onlyIfCached reports whether r is another edge asking for a cached copy
// only (Cache-Control: only-if-cached, RFC 9111 5.2.1.7: 504 when there is none).
func onlyIfCached(r *http.Request) bool {
	if !fleet.IsForwarded(r) {
		return false
	}
	for _, v := range r.Header.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), "only-if-cached") {
				return true
			}
		}
	}
	return false
}

// mediaKey is the cache key of a GET|HEAD /m/{id} request, as every edge
// computes it, or ok=false when it is not routed.
func (s *Server) mediaKey(r *http.Request, id, ext string) (string, bool) {
	if ext == "" && len(r.URL.Query()) == 0 {
		return OriginalKey(id), true
	}
	if k, ok := s.deps.Media.(MediaKeyer); ok {
		return k.CacheKey(r, id, ext)
	}
	return "", false
}

// route sends a client's request for key to the edge that should serve it
// and streams the answer back. It reports false when this edge serves it.
// Every routed request passes here first (serveMedia), so this is where a
// forged fleet header is stripped: isFill, onlyIfCached and spill trust
// them afterwards.
func (s *Server) route(w http.ResponseWriter, r *http.Request, key string) bool {
	f := s.deps.Fleet
	if f.Inbound(r) {
		return false
	}
	cands, _, _ := f.Candidates(key)
	for {
		resp, from, err := f.ForwardRanked(r.Context(), cands, r)
		switch {
		case errors.Is(err, fleet.ErrLocal):
			return false
		case err != nil && fleet.IsUnreachable(err):
			// Every member tried is gone and this edge was not among the
			// candidates (it is leaving): better served here than failed.
			return false
		case err != nil:
			// Not an unreachable member: it may be computing the result, and
			// asking the next would compute it twice.
			s.fail(w, r, peerFault(err))
			return true
		}
		// A small body is read before the status goes out, so that a
		// member dying mid-body costs a retry on the next one, not the
		// client's request; a large one streams.
		var body io.Reader = resp.Body
		if r.Method != http.MethodHead && resp.ContentLength >= 0 && resp.ContentLength <= maxBufferedForward {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				if r.Context().Err() != nil {
					s.fail(w, r, r.Context().Err())
					return true
				}
				s.log.Debug("forwarded response cut; trying the next edge", "key", key, "from", from.Name, "err", err)
				i := slices.IndexFunc(cands, func(m fleet.Member) bool { return m.Name == from.Name })
				cands = cands[i+1:]
				if len(cands) == 0 {
					return false
				}
				continue
			}
			body = bytes.NewReader(b)
		} else {
			defer resp.Body.Close()
		}
		s.copyResponse(w, r, resp, body, key, from)
		return true
	}
}

// maxBufferedForward is the largest forwarded body read whole before it is
// sent on (renditions, most originals).
const maxBufferedForward = 4 << 20

// copyResponse sends another edge's response on: status, end-to-end
// headers, body.
func (s *Server) copyResponse(w http.ResponseWriter, r *http.Request, resp *http.Response, body io.Reader, key string, from fleet.Member) {
	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = vs
	}
	for _, k := range []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		h.Del(k)
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, body); err != nil && r.Context().Err() == nil {
		// The serving edge died mid-body: cut the connection so that the
		// client sees a broken response, never a short one.
		s.log.Debug("forwarded response cut", "key", key, "from", from.Name, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// spill serves a request this edge took for a busier owner (bounded
// loads) or while its view of the fleet is behind: it relays the answer of
// the first reachable member ranked above it, and keeps none, so every
// result stays on one edge's disks and the fleet's disks add up to one
// cache (issue 13). The owner's single-flight still makes it once. The
// request goes as the client sent it, method, Range and conditionals
// included, with FillHeader (the owner serves it whatever its view): the
// owner answers a range or a 304 from its cache, and no more than that
// crosses the LAN or sits in this edge's memory. The answer streams on
// under the client's context, bounded only by the fleet's wait for the
// owner's headers: a large original sent at a slow client's pace takes
// what it takes (fills, which a cache holds, have peerFillTimeout). The
// price: a spilled request costs the owner a cache read, not a compute.
// False: this edge ranks first for the key (or nobody above it answered),
// so the usual cache-through applies.
func (s *Server) spill(w http.ResponseWriter, r *http.Request, o origin) bool {
	if !o.routed || s.deps.Fleet == nil || isFill(r) {
		return false
	}
	ranked := s.deps.Fleet.Rank(o.key)
	self := slices.IndexFunc(ranked, func(m fleet.Member) bool { return m.Local })
	if self <= 0 {
		return false // first for the key, or not ranked (leaving): served here
	}
	for _, m := range ranked[:self] {
		req, err := spillRequest(r)
		if err != nil {
			s.fail(w, r, err)
			return true
		}
		resp, err := s.deps.Fleet.Forward(r.Context(), m, req)
		if err != nil {
			if fleet.IsUnreachable(err) {
				continue // gone, and the fleet has not noticed yet: the next
			}
			s.fail(w, r, peerFault(err))
			return true
		}
		defer resp.Body.Close()
		var body io.Reader = resp.Body
		if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent {
			body = &eofHook{r: resp.Body, at: func() { s.metrics.peerFills.WithLabelValues(fillOwner).Inc() }}
		}
		s.copyResponse(w, r, resp, body, o.key, m)
		return true
	}
	return false
}

// spillHeaders are the client's headers a spilled request takes to the
// owner: Accept picks auto=format's output (the same key), the rest are
// the owner's to answer (Range, conditionals), as it would a client's.
var spillHeaders = []string{"Accept", "Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"}

// spillRequest is r as a spill target asks the owner for it.
func spillRequest(r *http.Request) (*http.Request, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, r.URL.RequestURI(), nil)
	if err != nil {
		return nil, err
	}
	req.RemoteAddr = r.RemoteAddr
	for _, h := range spillHeaders {
		if vs := r.Header.Values(h); len(vs) > 0 {
			req.Header[h] = vs
		}
	}
	req.Header.Set(FillHeader, "1")
	return req, nil
}

// produce makes o's bytes for a miss: from another edge when the fleet says
// so (see Fleet), else here.
func (s *Server) produce(ctx context.Context, r *http.Request, o origin) (content, error) {
	if o.routed && s.deps.Fleet != nil {
		c, ok, err := s.fillFromPeers(ctx, r, o.key, !isFill(r))
		if err != nil || ok {
			return c, err
		}
	}
	return o.make(ctx)
}

// fillFromPeers fills a miss from the first reachable member ranked above
// this edge (the owner computes; not when r is itself a fill, answered here
// whatever this edge's view), or, just after a join, from the member ranked
// next (the previous owner, only if it has a copy: such a request never
// goes further, so it cannot chain). ok=false: make it here.
func (s *Server) fillFromPeers(ctx context.Context, r *http.Request, key string, askAbove bool) (content, bool, error) {
	f := s.deps.Fleet
	ranked := f.Rank(key)
	self := slices.IndexFunc(ranked, func(m fleet.Member) bool { return m.Local })
	if self < 0 {
		return content{}, false, nil
	}
	above := ranked[:self]
	if !askAbove {
		above = nil
	}
	for _, m := range above {
		c, status, err := s.fetchPeer(ctx, r, m, false)
		if err != nil {
			if fleet.IsUnreachable(err) {
				continue // gone, and the fleet has not noticed yet: the next
			}
			return content{}, false, peerFault(err)
		}
		if status != http.StatusOK {
			return content{}, false, c.peerErr
		}
		return c.content, true, nil
	}
	if self+1 < len(ranked) && s.inHandoff() {
		c, status, err := s.fetchPeer(ctx, r, ranked[self+1], true)
		if err == nil && status == http.StatusOK {
			return c.content, true, nil
		}
	}
	return content{}, false, nil
}

// inHandoff reports whether a member joined within FleetHandoff.
func (s *Server) inHandoff() bool {
	h := s.cfg.FleetHandoff
	return h > 0 && time.Since(s.deps.Fleet.LastJoin()) < h
}

type peerAnswer struct {
	content
	peerErr error // the member's error answer, as the client should see it
}

// fetchPeer asks m for r's bytes to fill this edge's cache with a fresh GET
// (no Range, no conditionals: the whole entity): as its owner (FillHeader)
// or only if cached. A 200's body is returned open, counted as a fill when read to the
// end. The wait for the headers is the fleet's; the body has peerFillTimeout.
func (s *Server) fetchPeer(ctx context.Context, r *http.Request, m fleet.Member, cachedOnly bool) (peerAnswer, int, error) {
	ctx, stop := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL.RequestURI(), nil)
	if err != nil {
		stop()
		return peerAnswer{}, 0, err
	}
	req.RemoteAddr = r.RemoteAddr
	if a := r.Header.Get("Accept"); a != "" {
		req.Header.Set("Accept", a) // auto=format picks by it: the same key
	}
	source := fillOwner
	if cachedOnly {
		req.Header.Set("Cache-Control", "only-if-cached")
		source = fillPrevious
	} else {
		req.Header.Set(FillHeader, "1")
	}
	resp, err := s.deps.Fleet.Forward(ctx, m, req)
	if err != nil {
		stop()
		return peerAnswer{}, 0, err
	}
	bodyTimer := time.AfterFunc(peerFillTimeout, stop)
	cancel := func() { bodyTimer.Stop(); stop() }
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		return peerAnswer{peerErr: peerError(resp, m)}, resp.StatusCode, nil
	}
	body := &eofHook{r: resp.Body, at: func() { s.metrics.peerFills.WithLabelValues(source).Inc() }}
	return peerAnswer{content: content{
		body:        body,
		size:        max(0, resp.ContentLength),
		contentType: resp.Header.Get("Content-Type"),
		close:       func() error { cancel(); return resp.Body.Close() },
		fault:       func(err error) error { return fmt.Errorf("%w: from %s: %w", errPeerLost, m.Name, err) },
	}}, http.StatusOK, nil
}

// eofHook calls at once when r reaches its end.
type eofHook struct {
	r    io.Reader
	at   func()
	done bool
}

func (h *eofHook) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if err == io.EOF && !h.done {
		h.done = true
		h.at()
	}
	return n, err
}

// peerError is another edge's error answer as this edge's client should
// see it: the same status, code and public message (our own error writer
// made them, so they carry no internal detail).
func peerError(resp *http.Response, m fleet.Member) error {
	var b struct {
		Error struct{ Code, Message, Param string } `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err := json.Unmarshal(raw, &b); err != nil || b.Error.Code == "" {
		return peerFault(fmt.Errorf("edge %s answered %s", m.Name, resp.Status))
	}
	he := &httperr.Error{Status: resp.StatusCode, Code: b.Error.Code, Message: b.Error.Message, Param: b.Error.Param}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		he.RetryAfter = ra
	}
	if resp.StatusCode >= 500 {
		he.Cause = fmt.Errorf("from edge %s", m.Name)
	}
	return he
}
