package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
)

// clock is a settable time source, so expiry is tested without sleeping.
type clock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// storeWith opens a Store with small chunks and cfg changed by edit.
func storeWith(t *testing.T, b chunkstore.Backend, edit func(*chunkstore.Config)) *chunkstore.Store {
	t.Helper()
	cfg := chunkstore.DefaultConfig()
	cfg.ChunkSize = small
	cfg.WriteConcurrency = 3
	if edit != nil {
		edit(&cfg)
	}
	s, err := chunkstore.New(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// upload creates an upload of data, appends it in one piece and finishes it.
func upload(t *testing.T, s *chunkstore.Store, data []byte, state string) chunkstore.UploadInfo {
	t.Helper()
	ctx := context.Background()
	u, err := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: int64(len(data)), State: state})
	if err != nil {
		t.Fatal(err)
	}
	if u, err = s.Append(ctx, u.ID, 0, bytes.NewReader(data), chunkstore.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishUpload(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	u.State = chunkstore.UploadFinished
	return u
}

// noChunks fails unless chunks [0, n) of id are gone.
// seq is [from, to).
func seq(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func noChunks(t *testing.T, b chunkstore.Backend, id string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, _, err := b.GetChunk(context.Background(), id, i); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("chunk %d of %s survived: %v", i, id, err)
		}
	}
}

func runLifecycle(t *testing.T, open func(t *testing.T) Opener) {
	ctx := context.Background()

	t.Run("sweeper finishes an interrupted delete", func(t *testing.T) {
		reopen := open(t)
		s := newStore(t, reopen(), small)
		data := randBytes(3*small+17, 21)
		f, err := s.Put(ctx, bytes.NewReader(data), chunkstore.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The process marked the row deleting and died before the
		// background purge ran.
		f.State = chunkstore.StateDeleting
		if err := s.Backend().PutFile(ctx, f); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s = newStore(t, reopen(), small)
		defer s.Close()
		if _, err := s.Stat(ctx, f.ID); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("stat of a deleting file: %v", err)
		}
		st, err := s.SweepOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Other cases may share the database: at least ours was swept.
		if st.DeletedFiles < 1 || st.Chunks < 4 {
			t.Fatalf("sweep stats %+v, want at least 1 file and 4 chunks", st)
		}
		noChunks(t, s.Backend(), f.ID, 4)
		if _, err := s.Backend().GetFile(ctx, f.ID); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("files row survived the sweep: %v", err)
		}
	})

	t.Run("expired finished upload keeps its file", func(t *testing.T) {
		b := open(t)()
		c := &clock{now: time.Now()}
		s := storeWith(t, b, func(cfg *chunkstore.Config) { cfg.Clock = c.Now; cfg.UploadTTL = time.Hour })
		defer s.Close()
		data := randBytes(2*small+3, 22)
		done := upload(t, s, data, "")
		part := upload(t, s, randBytes(small+1, 23), chunkstore.UploadPartial)
		if u, err := s.GetUpload(ctx, done.ID); err != nil || u.State != chunkstore.UploadFinished {
			t.Fatalf("finished upload before expiry: %+v %v", u, err)
		}
		c.Advance(2 * time.Hour)
		st, err := s.SweepOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.ExpiredUploads < 1 {
			t.Fatalf("the expired partial upload was not counted: %+v", st)
		}
		if _, err := s.GetUpload(ctx, done.ID); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("finished upload row after expiry: %v", err)
		}
		checkRead(t, s, done.ID, data) // the file stays
		// A partial upload is no file: its chunks go with it.
		if _, err := s.GetUpload(ctx, part.ID); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("partial upload row after expiry: %v", err)
		}
		noChunks(t, b, part.ID, 2)
	})

	t.Run("sweep removes the chunks a crashed checksummed PATCH left", func(t *testing.T) {
		// No checkpoint in such a PATCH: its chunks run far past what the
		// row tells, in order, with gaps among the last ones in flight.
		b := open(t)()
		c := &clock{now: time.Now()}
		s := storeWith(t, b, func(cfg *chunkstore.Config) { cfg.Clock = c.Now; cfg.UploadTTL = time.Hour })
		defer s.Close()
		u, err := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: 40 * small})
		if err != nil {
			t.Fatal(err)
		}
		chunk := randBytes(small, 31)
		for _, i := range append(seq(0, 30), 31, 33) {
			if err := b.PutChunk(ctx, u.ID, i, chunk, crc32.Checksum(chunk, crc32.MakeTable(crc32.Castagnoli))); err != nil {
				t.Fatal(err)
			}
		}
		c.Advance(2 * time.Hour)
		if st, err := s.SweepOnce(ctx); err != nil || st.ExpiredUploads != 1 {
			t.Fatalf("sweep: %+v %v", st, err)
		}
		noChunks(t, b, u.ID, 40)
	})

	t.Run("size limits", func(t *testing.T) {
		b := open(t)()
		s := storeWith(t, b, func(cfg *chunkstore.Config) { cfg.MaxFileSize = 3 * small })
		defer s.Close()
		if _, err := s.Put(ctx, bytes.NewReader(make([]byte, 3*small+1)), chunkstore.PutOptions{}); !errors.Is(err, chunkstore.ErrTooLarge) {
			t.Fatalf("put over the limit: %v", err)
		}
		f, err := s.Put(ctx, bytes.NewReader(make([]byte, 3*small)), chunkstore.PutOptions{})
		if err != nil || f.Size != 3*small {
			t.Fatalf("put at the limit: %+v %v", f, err)
		}
		u, err := s.CreateUpload(ctx, chunkstore.UploadInfo{DeferLength: true})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Append(ctx, u.ID, 0, bytes.NewReader(make([]byte, 3*small+1)), chunkstore.AppendOptions{})
		if !errors.Is(err, chunkstore.ErrTooLarge) {
			t.Fatalf("deferred upload over the limit: %v", err)
		}
		if got.Offset != 0 {
			t.Fatalf("an overflowing append kept %d bytes", got.Offset)
		}
		if _, err := s.DeclareLength(ctx, u.ID, 3*small+1); !errors.Is(err, chunkstore.ErrTooLarge) {
			t.Fatalf("declare over the limit: %v", err)
		}
		if _, err := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: 3*small + 1}); !errors.Is(err, chunkstore.ErrTooLarge) {
			t.Fatalf("create over the limit: %v", err)
		}
		// An upload with a declared length takes no byte past it, even
		// across appends.
		v, _ := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: 100})
		v, err = s.Append(ctx, v.ID, 0, bytes.NewReader(make([]byte, 60)), chunkstore.AppendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, v.ID, 60, bytes.NewReader(make([]byte, 41)), chunkstore.AppendOptions{}); !errors.Is(err, chunkstore.ErrTooLarge) {
			t.Fatalf("41 bytes into the last 40: %v", err)
		}
		if v, _ = s.GetUpload(ctx, v.ID); v.Offset != 60 {
			t.Fatalf("offset %d after an overflow, want 60", v.Offset)
		}
	})

	t.Run("small appends across chunk boundaries and restarts", func(t *testing.T) {
		reopen := open(t)
		s := newStore(t, reopen(), small)
		data := randBytes(3*small+5, 24)
		u, err := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: int64(len(data))})
		if err != nil {
			t.Fatal(err)
		}
		// Pieces that end just before, on and just after chunk boundaries,
		// with a restart after every other piece: the short tail chunk is
		// rewritten longer each time and must survive the restarts.
		cuts := []int{1, small - 1, small, small + 1, 2*small - 3, 2 * small, 3*small + 4, len(data)}
		off := 0
		for i, cut := range cuts {
			got, err := s.Append(ctx, u.ID, int64(off), bytes.NewReader(data[off:cut]), chunkstore.AppendOptions{})
			if err != nil || got.Offset != int64(cut) {
				t.Fatalf("append [%d, %d): offset %d, %v", off, cut, got.Offset, err)
			}
			off = cut
			if i%2 == 1 {
				s.Close()
				s = newStore(t, reopen(), small)
			}
		}
		defer s.Close()
		f, err := s.FinishUpload(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkRead(t, s, f.ID, data)
	})

	t.Run("interrupted append resumes after restart", func(t *testing.T) {
		reopen := open(t)
		s := newStore(t, reopen(), small)
		data := randBytes(2*small+99, 25)
		u, _ := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: int64(len(data))})
		cut := small + 1234
		if _, err := s.Append(ctx, u.ID, 0, &failAfter{r: bytes.NewReader(data), n: cut}, chunkstore.AppendOptions{}); !errors.Is(err, errDropped) {
			t.Fatalf("want the read error, got %v", err)
		}
		s.Close()
		s = newStore(t, reopen(), small)
		defer s.Close()
		u, err := s.GetUpload(ctx, u.ID)
		if err != nil || u.Offset != int64(cut) {
			t.Fatalf("after restart: offset %d, %v; want %d", u.Offset, err, cut)
		}
		if _, err := s.Append(ctx, u.ID, u.Offset, bytes.NewReader(data[cut:]), chunkstore.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		f, err := s.FinishUpload(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkRead(t, s, f.ID, data)
	})

	t.Run("terminate", func(t *testing.T) {
		b := open(t)()
		s := newStore(t, b, small)
		defer s.Close()
		if err := s.Terminate(ctx, chunkstore.NewID()); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("terminate unknown: %v", err)
		}
		done := upload(t, s, randBytes(small+5, 26), "")
		if err := s.Terminate(ctx, done.ID); !errors.Is(err, chunkstore.ErrFinished) {
			t.Fatalf("terminate finished: %v", err)
		}
		if _, err := s.Stat(ctx, done.ID); err != nil {
			t.Fatalf("a refused terminate hurt the file: %v", err)
		}
		u, _ := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: 3 * small})
		if _, err := s.Append(ctx, u.ID, 0, bytes.NewReader(randBytes(2*small+9, 27)), chunkstore.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Terminate(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetUpload(ctx, u.ID); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("terminated upload answers: %v", err)
		}
		noChunks(t, b, u.ID, 3)
		if _, err := s.Append(ctx, u.ID, 0, bytes.NewReader([]byte("x")), chunkstore.AppendOptions{}); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("append to a terminated upload: %v", err)
		}
		// A crash can leave chunks written past the durable offset (in
		// flight, or since the last checkpoint): terminate removes them too.
		w, _ := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: 4 * small})
		orphan := randBytes(small, 29)
		if err := b.PutChunk(ctx, w.ID, 2, orphan, crc32.Checksum(orphan, crc32.MakeTable(crc32.Castagnoli))); err != nil {
			t.Fatal(err)
		}
		if err := s.Terminate(ctx, w.ID); err != nil {
			t.Fatal(err)
		}
		noChunks(t, b, w.ID, 4)
		// A crash in a PATCH with a checksum (no checkpoints) leaves that
		// PATCH's chunks, in order with gaps among the last ones in
		// flight, far past what the row tells: all go too.
		long, _ := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: 40 * small})
		for _, i := range append(seq(0, 30), 31, 33) {
			if err := b.PutChunk(ctx, long.ID, i, orphan, crc32.Checksum(orphan, crc32.MakeTable(crc32.Castagnoli))); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Terminate(ctx, long.ID); err != nil {
			t.Fatal(err)
		}
		noChunks(t, b, long.ID, 40)
	})

	t.Run("concat refuses unfit parts", func(t *testing.T) {
		s := newStore(t, open(t)(), small)
		defer s.Close()
		good := upload(t, s, []byte("good part"), chunkstore.UploadPartial)
		whole := upload(t, s, []byte("a whole file"), "")
		unfinished, _ := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: 10, State: chunkstore.UploadPartial})
		for name, parts := range map[string][]string{
			"not partial": {good.ID, whole.ID},
			"unfinished":  {good.ID, unfinished.ID},
			"unknown":     {good.ID, chunkstore.NewID()},
			"none":        nil,
		} {
			if _, _, err := s.ConcatUploads(ctx, "o", parts, nil); err == nil {
				t.Errorf("concat with a part %s succeeded", name)
			}
		}
		// The good part is still usable (twice, even).
		_, f, err := s.ConcatUploads(ctx, "o", []string{good.ID, good.ID}, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkRead(t, s, f.ID, []byte("good partgood part"))
	})

	t.Run("concurrent uploads", func(t *testing.T) {
		s := newStore(t, open(t)(), small)
		defer s.Close()
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				data := randBytes(small*(i%3)+i*777+1, int64(200+i))
				err := func() error {
					u, err := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: int64(len(data)), Owner: fmt.Sprint(i)})
					if err != nil {
						return err
					}
					half := len(data) / 2
					if _, err := s.Append(ctx, u.ID, 0, bytes.NewReader(data[:half]), chunkstore.AppendOptions{}); err != nil {
						return err
					}
					if _, err := s.Append(ctx, u.ID, int64(half), bytes.NewReader(data[half:]), chunkstore.AppendOptions{}); err != nil {
						return err
					}
					f, err := s.FinishUpload(ctx, u.ID)
					if err != nil {
						return err
					}
					if f.Owner != fmt.Sprint(i) {
						return fmt.Errorf("owner %q, want %d", f.Owner, i)
					}
					r, err := s.Open(ctx, f.ID)
					if err != nil {
						return err
					}
					defer r.Close()
					got, err := io.ReadAll(r)
					if err != nil {
						return err
					}
					if !bytes.Equal(got, data) {
						return fmt.Errorf("upload %d reads back different bytes", i)
					}
					return nil
				}()
				if err != nil {
					errs <- err
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("metadata and content type", func(t *testing.T) {
		s := newStore(t, open(t)(), small)
		defer s.Close()
		png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), randBytes(small, 28)...)
		f, err := s.Put(ctx, bytes.NewReader(png), chunkstore.PutOptions{Owner: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		if f.ContentType != "image/png" || f.Owner != "alice" || f.ChunkSize != small || f.CreatedAt.IsZero() {
			t.Fatalf("put info %+v", f)
		}
		r, err := s.Open(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		info := r.Info()
		r.Close()
		if info.ID != f.ID || info.Size != f.Size || info.ContentType != "image/png" || !bytes.Equal(info.SHA256, f.SHA256) {
			t.Fatalf("reader info %+v, want %+v", info, f)
		}
		u, _ := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: int64(len(png)), Owner: "bob",
			Metadata: map[string]string{"filename": "p.png", "filetype": "text/html"}})
		if u.ChunkSize != small || u.State != chunkstore.UploadActive || u.ExpiresAt.Before(u.CreatedAt) || !chunkstore.ValidID(u.ID) {
			t.Fatalf("created upload %+v", u)
		}
		s.Append(ctx, u.ID, 0, bytes.NewReader(png[:100]), chunkstore.AppendOptions{})
		s.Append(ctx, u.ID, 100, bytes.NewReader(png[100:]), chunkstore.AppendOptions{})
		g, err := s.FinishUpload(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		// The type comes from the bytes, never from the client's filetype.
		if g.ContentType != "image/png" || g.Owner != "bob" || !bytes.Equal(g.SHA256, f.SHA256) {
			t.Fatalf("finished upload info %+v", g)
		}
		if g2, _ := s.Stat(ctx, u.ID); g2.ContentType != "image/png" {
			t.Fatalf("stat after finish %+v", g2)
		}
		if u, _ = s.GetUpload(ctx, u.ID); u.Metadata["filename"] != "p.png" || u.Owner != "bob" {
			t.Fatalf("upload row lost its metadata: %+v", u)
		}
	})

	t.Run("derived lookups", func(t *testing.T) {
		s := newStore(t, open(t)(), small)
		defer s.Close()
		src := chunkstore.NewID()
		if _, err := s.GetDerived(ctx, src, "mp4"); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("derived before any claim: %v", err)
		}
		f, err := s.Put(ctx, bytes.NewReader([]byte("derived bytes")), chunkstore.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if w, stored, err := s.ClaimDerived(ctx, src, "mp4", f.ID); err != nil || !stored || w != f.ID {
			t.Fatalf("first claim: %s %v %v", w, stored, err)
		}
		if w, stored, err := s.ClaimDerived(ctx, src, "mp4", chunkstore.NewID()); err != nil || stored || w != f.ID {
			t.Fatalf("second claim: %s %v %v", w, stored, err)
		}
		got, err := s.GetDerived(ctx, src, "mp4")
		if err != nil || got.ID != f.ID || got.Size != f.Size {
			t.Fatalf("derived %+v %v", got, err)
		}
		// Variants are independent, and a variant may hold any characters.
		if _, err := s.GetDerived(ctx, src, "mp4/x"); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("another variant: %v", err)
		}
	})
}
