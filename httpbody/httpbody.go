package httpbody

import (
	"errors"
	"io"
	"net/http"
	"time"
)

// ErrTooSlow is returned when fewer than MinRate bytes a second arrived over
// a whole Window.
var ErrTooSlow = errors.New("httpbody: request body slower than the minimum rate")

// Limits are the rules a body read follows.
type Limits struct {
	// Gap bounds the time between two reads; 0 sets no deadline.
	Gap time.Duration
	// MinRate is the slowest average, in bytes a second, a body may arrive
	// at over each Window; 0 disables the check.
	MinRate int64
	// Window is the span MinRate is averaged over. A window's worth of
	// slowness is tolerated (a mobile client stalls for a few seconds now
	// and then), a sustained trickle is not.
	Window time.Duration
}

// Reader is a request body read under Limits. It is not safe for
// concurrent use (one handler reads a body).
type Reader struct {
	r   io.Reader
	rc  *http.ResponseController
	lim Limits
	now func() time.Time

	rate *RateMeter
	n    int64 // bytes read in all
}

// NewReader reads r (a request body) under lim, moving the connection's read
// deadline through rc (nil: no deadline, as for a body that is not a
// connection's).
func NewReader(r io.Reader, rc *http.ResponseController, lim Limits) *Reader {
	return &Reader{r: r, rc: rc, lim: lim, now: time.Now, rate: NewRateMeter(lim)}
}

// RateMeter holds a body to Limits' minimum rate, for readers that manage
// their own deadlines (the tus handler's interruptible body).
type RateMeter struct {
	lim      Limits
	winStart time.Time // start of the current window
	winBytes int64     // bytes read in it
}

// NewRateMeter measures against lim.MinRate over lim.Window.
func NewRateMeter(lim Limits) *RateMeter { return &RateMeter{lim: lim} }

// Check is called before each read: ErrTooSlow when the window that just
// ended carried fewer than MinRate bytes a second.
func (m *RateMeter) Check(now time.Time) error {
	if m.winStart.IsZero() {
		m.winStart = now
	}
	if m.lim.MinRate <= 0 || m.lim.Window <= 0 {
		return nil
	}
	if el := now.Sub(m.winStart); el >= m.lim.Window {
		if m.winBytes < int64(float64(m.lim.MinRate)*el.Seconds()) {
			return ErrTooSlow
		}
		m.winStart, m.winBytes = now, 0
	}
	return nil
}

// Add counts n bytes read.
func (m *RateMeter) Add(n int) { m.winBytes += int64(n) }

// N is the number of bytes read so far.
func (b *Reader) N() int64 { return b.n }

func (b *Reader) Read(p []byte) (int, error) {
	now := b.now()
	if err := b.rate.Check(now); err != nil {
		return 0, err
	}
	if b.rc != nil && b.lim.Gap > 0 {
		_ = b.rc.SetReadDeadline(now.Add(b.lim.Gap))
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	b.rate.Add(n)
	return n, err
}
