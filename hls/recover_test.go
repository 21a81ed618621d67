package hls_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/hls"
	"github.com/mediaedge/mediaedge/transform/video"
)

// faultyStore is the chunk store with faults around the recording of the
// package (the (source, "hls") record).
type faultyStore struct {
	*chunkstore.Store

	mu sync.Mutex // guards the fields below
	// lostReply: the claim of the record is written, and then reported as
	// failed (a timeout on a Cassandra LWT that landed).
	lostReply bool
	// readAfterClaim: once the record is claimed, reads of it fail until
	// the test disarms it.
	readAfterClaim, claimed bool
}

var errInjected = errors.New("injected store fault")

func (s *faultyStore) ClaimDerived(ctx context.Context, sourceID, variant, fileID string) (string, bool, error) {
	winner, mine, err := s.Store.ClaimDerived(ctx, sourceID, variant, fileID)
	if variant != "hls" || err != nil {
		return winner, mine, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claimed = true
	if s.lostReply {
		s.lostReply = false
		return "", false, errInjected
	}
	return winner, mine, nil
}

func (s *faultyStore) readFault(variant string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if variant == "hls" && s.readAfterClaim && s.claimed {
		return errInjected
	}
	return nil
}

func (s *faultyStore) GetDerivedID(ctx context.Context, sourceID, variant string) (string, error) {
	if err := s.readFault(variant); err != nil {
		return "", err
	}
	return s.Store.GetDerivedID(ctx, sourceID, variant)
}

// playable fails the test unless every file of m can be read from the store.
func (e *env) playable(t *testing.T, m hls.Manifest) {
	t.Helper()
	for name, id := range m.Files {
		r, err := e.store.Open(context.Background(), id)
		if err != nil {
			t.Fatalf("%s of the package: %v", name, err)
		}
		_, err = io.Copy(io.Discard, r)
		r.Close()
		if err != nil {
			t.Fatalf("%s of the package: %v", name, err)
		}
	}
}

// TestRecordedPackageKept: a store failure once the package's record is
// written (the claim's reply lost; the read that followed it failing) does
// not delete the files the record names. The package is served, at once or
// at the next request, and never made twice. Deleting them left a record
// naming deleted files: every later request for the video failed.
func TestRecordedPackageKept(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(*faultyStore)
	}{
		{"claim reply lost", func(s *faultyStore) { s.lostReply = true }},
		{"read after the claim fails", func(s *faultyStore) { s.readAfterClaim = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			src := e.put(t, clip(t))
			fs := &faultyStore{Store: e.store}
			tc.fault(fs)
			p := hls.New(fastConfig(t), fs, newConv(t))
			first, err := p.Manifest(context.Background(), src)
			if err != nil {
				t.Fatalf("first request: %v", err)
			}
			e.playable(t, first)
			fs.mu.Lock()
			fs.readAfterClaim = false
			fs.mu.Unlock()
			again, err := p.Manifest(context.Background(), src)
			if err != nil {
				t.Fatalf("second request: %v", err)
			}
			if again.Files["index.m3u8"] != first.Files["index.m3u8"] {
				t.Errorf("second request got another package")
			}
			e.playable(t, again)
			if n := e.owned(t, src.ID); n != len(again.Files)+1 {
				t.Errorf("%d files stored for %d package files and a manifest", n, len(again.Files))
			}
		})
	}
}

// TestGonePackageMadeAgain: a record whose manifest is gone from the store
// (deleted under it), or one of whose files is (Forget, as the edge calls
// it when a file is missing), is dropped and the package made again, so the
// video plays again instead of failing for good.
func TestGonePackageMadeAgain(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	src := e.put(t, clip(t))
	p := hls.New(fastConfig(t), e.store, newConv(t))
	m, err := p.Manifest(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	manifestID, err := e.store.GetDerivedID(ctx, src.ID, "hls")
	if err != nil || manifestID != m.ID {
		t.Fatalf("record %q %v, manifest id %q", manifestID, err, m.ID)
	}

	// The manifest file is deleted: the record dangles.
	if err := e.store.Delete(ctx, manifestID); err != nil {
		t.Fatal(err)
	}
	m2, err := p.Manifest(ctx, src)
	if err != nil {
		t.Fatalf("after the manifest was deleted: %v", err)
	}
	if m2.ID == m.ID {
		t.Fatal("the deleted manifest was served")
	}
	e.playable(t, m2)

	// A segment is deleted: the edge finds it missing and calls Forget.
	if err := e.store.Delete(ctx, m2.Files["seg_00000.m4s"]); err != nil {
		t.Fatal(err)
	}
	if err := p.Forget(ctx, src.ID, m2); err != nil {
		t.Fatal(err)
	}
	m3, err := p.Manifest(ctx, src)
	if err != nil {
		t.Fatalf("after a segment was deleted: %v", err)
	}
	if m3.ID == m2.ID {
		t.Fatal("the package missing a segment was served")
	}
	e.playable(t, m3)
	// Forget with a package the record no longer names changes nothing.
	if err := p.Forget(ctx, src.ID, m2); err != nil {
		t.Fatal(err)
	}
	if id, err := e.store.GetDerivedID(ctx, src.ID, "hls"); err != nil || id != m3.ID {
		t.Fatalf("a stale Forget dropped the current package: %q %v", id, err)
	}
}

// TestStaleOutputSwept: New removes the output folders a killed server left
// in TempDir (older than StaleAfter, our prefix only) and nothing else.
func TestStaleOutputSwept(t *testing.T) {
	cfg := fastConfig(t)
	old := time.Now().Add(-2 * cfg.StaleAfter)
	entries := map[string]bool{"mediaedge-hls-dead": true, "mediaedge-hls-live": false, "other-old": false}
	for name := range entries {
		p := filepath.Join(cfg.TempDir, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if name != "mediaedge-hls-live" {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	hls.New(cfg, newEnv(t).store, newConv(t))
	for name, swept := range entries {
		_, err := os.Stat(filepath.Join(cfg.TempDir, name))
		if gone := errors.Is(err, os.ErrNotExist); gone != swept {
			t.Errorf("%s: removed %v, want %v", name, gone, swept)
		}
	}
}

// heldOpens is the chunk store with the first Open of a source held until
// release: a video whose copy is slow.
type heldOpens struct {
	*chunkstore.Store
	sources map[string]bool
	opened  chan struct{} // closed at the first Open of a source
	release chan struct{}

	mu    sync.Mutex // guards opens
	opens int        // Opens of sources
}

func (h *heldOpens) Open(ctx context.Context, id string) (*chunkstore.Reader, error) {
	if h.sources[id] {
		h.mu.Lock()
		h.opens++
		first := h.opens == 1
		h.mu.Unlock()
		if first {
			close(h.opened)
			<-h.release
		}
	}
	return h.Store.Open(ctx, id)
}

// TestQueuedProductionsHoldNoCopy: with the one video worker copying a
// video, packagings of other videos wait for the worker without copying
// theirs, and are refused busy after the queue wait. Copying first let
// every waiting production hold a full copy of its video on disk.
func TestQueuedProductionsHoldNoCopy(t *testing.T) {
	e := newEnv(t)
	vcfg := video.DefaultConfig()
	vcfg.TempDir, vcfg.MaxConcurrent, vcfg.QueueWait = t.TempDir(), 1, 100*time.Millisecond
	conv, err := video.New(vcfg)
	if err != nil {
		t.Fatal(err)
	}
	raw := clip(t)
	h := &heldOpens{Store: e.store, sources: map[string]bool{}, opened: make(chan struct{}), release: make(chan struct{})}
	var srcs []chunkstore.FileInfo
	for i := range 4 {
		// Distinct bytes, distinct files: a trailing box ffmpeg skips.
		f := e.put(t, append(append([]byte{}, raw...), 0, 0, 0, 8, 'f', 'r', 'e', byte('a'+i)))
		h.sources[f.ID] = true
		srcs = append(srcs, f)
	}
	var once sync.Once
	release := func() { once.Do(func() { close(h.release) }) }
	t.Cleanup(release)
	p := hls.New(fastConfig(t), h, conv)
	first := make(chan error, 1)
	go func() { _, err := p.Manifest(context.Background(), srcs[0]); first <- err }()
	<-h.opened
	var wg sync.WaitGroup
	errs := make([]error, len(srcs))
	for i := 1; i < len(srcs); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.Manifest(context.Background(), srcs[i])
		}()
	}
	wg.Wait()
	for i := 1; i < len(srcs); i++ {
		if !errors.Is(errs[i], video.ErrBusy) {
			t.Errorf("video %d while the worker is busy: %v, want ErrBusy", i, errs[i])
		}
	}
	h.mu.Lock()
	opens := h.opens
	h.mu.Unlock()
	if opens != 1 {
		t.Errorf("sources opened %d times while the one worker was busy: waiting productions copied theirs", opens)
	}
	release()
	if err := <-first; err != nil {
		t.Fatalf("the production that had the worker: %v", err)
	}
}
