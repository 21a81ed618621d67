package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// HopHeader marks a request one edge sent to another; its value is the
// sender's member name. A request carrying it is served where it lands, never
// forwarded again, so two edges with different views cannot bounce a request.
// Forward signs it (AuthHeader) and Inbound strips it from a request whose
// signature does not verify (auth.go).
const HopHeader = "X-Mediaedge-Hop"

var (
	// ErrForwarded is Forward refusing a request that already carries HopHeader.
	ErrForwarded = errors.New("fleet: request was already forwarded")
	// ErrLocal is Forward's and ForwardRanked's answer when the member to
	// try is this edge: serve the request here.
	ErrLocal = errors.New("fleet: the target is this edge")
)

// IsForwarded reports whether r came from another edge (it carries
// HopHeader). The edge serves such a request itself: from its cache, by
// computing it, or, as a spill target, by filling from the owner with a new
// request of its own. Any client can set the header: it means something only
// on a request that went through Inbound, which strips a forged one.
func IsForwarded(r *http.Request) bool { return r.Header.Get(HopHeader) != "" }

// ForwardedBy is the name of the edge that forwarded r, or "".
func ForwardedBy(r *http.Request) string { return r.Header.Get(HopHeader) }

// Forward results, the values of the "result" label.
const (
	ResultOK          = "ok"          // a response came back (any status)
	ResultUnreachable = "unreachable" // refused, reset or no connection: the next member may be tried
	ResultError       = "error"       // any other failure (timeout waiting for headers, canceled)
	ResultLoop        = "loop"        // refused locally: the request was already forwarded
)

// Stats are the forward attempts since Join, by result.
type Stats struct {
	OK, Unreachable, Errors, Loops uint64
}

type counters struct {
	ok, unreachable, errors, loops atomic.Uint64
}

// Stats returns the forward counts since Join.
func (f *Fleet) Stats() Stats {
	return Stats{
		OK: f.stats.ok.Load(), Unreachable: f.stats.unreachable.Load(),
		Errors: f.stats.errors.Load(), Loops: f.stats.loops.Load(),
	}
}

func (f *Fleet) count(result string) {
	switch result {
	case ResultOK:
		f.stats.ok.Add(1)
	case ResultUnreachable:
		f.stats.unreachable.Add(1)
	case ResultError:
		f.stats.errors.Add(1)
	case ResultLoop:
		f.stats.loops.Add(1)
	}
	if f.cfg.Forwards != nil {
		f.cfg.Forwards.WithLabelValues(result).Inc()
	}
}

// newTransport is the keep-alive pool to the other edges: HTTP/1.1 (no TLS
// or h2c between edges on a LAN), no proxy from the environment, bodies
// passed through as the owner encoded them.
func newTransport(cfg Config) *http.Transport {
	d := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 15 * time.Second}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:       cfg.IdleConnTimeout,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		TLSHandshakeTimeout:   cfg.DialTimeout + time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

// hopByHop are the headers that concern one connection only (RFC 9110 7.6.1).
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// Forward sends r to target and returns its response, which the caller must
// close. The request keeps its method, path, query, Host and end-to-end
// headers (FillHeader included), gains HopHeader, its signature (AuthHeader,
// see auth.go) and X-Forwarded-For, and runs under ctx (which
// should end with the client's request). It never follows redirects. A
// request that is already forwarded fails with ErrForwarded, and target
// being this edge with ErrLocal. IsUnreachable(err) tells whether another
// member may be tried.
func (f *Fleet) Forward(ctx context.Context, target Member, r *http.Request) (*http.Response, error) {
	if IsForwarded(r) {
		f.count(ResultLoop)
		return nil, fmt.Errorf("forward %s to %s: %w", r.URL.Path, target.Name, ErrForwarded)
	}
	if target.Local || target.Name == f.name {
		return nil, ErrLocal
	}
	base, err := url.Parse(target.HTTPAddr)
	if err != nil || base.Host == "" {
		f.count(ResultError)
		return nil, fmt.Errorf("forward %s to %s: bad HTTP address %q", r.URL.Path, target.Name, target.HTTPAddr)
	}
	out := r.Clone(ctx)
	out.RequestURI = ""
	u := *r.URL
	u.Scheme, u.Host, u.User = base.Scheme, base.Host, nil
	if p := strings.TrimSuffix(base.Path, "/"); p != "" {
		u.Path = p + u.Path
		if u.RawPath != "" {
			u.RawPath = p + u.RawPath
		}
	}
	out.URL = &u
	if out.Host == "" {
		out.Host = base.Host
	}
	for _, c := range out.Header.Values("Connection") {
		for _, name := range strings.Split(c, ",") {
			out.Header.Del(strings.TrimSpace(name))
		}
	}
	for _, h := range hopByHop {
		out.Header.Del(h)
	}
	out.Header.Set(HopHeader, f.name)
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := out.Header.Values("X-Forwarded-For"); len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		out.Header.Set("X-Forwarded-For", ip)
	}
	sign(out, r.URL.RequestURI(), f.keyFor(target), time.Now())
	resp, err := f.client.Do(out)
	if err != nil {
		if IsUnreachable(err) {
			f.count(ResultUnreachable)
		} else {
			f.count(ResultError)
		}
		return nil, fmt.Errorf("forward %s to %s: %w", r.URL.Path, target.Name, err)
	}
	f.count(ResultOK)
	return resp, nil
}

// ForwardRanked forwards r to the first of cands (Candidates' order) that
// answers: a member that refuses or resets the connection (it died, and the
// fleet has not noticed yet) is skipped at once for the next one. It returns
// the response and the member that gave it. When the walk reaches this edge
// it returns that member and ErrLocal: serve the request here. Any other
// failure (a timeout: the owner may be computing) is returned without trying
// further, so one slow result is never computed twice. Only a request with
// no body, or with GetBody, is retried.
func (f *Fleet) ForwardRanked(ctx context.Context, cands []Member, r *http.Request) (*http.Response, Member, error) {
	var lastErr error
	for i, m := range cands {
		if m.Local || m.Name == f.name {
			return nil, m, ErrLocal
		}
		req := r
		if i > 0 && r.GetBody != nil {
			body, err := r.GetBody()
			if err != nil {
				return nil, m, fmt.Errorf("forward %s: rewind body: %w", r.URL.Path, err)
			}
			req = r.Clone(r.Context())
			req.Body = body
		}
		resp, err := f.Forward(ctx, m, req)
		if err == nil {
			return resp, m, nil
		}
		lastErr = err
		if !IsUnreachable(err) || ctx.Err() != nil || !replayable(r) {
			return nil, m, err
		}
		f.log.Debug("fleet member unreachable; trying the next", "member", m.Name, "err", err)
	}
	if lastErr == nil {
		lastErr = errors.New("fleet: no member to forward to")
	}
	return nil, Member{}, lastErr
}

// replayable reports whether r can be sent again.
func replayable(r *http.Request) bool {
	return r.Body == nil || r.Body == http.NoBody || r.GetBody != nil
}

// IsUnreachable reports whether err means the member never took the request:
// the connection was refused, reset or closed before a response, or could not
// be made at all. Trying the next member is then safe and cheap.
func IsUnreachable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true // nothing was sent (a dial timeout included)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return false // the caller's deadline, not the member's fault
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
