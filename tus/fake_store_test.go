package tus

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
)

// fakeStore is a hand-written in-memory Store with the chunk store's
// documented semantics: a failing reader keeps the bytes it delivered, a
// Verify error discards the call's bytes, finished uploads take no bytes.
type fakeStore struct {
	mu      sync.Mutex // guards everything below
	uploads map[string]*fakeUpload
	files   map[string]chunkstore.FileInfo
	seq     int
	ttl     time.Duration
	// received is signalled (non-blocking) every time Append has read more
	// bytes, so tests can wait for a PATCH to be in progress.
	received chan int64
	finishes int
}

type fakeUpload struct {
	info chunkstore.UploadInfo
	data []byte
}

func newFakeStore() *fakeStore {
	return &fakeStore{
		uploads:  map[string]*fakeUpload{},
		files:    map[string]chunkstore.FileInfo{},
		ttl:      time.Hour,
		received: make(chan int64, 1024),
	}
}

func (s *fakeStore) CreateUpload(_ context.Context, u chunkstore.UploadInfo) (chunkstore.UploadInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	u.ID = fmt.Sprintf("up%04d", s.seq)
	if u.DeferLength {
		u.Length = -1
	}
	if u.State == "" {
		u.State = chunkstore.UploadActive
	}
	u.ExpiresAt = time.Now().Add(s.ttl).Truncate(time.Second)
	u.ChunkSize = 1 << 20
	s.uploads[u.ID] = &fakeUpload{info: u}
	return u, nil
}

func (s *fakeStore) GetUpload(_ context.Context, id string) (chunkstore.UploadInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	up, ok := s.uploads[id]
	if !ok {
		return chunkstore.UploadInfo{}, fmt.Errorf("get %s: %w", id, chunkstore.ErrNotFound)
	}
	return up.info, nil
}

func (s *fakeStore) data(id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.uploads[id].data...)
}

func (s *fakeStore) Append(_ context.Context, id string, offset int64, r io.Reader, opt chunkstore.AppendOptions) (chunkstore.UploadInfo, error) {
	s.mu.Lock()
	up, ok := s.uploads[id]
	if !ok {
		s.mu.Unlock()
		return chunkstore.UploadInfo{}, chunkstore.ErrNotFound
	}
	info := up.info
	s.mu.Unlock()
	switch {
	case info.State == chunkstore.UploadFinished:
		return info, chunkstore.ErrFinished
	case offset != info.Offset:
		return info, chunkstore.ErrOffsetMismatch
	}
	var got []byte
	buf := make([]byte, 4096)
	var readErr error
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if n > 0 {
			select {
			case s.received <- offset + int64(len(got)):
			default:
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
	}
	if info.Length >= 0 && offset+int64(len(got)) > info.Length {
		return info, chunkstore.ErrTooLarge
	}
	if readErr == nil && opt.Verify != nil {
		if err := opt.Verify(); err != nil {
			return info, fmt.Errorf("append %s: verify: %w", id, err)
		}
	}
	s.mu.Lock()
	up.data = append(up.data, got...)
	up.info.Offset += int64(len(got))
	info = up.info
	s.mu.Unlock()
	if readErr != nil {
		return info, fmt.Errorf("append %s: read: %w", id, readErr)
	}
	return info, nil
}

func (s *fakeStore) DeclareLength(_ context.Context, id string, length int64) (chunkstore.UploadInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	up, ok := s.uploads[id]
	if !ok {
		return chunkstore.UploadInfo{}, chunkstore.ErrNotFound
	}
	if length < up.info.Offset {
		return up.info, chunkstore.ErrTooLarge
	}
	up.info.Length, up.info.DeferLength = length, false
	return up.info, nil
}

func (s *fakeStore) FinishUpload(_ context.Context, id string) (chunkstore.FileInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	up, ok := s.uploads[id]
	if !ok {
		return chunkstore.FileInfo{}, chunkstore.ErrNotFound
	}
	if up.info.Length < 0 || up.info.Offset != up.info.Length {
		return chunkstore.FileInfo{}, chunkstore.ErrIncomplete
	}
	if up.info.State == chunkstore.UploadFinished {
		return s.files[id], nil // idempotent, as chunkstore's
	}
	s.finishes++
	if up.info.State == chunkstore.UploadPartial {
		// As chunkstore: a finished part is marked in its metadata.
		if up.info.Metadata == nil {
			up.info.Metadata = map[string]string{}
		}
		up.info.Metadata["mediaedge.partial"] = "1"
		up.info.State = chunkstore.UploadFinished
		return chunkstore.FileInfo{}, nil
	}
	up.info.State = chunkstore.UploadFinished
	sum := sha256.Sum256(up.data)
	f := chunkstore.FileInfo{ID: id, Size: int64(len(up.data)), SHA256: sum[:], Owner: up.info.Owner, State: chunkstore.StateComplete}
	s.files[id] = f
	return f, nil
}

func (s *fakeStore) ConcatUploads(_ context.Context, owner string, parts []string, meta map[string]string) (chunkstore.UploadInfo, chunkstore.FileInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var data []byte
	for _, p := range parts {
		up, ok := s.uploads[p]
		if !ok {
			return chunkstore.UploadInfo{}, chunkstore.FileInfo{}, chunkstore.ErrNotFound
		}
		if !chunkstore.IsPartial(up.info) || up.info.State != chunkstore.UploadFinished {
			return chunkstore.UploadInfo{}, chunkstore.FileInfo{}, chunkstore.ErrIncomplete
		}
		data = append(data, up.data...)
	}
	s.seq++
	id := fmt.Sprintf("up%04d", s.seq)
	n := int64(len(data))
	u := chunkstore.UploadInfo{ID: id, Length: n, Offset: n, Metadata: meta, Owner: owner,
		ConcatParts: parts, State: chunkstore.UploadFinished}
	s.uploads[id] = &fakeUpload{info: u, data: data}
	sum := sha256.Sum256(data)
	f := chunkstore.FileInfo{ID: id, Size: n, SHA256: sum[:], Owner: owner, State: chunkstore.StateComplete}
	s.files[id] = f
	return u, f, nil
}

func (s *fakeStore) Terminate(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	up, ok := s.uploads[id]
	if !ok {
		return chunkstore.ErrNotFound
	}
	if up.info.State == chunkstore.UploadFinished && !chunkstore.IsPartial(up.info) {
		return chunkstore.ErrFinished
	}
	delete(s.uploads, id)
	delete(s.files, id)
	return nil
}

// put sets an upload's row directly (for states a test cannot reach by
// requests, such as a crash between the last append and the commit).
func (s *fakeStore) put(u chunkstore.UploadInfo, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uploads[u.ID] = &fakeUpload{info: u, data: data}
}

func (s *fakeStore) file(id string) (chunkstore.FileInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[id]
	return f, ok
}
