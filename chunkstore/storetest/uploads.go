package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
)

func runUploads(t *testing.T, open func(t *testing.T) Opener) {
	ctx := context.Background()

	t.Run("upload resumes after reopen", func(t *testing.T) {
		reopen := open(t)
		s := newStore(t, reopen(), small)
		data := randBytes(3*small+123, 11)
		u, err := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: int64(len(data)), Metadata: map[string]string{"filename": "a.bin"}})
		if err != nil {
			t.Fatal(err)
		}
		// First request: an odd-sized piece, so the tail chunk is partial.
		u, err = s.Append(ctx, u.ID, 0, bytes.NewReader(data[:small+77]), chunkstore.AppendOptions{})
		if err != nil || u.Offset != int64(small+77) {
			t.Fatalf("append: %+v %v", u.Offset, err)
		}
		if _, err := s.Stat(ctx, u.ID); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("an unfinished upload is visible: %v", err)
		}
		s.Close() // the process restarts
		s = newStore(t, reopen(), small)
		defer s.Close()
		u, err = s.GetUpload(ctx, u.ID)
		if err != nil || u.Offset != int64(small+77) || u.Metadata["filename"] != "a.bin" {
			t.Fatalf("after reopen: %+v %v", u, err)
		}
		if _, err := s.Append(ctx, u.ID, 5, bytes.NewReader(data[5:]), chunkstore.AppendOptions{}); !errors.Is(err, chunkstore.ErrOffsetMismatch) {
			t.Fatalf("wrong offset: %v", err)
		}
		if _, err := s.FinishUpload(ctx, u.ID); !errors.Is(err, chunkstore.ErrIncomplete) {
			t.Fatalf("finish early: %v", err)
		}
		u, err = s.Append(ctx, u.ID, u.Offset, bytes.NewReader(data[u.Offset:]), chunkstore.AppendOptions{})
		if err != nil || u.Offset != int64(len(data)) {
			t.Fatalf("append rest: %v", err)
		}
		f, err := s.FinishUpload(ctx, u.ID)
		sum := sha256.Sum256(data)
		if err != nil || f.ID != u.ID || !bytes.Equal(f.SHA256, sum[:]) {
			t.Fatalf("finish: %+v %v", f, err)
		}
		if f2, err := s.FinishUpload(ctx, u.ID); err != nil || f2.ID != f.ID {
			t.Fatalf("finish is not idempotent: %v", err)
		}
		if _, err := s.Append(ctx, u.ID, u.Offset, bytes.NewReader(nil), chunkstore.AppendOptions{}); !errors.Is(err, chunkstore.ErrFinished) {
			t.Fatalf("append after finish: %v", err)
		}
		checkRead(t, s, f.ID, data)
	})

	t.Run("interrupted append keeps bytes", func(t *testing.T) {
		s := newStore(t, open(t)(), small)
		defer s.Close()
		data := randBytes(2*small+10, 12)
		u, _ := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: int64(len(data))})
		got, err := s.Append(ctx, u.ID, 0, &failAfter{r: bytes.NewReader(data), n: small + 500}, chunkstore.AppendOptions{})
		if !errors.Is(err, errDropped) {
			t.Fatalf("want the read error, got %v", err)
		}
		if got.Offset != int64(small+500) {
			t.Fatalf("offset %d, want %d: received bytes were lost", got.Offset, small+500)
		}
		u, err = s.GetUpload(ctx, u.ID)
		if err != nil || u.Offset != int64(small+500) {
			t.Fatalf("durable offset %d %v", u.Offset, err)
		}
		if _, err := s.Append(ctx, u.ID, u.Offset, bytes.NewReader(data[u.Offset:]), chunkstore.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		f, err := s.FinishUpload(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkRead(t, s, f.ID, data)
	})

	t.Run("verify failure discards", func(t *testing.T) {
		s := newStore(t, open(t)(), small)
		defer s.Close()
		data := randBytes(3*small, 13)
		u, _ := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: int64(len(data))})
		u, _ = s.Append(ctx, u.ID, 0, bytes.NewReader(data[:100]), chunkstore.AppendOptions{})
		bad := errors.New("checksum mismatch")
		garbage := randBytes(2*small, 99)
		_, err := s.Append(ctx, u.ID, 100, bytes.NewReader(garbage), chunkstore.AppendOptions{Verify: func() error { return bad }})
		if !errors.Is(err, bad) {
			t.Fatalf("verify error not returned: %v", err)
		}
		if u2, _ := s.GetUpload(ctx, u.ID); u2.Offset != 100 {
			t.Fatalf("offset moved to %d after a failed verify", u2.Offset)
		}
		if _, err := s.Append(ctx, u.ID, 100, bytes.NewReader(data[100:]), chunkstore.AppendOptions{Verify: func() error { return nil }}); err != nil {
			t.Fatal(err)
		}
		f, err := s.FinishUpload(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkRead(t, s, f.ID, data)
	})

	t.Run("too large", func(t *testing.T) {
		s := newStore(t, open(t)(), small)
		defer s.Close()
		u, _ := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: 10})
		if _, err := s.Append(ctx, u.ID, 0, bytes.NewReader(make([]byte, 11)), chunkstore.AppendOptions{}); !errors.Is(err, chunkstore.ErrTooLarge) {
			t.Fatalf("11 bytes into 10: %v", err)
		}
		if u2, _ := s.GetUpload(ctx, u.ID); u2.Offset != 0 {
			t.Fatalf("overflow kept %d bytes", u2.Offset)
		}
		if _, err := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: 6 << 30}); !errors.Is(err, chunkstore.ErrTooLarge) {
			t.Fatalf("6 GiB upload: %v", err)
		}
	})

	t.Run("an overflow keeps nothing, checkpoints included", func(t *testing.T) {
		s := newStore(t, open(t)(), small)
		defer s.Close()
		b := s.Backend()
		// Append checkpoints its offset every 4 x WriteConcurrency full
		// chunks. From offset 100 they fall at chunk boundaries 13 and 25
		// chunks in; an upload of 25 chunks then ends on one, so a body
		// that fills it and sends a byte more passes a checkpoint midway
		// and reaches the end exactly where another would be due.
		every := 4 * s.Config().WriteConcurrency
		length := int64((2*every + 1) * small)
		head := randBytes(100, 41)
		rest := randBytes(int(length)-len(head), 42)
		u, err := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: length})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, u.ID, 0, bytes.NewReader(head), chunkstore.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		// When the body has sent every byte the upload takes, nothing may be
		// durable at the full length yet: the next byte could still turn it
		// into an overflow, and a complete upload would be committed (tus
		// does so for a client that disconnects right after its last byte).
		var atEnd int64 = -1
		body := io.MultiReader(bytes.NewReader(rest), readerFunc(func(p []byte) (int, error) {
			if cur, err := b.GetUpload(ctx, u.ID); err == nil && atEnd < 0 {
				atEnd = cur.Offset
			}
			p[0] = 'x'
			return 1, nil
		}))
		if _, err := s.Append(ctx, u.ID, int64(len(head)), body, chunkstore.AppendOptions{}); !errors.Is(err, chunkstore.ErrTooLarge) {
			t.Fatalf("a body one byte past the length: %v, want ErrTooLarge", err)
		}
		if atEnd < 0 || atEnd >= length {
			t.Errorf("durable offset %d when the body had filled the upload (length %d): committed before the body ended", atEnd, length)
		}
		cur, err := s.GetUpload(ctx, u.ID)
		if err != nil || cur.Offset != int64(len(head)) || cur.Lease.Holder != "" {
			t.Fatalf("after the overflow: offset %d, lease %q, %v; want offset %d (nothing of the append kept) and the lease let go",
				cur.Offset, cur.Lease.Holder, err, len(head))
		}
		if _, err := s.Stat(ctx, u.ID); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("the overflowing upload is a file: %v", err)
		}
		if _, err := s.Append(ctx, u.ID, int64(len(head)), bytes.NewReader(rest), chunkstore.AppendOptions{}); err != nil {
			t.Fatalf("the right bytes after the overflow: %v", err)
		}
		f, err := s.FinishUpload(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkRead(t, s, f.ID, append(append([]byte(nil), head...), rest...))
	})

	t.Run("deferred length", func(t *testing.T) {
		s := newStore(t, open(t)(), small)
		defer s.Close()
		data := randBytes(small+3, 14)
		u, err := s.CreateUpload(ctx, chunkstore.UploadInfo{DeferLength: true})
		if err != nil || u.Length != -1 {
			t.Fatalf("create: %+v %v", u, err)
		}
		u, _ = s.Append(ctx, u.ID, 0, bytes.NewReader(data), chunkstore.AppendOptions{})
		if _, err := s.FinishUpload(ctx, u.ID); !errors.Is(err, chunkstore.ErrIncomplete) {
			t.Fatalf("finish without length: %v", err)
		}
		if _, err := s.DeclareLength(ctx, u.ID, int64(len(data))); err != nil {
			t.Fatal(err)
		}
		f, err := s.FinishUpload(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkRead(t, s, f.ID, data)
	})

	t.Run("terminate and expiry", func(t *testing.T) {
		b := open(t)()
		cfg := chunkstore.DefaultConfig()
		cfg.ChunkSize = small
		cfg.UploadTTL = time.Hour
		var mu sync.Mutex
		now := time.Now()
		cfg.Clock = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		s, err := chunkstore.New(b, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		u, _ := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: 2 * small})
		if _, err := s.Append(ctx, u.ID, 0, bytes.NewReader(randBytes(small+1, 1)), chunkstore.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		now = now.Add(2 * time.Hour)
		mu.Unlock()
		if _, err := s.GetUpload(ctx, u.ID); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("expired upload answers: %v", err)
		}
		st, err := s.SweepOnce(ctx)
		if err != nil || st.ExpiredUploads < 1 {
			t.Fatalf("sweep: %+v %v", st, err)
		}
		if _, _, err := b.GetChunk(ctx, u.ID, 0); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("expired upload's chunk survived: %v", err)
		}
		s2 := newStore(t, b, small)
		v, _ := s2.CreateUpload(ctx, chunkstore.UploadInfo{Length: 100})
		s2.Append(ctx, v.ID, 0, bytes.NewReader(make([]byte, 50)), chunkstore.AppendOptions{})
		if err := s2.Terminate(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s2.GetUpload(ctx, v.ID); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("terminated upload answers: %v", err)
		}
	})

	t.Run("concat", func(t *testing.T) {
		s := newStore(t, open(t)(), small)
		defer s.Close()
		data := randBytes(3*small+999, 15)
		cuts := []int{0, 1000, small + 7, len(data)}
		var parts []string
		for i := 0; i+1 < len(cuts); i++ {
			piece := data[cuts[i]:cuts[i+1]]
			p, err := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: int64(len(piece)), State: chunkstore.UploadPartial})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Append(ctx, p.ID, 0, bytes.NewReader(piece), chunkstore.AppendOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.FinishUpload(ctx, p.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Stat(ctx, p.ID); !errors.Is(err, chunkstore.ErrNotFound) {
				t.Fatalf("a partial upload became a file: %v", err)
			}
			parts = append(parts, p.ID)
		}
		u, f, err := s.ConcatUploads(ctx, "o", parts, map[string]string{"filename": "x"})
		if err != nil {
			t.Fatal(err)
		}
		if u.ID != f.ID || f.Size != int64(len(data)) || len(u.ConcatParts) != 3 {
			t.Fatalf("concat: %+v %+v", u, f)
		}
		checkRead(t, s, f.ID, data)
	})

	t.Run("derived claim race", func(t *testing.T) {
		s := newStore(t, open(t)(), small)
		defer s.Close()
		src := chunkstore.NewID()
		var wg sync.WaitGroup
		winners := make(chan string, 8)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				mine := chunkstore.NewID()
				w, stored, err := s.ClaimDerived(ctx, src, "hls", mine)
				if err != nil {
					t.Error(err)
					return
				}
				if stored != (w == mine) {
					t.Errorf("stored=%v but winner %s vs mine %s", stored, w, mine)
				}
				winners <- w
			}()
		}
		wg.Wait()
		close(winners)
		first := ""
		for w := range winners {
			if first == "" {
				first = w
			}
			if w != first {
				t.Fatalf("two winners: %s and %s", first, w)
			}
		}
		if got, err := s.Backend().GetDerived(ctx, src, "hls"); err != nil || got != first {
			t.Fatalf("derived record %q %v, want %q", got, err, first)
		}
	})
}

// readerFunc is a Reader made of a function.
type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
