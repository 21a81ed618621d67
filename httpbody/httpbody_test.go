package httpbody

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

// trickle returns one byte per Read.
type trickle struct{ left int }

func (t *trickle) Read(p []byte) (int, error) {
	if t.left == 0 {
		return 0, io.EOF
	}
	t.left--
	p[0] = 'x'
	return 1, nil
}

// TestMinRate: a client trickling one byte a second is cut after one
// window; one at the minimum rate goes through to EOF. The clock is a fake
// advanced per read, so the test takes no time.
func TestMinRate(t *testing.T) {
	lim := Limits{MinRate: 100, Window: 10 * time.Second}
	clock := time.Unix(0, 0)
	slow := NewReader(&trickle{left: 1000}, nil, lim)
	slow.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	buf := make([]byte, 10)
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		_, err = slow.Read(buf)
	}
	if !errors.Is(err, ErrTooSlow) || slow.N() > 12 {
		t.Fatalf("1 B/s against a 100 B/s minimum: err %v after %d bytes", err, slow.N())
	}

	// 200 bytes a second, twice the minimum, for a minute: never cut.
	clock = time.Unix(0, 0)
	fast := NewReader(io.LimitReader(bytes.NewReader(make([]byte, 12000)), 12000), nil, lim)
	fast.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	var n int64
	for {
		k, err := fast.Read(make([]byte, 200))
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("200 B/s against a 100 B/s minimum cut after %d bytes: %v", n, err)
		}
	}
	if n != 12000 {
		t.Fatalf("read %d of 12000", n)
	}
}

// TestNoLimits reads everything when no limit is set.
func TestNoLimits(t *testing.T) {
	r := NewReader(&trickle{left: 50}, nil, Limits{})
	n, err := io.Copy(io.Discard, struct{ io.Reader }{r})
	if err != nil || n != 50 || r.N() != 50 {
		t.Fatalf("%d %v", n, err)
	}
}
