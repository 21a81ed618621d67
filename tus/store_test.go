package tus

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/chunkstore/embedded"
)

// testStore is the real chunk store on the embedded (Pebble) backend in a
// temporary folder, with a thin layer of observation on top: it signals the
// bytes an Append has read (so a test can wait for a PATCH to be in
// progress without sleeping), counts commits and remembers the ids it
// created. Every call goes to the real store; nothing is faked.
type testStore struct {
	*chunkstore.Store
	t   *testing.T
	now atomic.Int64 // the store's clock, UnixNano; tests move it to expire uploads

	// received gets (non-blocking) offset+bytes read every time an Append
	// read more of its body.
	received chan int64
	finishes atomic.Int32 // FinishUpload calls that wrote a file or finished a part

	mu      sync.Mutex // guards created
	created []string
}

const testChunkSize = 256 << 10 // the store's smallest chunk: files of a few hundred KiB span chunks

func newTestStore(t *testing.T) *testStore {
	t.Helper()
	b, err := embedded.Open(embedded.Config{Dir: t.TempDir(), ChunkSize: testChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	s := &testStore{t: t, received: make(chan int64, 1024)}
	s.now.Store(time.Now().UnixNano())
	cfg := chunkstore.DefaultConfig()
	cfg.ChunkSize = testChunkSize
	cfg.UploadTTL = time.Hour
	cfg.Clock = func() time.Time { return time.Unix(0, s.now.Load()) }
	st, err := chunkstore.New(b, cfg)
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	s.Store = st
	return s
}

// advance moves the store's clock forward.
func (s *testStore) advance(d time.Duration) { s.now.Add(int64(d)) }

func (s *testStore) CreateUpload(ctx context.Context, u chunkstore.UploadInfo) (chunkstore.UploadInfo, error) {
	u, err := s.Store.CreateUpload(ctx, u)
	if err == nil {
		s.mu.Lock()
		s.created = append(s.created, u.ID)
		s.mu.Unlock()
	}
	return u, err
}

func (s *testStore) createdIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.created...)
}

func (s *testStore) Append(ctx context.Context, id string, offset int64, r io.Reader, opt chunkstore.AppendOptions) (chunkstore.UploadInfo, error) {
	return s.Store.Append(ctx, id, offset, &signalReader{r: r, at: offset, ch: s.received}, opt)
}

func (s *testStore) FinishUpload(ctx context.Context, id string) (chunkstore.FileInfo, error) {
	before, _ := s.Store.GetUpload(ctx, id)
	f, err := s.Store.FinishUpload(ctx, id)
	if err == nil && before.State != chunkstore.UploadFinished {
		s.finishes.Add(1)
	}
	return f, err
}

// file returns the committed file of id, if there is one.
func (s *testStore) file(id string) (chunkstore.FileInfo, bool) {
	f, err := s.Stat(context.Background(), id)
	if err != nil && !errors.Is(err, chunkstore.ErrNotFound) {
		s.t.Errorf("stat %s: %v", id, err)
	}
	return f, err == nil
}

// data returns the durable bytes of an upload: the file once committed,
// else the chunks below the upload's offset, read from the backend.
func (s *testStore) data(id string) []byte {
	s.t.Helper()
	ctx := context.Background()
	if r, err := s.Open(ctx, id); err == nil {
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			s.t.Fatalf("read file %s: %v", id, err)
		}
		return b
	}
	u, err := s.Store.GetUpload(ctx, id)
	if err != nil {
		s.t.Fatalf("get upload %s: %v", id, err)
	}
	var out []byte
	for idx := 0; int64(len(out)) < u.Offset; idx++ {
		chunk, _, err := s.Backend().GetChunk(ctx, id, idx)
		if err != nil {
			s.t.Fatalf("chunk %d of %s: %v", idx, id, err)
		}
		out = append(out, chunk...)
	}
	return out[:u.Offset]
}

// signalReader reports the offset reached after every read.
type signalReader struct {
	r  io.Reader
	at int64
	ch chan int64
}

func (s *signalReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.at += int64(n)
		select {
		case s.ch <- s.at:
		default:
		}
	}
	return n, err
}
