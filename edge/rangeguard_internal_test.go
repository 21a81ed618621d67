package edge

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// stuckReader is content whose first Read stays inside until released, as a
// slow disk read or chunk fetch would; it counts the calls that reach it.
type stuckReader struct {
	entered chan struct{} // closed when the first Read is inside
	release chan struct{} // close to let it return
	calls   int           // Reads and Seeks that reached it
}

func (s *stuckReader) Read(p []byte) (int, error) {
	s.calls++
	if s.calls == 1 {
		close(s.entered)
		<-s.release
	}
	return copy(p, "data"), nil
}

func (s *stuckReader) Seek(offset int64, whence int) (int64, error) {
	s.calls++
	return offset, nil
}

// TestRangeGuardCloseWaitsForRead: close waits for a Read in progress (the
// content is not closed under ServeContent's multi-range goroutine), and
// every Read and Seek after it fails without reaching the content.
func TestRangeGuardCloseWaitsForRead(t *testing.T) {
	sr := &stuckReader{entered: make(chan struct{}), release: make(chan struct{})}
	g := &rangeGuard{rs: sr}

	readDone := make(chan error, 1)
	go func() {
		_, err := g.Read(make([]byte, 4))
		readDone <- err
	}()
	<-sr.entered

	closed := make(chan struct{})
	go func() {
		g.close()
		close(closed)
	}()
	// A negative check, so bounded by time: close must still be waiting.
	select {
	case <-closed:
		t.Fatal("close returned while a Read was inside the content")
	case <-time.After(100 * time.Millisecond):
	}
	close(sr.release)
	if err := <-readDone; err != nil {
		t.Fatalf("the Read in progress: %v", err)
	}
	<-closed

	if _, err := g.Read(make([]byte, 4)); !errors.Is(err, errRangeGuardClosed) {
		t.Errorf("Read after close: %v, want errRangeGuardClosed", err)
	}
	if _, err := g.Seek(0, io.SeekStart); !errors.Is(err, errRangeGuardClosed) {
		t.Errorf("Seek after close: %v, want errRangeGuardClosed", err)
	}
	if sr.calls != 1 {
		t.Errorf("the content saw %d calls, want only the one before close", sr.calls)
	}
	g.close() // a second close does nothing
}

// TestGuardRangesOnlyMultiRange: only a Range naming more than one range is
// guarded; everything else gets the content itself, so that an *os.File
// still goes out with sendfile.
func TestGuardRangesOnlyMultiRange(t *testing.T) {
	tests := []struct {
		rng   string // "" for no Range header
		guard bool
	}{
		{"", false},
		{"bytes=0-99", false},
		{"bytes=-5", false},
		{"bytes=100-", false},
		{"bytes=0-9,20-29", true},
		{"bytes=0-9, 20-29, 40-", true},
		{"bytes=0-9,", true}, // costs a copy, never a wrong byte
		{"items=0-9,20-29", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/m/x", nil)
		if tt.rng != "" {
			r.Header.Set("Range", tt.rng)
		}
		content := strings.NewReader("content")
		rs, release := guardRanges(r, content)
		_, guarded := rs.(*rangeGuard)
		if guarded != tt.guard {
			t.Errorf("Range %q: guarded %v, want %v", tt.rng, guarded, tt.guard)
		}
		if !tt.guard && rs != io.ReadSeeker(content) {
			t.Errorf("Range %q: content not handed over as is", tt.rng)
		}
		release()
	}
}
