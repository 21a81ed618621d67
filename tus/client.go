package tus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Client uploads files to a tus server, resuming where an earlier run or a
// dropped connection left off. The zero value needs only Endpoint.
type Client struct {
	// Endpoint is the tus creation URL, e.g. http://127.0.0.1:8080/files/.
	Endpoint string
	// Token is sent as Authorization: Bearer.
	Token string
	// ChunkSize is the bytes per PATCH (default 8 MiB). Each chunk is held in
	// memory once, to compute its Upload-Checksum before sending it.
	ChunkSize int64
	// HTTP is the client used; default one with a response-header timeout.
	HTTP *http.Client
	// StateDir remembers upload URLs between runs; default
	// os.UserCacheDir()/mediaedge/uploads.
	StateDir string
	// MaxRetries is how many failures in a row, without progress between
	// them, end the upload (default 8: about 40 s of backoff, enough to
	// ride out a server restart).
	MaxRetries int
	// Backoff is the first retry delay, doubled per failure up to 10 s
	// (default 250 ms).
	Backoff time.Duration
	// LockWait is how long, in total without progress, the client waits
	// for an upload that another request holds (423 Locked: a PATCH still
	// running on some edge, or the lease of a writer that died, which
	// lapses) before giving up; each wait is the answer's Retry-After.
	// Default 2 minutes. 423s do not use up MaxRetries.
	LockWait time.Duration
	// OutageWait is how long, in total without progress, the client keeps
	// retrying a server that answers 503 (its store is down or restarting:
	// a Cassandra node rebooting takes minutes), waiting each answer's
	// Retry-After with backoff. Default 10 minutes. 503s do not use up
	// MaxRetries.
	OutageWait time.Duration
}

// StatusError is an answer the client did not expect (or gave up retrying).
type StatusError struct {
	Method string
	URL    string
	Status int
	Body   string
	// RetryAfter is the answer's Retry-After, 0 when it had none.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.URL, e.Status, http.StatusText(e.Status), e.Body)
}

// permanent marks an error retrying cannot fix (a local file error, a bad URL).
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// ErrTooManyRetries ends an upload that keeps failing without progress.
var ErrTooManyRetries = errors.New("tus: too many failed attempts")

const defaultChunkSize = 8 << 20

// defaultHTTP waits at most 2 minutes for a response once the request is
// sent (a PATCH body may take long to send; that is not covered). Like
// http.DefaultClient it is set once and shared, so connections are reused
// across Upload calls.
var defaultHTTP = &http.Client{Transport: func() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 2 * time.Minute
	return t
}()}

// Upload sends the file at path and returns its media id. progress, if
// not nil, is called with the bytes the server holds (and those in flight).
func (c *Client) Upload(ctx context.Context, path string, progress func(done, total int64)) (string, error) {
	if progress == nil {
		progress = func(int64, int64) {}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", path, err)
	}
	f, err := os.Open(abs)
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("upload %s: not a regular file", path)
	}
	st, err := c.openState(abs, fi)
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", path, err)
	}
	u := &clientUpload{c: c, f: f, name: filepath.Base(abs), size: fi.Size(), st: st, offset: -1, progress: progress}
	if err := u.run(ctx); err != nil {
		return "", fmt.Errorf("upload %s: %w", path, err)
	}
	st.remove()
	return u.mediaID, nil
}

// clientUpload is one Upload call's state.
type clientUpload struct {
	c        *Client
	f        *os.File
	name     string
	size     int64
	st       *uploadState
	offset   int64 // -1: unknown, ask with HEAD
	mediaID  string
	buf      []byte
	progress func(done, total int64)
}

func (u *clientUpload) run(ctx context.Context) error {
	maxRetries := u.c.MaxRetries
	if maxRetries <= 0 {
		maxRetries = 8
	}
	delay := u.c.Backoff
	if delay <= 0 {
		delay = 250 * time.Millisecond
	}
	lockWait := u.c.LockWait
	if lockWait <= 0 {
		lockWait = 2 * time.Minute
	}
	outageWait := u.c.OutageWait
	if outageWait <= 0 {
		outageWait = 10 * time.Minute
	}
	failures := 0            // failures since the server last confirmed more bytes
	var locked time.Duration // 423 waits since then
	var outage time.Duration // 503 waits since then
	outages := 0             // 503s since then
	var best int64 = -1      // the highest offset the server confirmed
	for u.mediaID == "" {
		err := u.step(ctx)
		if u.offset > best {
			// Progress, ours or (after a HEAD) another request's for this
			// upload: the retry budgets start again.
			best, failures, locked, outage, outages = u.offset, 0, 0, 0, 0
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var se *StatusError
		var pe permanent
		if errors.As(err, &se) && !retryableStatus(se.Status) {
			return err
		}
		if errors.As(err, &pe) {
			return pe.error
		}
		u.offset = -1 // learn the durable offset again before sending more
		var wait time.Duration
		switch {
		case se != nil && se.Status == http.StatusLocked:
			// Another request holds the upload: wait as long as the server
			// says, then ask where it stands. Not a failure: the holder
			// either finishes (the offset moves: progress) or its lease
			// lapses; LockWait bounds the whole.
			wait = se.RetryAfter
			if wait <= 0 {
				wait = time.Second
			}
			wait = min(wait, 30*time.Second)
			if locked+wait > lockWait {
				return fmt.Errorf("%w: the upload stayed locked for %s: %w", ErrTooManyRetries, locked, err)
			}
			locked += wait
		case se != nil && se.Status == http.StatusServiceUnavailable:
			// The server is up but its store is not: keep at it, with
			// backoff, at least as long as the server asks, for OutageWait.
			outages++
			wait = min(delay<<min(outages-1, 8), 30*time.Second)
			wait = max(wait/2+rand.N(wait/2+1), se.RetryAfter)
			if outage+wait > outageWait {
				return fmt.Errorf("%w: the server's store was unavailable for %s: %w", ErrTooManyRetries, outage, err)
			}
			outage += wait
		case se != nil && se.Status == http.StatusConflict:
			// The offset moved (another request wrote, or took over this
			// one and kept part of its bytes): HEAD again at once.
			failures++
			if failures > maxRetries {
				return fmt.Errorf("%w (%d): %w", ErrTooManyRetries, failures, err)
			}
			continue
		default:
			failures++
			if failures > maxRetries {
				return fmt.Errorf("%w (%d): %w", ErrTooManyRetries, failures, err)
			}
			wait = min(delay<<(failures-1), 10*time.Second)
			wait = wait/2 + rand.N(wait/2+1) // jitter: many clients do not retry in step
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	u.progress(u.size, u.size)
	return nil
}

// retryableStatus: the server or a proxy failed, the upload is busy
// (423), the offset moved (409, re-read with HEAD) or a chunk was damaged
// in transit (460).
func retryableStatus(code int) bool {
	return code >= 500 || code == http.StatusConflict || code == http.StatusLocked ||
		code == StatusChecksumMismatch || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests
}

// step does one request: create, learn the offset, or send one chunk.
func (u *clientUpload) step(ctx context.Context) error {
	switch {
	case u.st.URL == "":
		return u.create(ctx)
	case u.offset < 0:
		return u.head(ctx)
	default:
		return u.patch(ctx)
	}
}

func (u *clientUpload) create(ctx context.Context) error {
	meta := map[string]string{"filename": u.name}
	if t := mime.TypeByExtension(filepath.Ext(u.name)); t != "" {
		meta["filetype"] = t
	}
	resp, err := u.c.do(ctx, http.MethodPost, u.c.Endpoint, map[string]string{
		"Upload-Length":   strconv.FormatInt(u.size, 10),
		"Upload-Metadata": FormatMetadata(meta),
	}, nil, 0)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return statusError(resp)
	}
	loc, err := resolve(u.c.Endpoint, resp.Header.Get("Location"))
	if err != nil {
		return fmt.Errorf("create: Location: %w", err)
	}
	u.st.URL = loc
	if err := u.st.save(); err != nil {
		return err
	}
	u.offset = 0
	if u.size == 0 {
		u.finished(resp)
	}
	return nil
}

func (u *clientUpload) head(ctx context.Context) error {
	resp, err := u.c.do(ctx, http.MethodHead, u.st.URL, nil, nil, 0)
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusGone, http.StatusForbidden:
		// Expired, terminated or not ours: start again.
		u.st.URL = ""
		u.st.remove()
		return nil
	default:
		return statusError(resp)
	}
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || off < 0 || off > u.size {
		return fmt.Errorf("HEAD %s: bad Upload-Offset %q", u.st.URL, resp.Header.Get("Upload-Offset"))
	}
	if l := resp.Header.Get("Upload-Length"); l != "" && l != strconv.FormatInt(u.size, 10) {
		// Not this file's upload (the state was stale): start again.
		u.st.URL = ""
		u.st.remove()
		return nil
	}
	u.offset = off
	u.progress(off, u.size)
	if off == u.size {
		u.finished(resp)
	}
	return nil
}

func (u *clientUpload) patch(ctx context.Context) error {
	size := u.c.ChunkSize
	if size <= 0 {
		size = defaultChunkSize
	}
	n := min(size, u.size-u.offset)
	if int64(cap(u.buf)) < n {
		u.buf = make([]byte, n)
	}
	chunk := u.buf[:n]
	if _, err := u.f.ReadAt(chunk, u.offset); err != nil {
		return permanent{fmt.Errorf("read %s at %d: %w", u.f.Name(), u.offset, err)}
	}
	sum := sha256.Sum256(chunk)
	start := u.offset
	body := &progressReader{r: bytes.NewReader(chunk), fn: func(sent int64) { u.progress(start+sent, u.size) }}
	resp, err := u.c.do(ctx, http.MethodPatch, u.st.URL, map[string]string{
		"Content-Type":    contentTypeChunk,
		"Upload-Offset":   strconv.FormatInt(u.offset, 10),
		"Upload-Checksum": "sha256 " + base64.StdEncoding.EncodeToString(sum[:]),
	}, body, n)
	// A server may answer before it read the body (423, 409): Do returns
	// while the transport may still be sending it. Until the transport
	// closes the body the buffer is its, so the next chunk gets a new one,
	// and the late reads report no progress.
	body.quiet.Store(true)
	if !body.closed.Load() {
		u.buf = nil
	}
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusNoContent {
		return statusError(resp)
	}
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || off < start || off > u.size {
		return fmt.Errorf("PATCH %s: bad Upload-Offset %q", u.st.URL, resp.Header.Get("Upload-Offset"))
	}
	u.offset = off
	u.progress(off, u.size)
	if off == u.size {
		u.finished(resp)
	}
	return nil
}

// finished records the media id: the server's X-Media-Id, else the
// upload URL's last segment (the upload id is the media id).
func (u *clientUpload) finished(resp *response) {
	if id := resp.Header.Get(HeaderMediaID); id != "" {
		u.mediaID = id
		return
	}
	p, err := url.Parse(u.st.URL)
	if err == nil {
		u.mediaID = path.Base(p.Path)
	}
}

// response is what the client keeps of an answer: the body is read (a
// little of it) and closed at once so connections are reused.
type response struct {
	StatusCode int
	Header     http.Header
	Body       string
	method     string
	url        string
}

func statusError(r *response) error {
	return &StatusError{Method: r.method, URL: r.url, Status: r.StatusCode, Body: strings.TrimSpace(r.Body),
		RetryAfter: parseRetryAfter(r.Header.Get("Retry-After"))}
}

// parseRetryAfter reads Retry-After: seconds or an HTTP date; 0 when absent
// or unreadable.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

func (c *Client) do(ctx context.Context, method, target string, hdr map[string]string, body io.Reader, n int64) (*response, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, permanent{fmt.Errorf("%s %s: %w", method, target, err)}
	}
	if body != nil {
		req.ContentLength = n
	}
	req.Header.Set("Tus-Resumable", Version)
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return &response{StatusCode: resp.StatusCode, Header: resp.Header, Body: string(b), method: method, url: target}, nil
}

// resolve makes a Location absolute against the endpoint.
func resolve(base, loc string) (string, error) {
	if loc == "" {
		return "", errors.New("missing")
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	l, err := url.Parse(loc)
	if err != nil {
		return "", err
	}
	r := b.ResolveReference(l)
	// The token goes with every request to the upload's URL: a server (or
	// a proxy rewriting Location) must not move it from https to http.
	if b.Scheme == "https" && r.Scheme != "https" {
		return "", fmt.Errorf("%q leaves https for %s", loc, r.Scheme)
	}
	return r.String(), nil
}

// progressReader reports the bytes read through it: a request body, read
// by the transport's goroutine and closed by it when done.
type progressReader struct {
	r    io.Reader
	n    int64
	fn   func(int64)
	last time.Time

	quiet  atomic.Bool // set once the request was answered: no more reports
	closed atomic.Bool // set when the transport is done with the body
}

func (p *progressReader) Close() error {
	p.closed.Store(true)
	return nil
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.quiet.Load() {
		return n, err
	}
	// A progress bar redraw per 32 KiB read would cost more than the read.
	if now := time.Now(); now.Sub(p.last) > 50*time.Millisecond || err != nil {
		p.last = now
		p.fn(p.n)
	}
	return n, err
}
