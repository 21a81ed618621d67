// Package storetest is the conformance suite every chunkstore.Backend runs:
// the same cases, through the Store (what users see) and, for damage and
// crash states, straight through the Backend, against the embedded and the
// Cassandra backends, so both keep the same semantics. Real databases only:
// the embedded backend on a temp folder, Cassandra on a fresh keyspace.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand"
	"sync"
	"testing"

	"github.com/mediaedge/mediaedge/chunkstore"
)

// Opener opens a new Backend on the same data each call (a "restart": the
// suite closes the Store over the previous one first). It is an alias, not a
// defined type, so that callers may write the open function either as
// func(*testing.T) storetest.Opener or as func(*testing.T) func() chunkstore.Backend.
type Opener = func() chunkstore.Backend

const small = 256 << 10 // the chunk size of most cases: small keeps them quick

func newStore(t *testing.T, b chunkstore.Backend, cs int) *chunkstore.Store {
	t.Helper()
	cfg := chunkstore.DefaultConfig()
	cfg.ChunkSize = cs
	cfg.WriteConcurrency = 3
	s, err := chunkstore.New(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// Run runs every case, one after another (none is parallel). open is called
// once per case and gives a function that opens a new Backend on that case's
// database each time it is called: a second call simulates a restart (the
// suite has closed the Store over the first backend by then). The database
// may be fresh per case or shared by all of them and by other tests: ids are
// random, and no case assumes ScanFiles or ScanUploads sees only its own
// rows. The suite closes every Store it opens, and the Store closes its
// backend. Expiry cases sweep with a clock moved hours ahead, which also
// expires other tests' idle uploads in a shared database.
//
// Cases: sizes 0, 1, chunk-1, chunk, chunk+1, 3 chunks+17 and 64 MiB (not
// with -short); random ReadAt and Seek+Read against the original bytes; not
// found; a flipped byte gives ErrCorrupt; delete, restart and sweep; an
// interrupted delete finished by the sweeper; 16 concurrent writers and 16
// concurrent uploads; uploads resumed after a restart, with small appends
// across chunk boundaries, interrupted appends keeping their bytes, Verify
// failures discarding them, an overflow keeping nothing (its checkpoints
// undone), offset mismatch, size limits, deferred length;
// expiry, terminate, concatenation; derived records and the claim race.
// Writer leases, with two Stores over one backend (two edges on one
// database): compare-and-set rows, a second writer refused while the first
// holds an upload, 20 racing appends at one offset (exactly one wins and the
// file is its bytes), a lapsed lease taken over with the dead holder's late
// writes losing, a writer that lost its lease keeping nothing, renewal of a
// slow writer's lease, another store's interrupt stopping a writer (which
// keeps its bytes) or cutting a dead writer's lease short, a commit and a
// termination racing (a whole file or nothing), a commit cut short
// (completed or swept, never terminated), and two finishers at once.
func Run(t *testing.T, open func(t *testing.T) Opener) {
	ctx := context.Background()
	store := func(t *testing.T, cs int) *chunkstore.Store {
		s := newStore(t, open(t)(), cs)
		t.Cleanup(func() { s.Close() })
		return s
	}

	t.Run("sizes", func(t *testing.T) {
		s := store(t, small)
		for _, n := range []int{0, 1, small - 1, small, small + 1, 3*small + 17} {
			data := randBytes(n, int64(n))
			f, err := s.Put(ctx, bytes.NewReader(data), chunkstore.PutOptions{Owner: "o"})
			if err != nil {
				t.Fatalf("put %d: %v", n, err)
			}
			sum := sha256.Sum256(data)
			if f.Size != int64(n) || !bytes.Equal(f.SHA256, sum[:]) || f.Chunks() != (n+small-1)/small {
				t.Fatalf("put %d: info %+v", n, f)
			}
			got, err := s.Stat(ctx, f.ID)
			if err != nil || got.Size != f.Size || got.Owner != "o" || got.State != chunkstore.StateComplete {
				t.Fatalf("stat %d: %+v %v", n, got, err)
			}
			checkRead(t, s, f.ID, data)
		}
	})

	t.Run("64MiB", func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short")
		}
		s := store(t, 1<<20)
		data := randBytes(64<<20, 64)
		f, err := s.Put(ctx, bytes.NewReader(data), chunkstore.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		checkRead(t, s, f.ID, data)
	})

	t.Run("random ReadAt and Seek", func(t *testing.T) {
		s := store(t, small)
		data := randBytes(5*small+333, 7)
		f, err := s.Put(ctx, bytes.NewReader(data), chunkstore.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Open(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		rng := rand.New(rand.NewSource(1))
		for i := 0; i < 200; i++ {
			off := rng.Int63n(int64(len(data)))
			n := rng.Intn(2*small) + 1
			buf := make([]byte, n)
			k, err := r.ReadAt(buf, off)
			want := data[off:min(int(off)+n, len(data))]
			if k != len(want) || !bytes.Equal(buf[:k], want) {
				t.Fatalf("ReadAt(%d, %d) = %d bytes, want %d", n, off, k, len(want))
			}
			if k < n && !errors.Is(err, io.EOF) {
				t.Fatalf("short ReadAt without EOF: %v", err)
			}
			if k == n && err != nil {
				t.Fatalf("full ReadAt with error %v", err)
			}
			pos, err := r.Seek(off, io.SeekStart)
			if err != nil || pos != off {
				t.Fatal(err)
			}
			rest, err := io.ReadAll(io.LimitReader(r, int64(n)))
			if err != nil || !bytes.Equal(rest, want) {
				t.Fatalf("Seek(%d)+Read: %d bytes, %v", off, len(rest), err)
			}
		}
		if end, _ := r.Seek(0, io.SeekEnd); end != int64(len(data)) {
			t.Fatalf("SeekEnd %d", end)
		}
	})

	t.Run("not found", func(t *testing.T) {
		s := store(t, small)
		id := chunkstore.NewID()
		if _, err := s.Stat(ctx, id); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("stat: %v", err)
		}
		if _, err := s.Open(ctx, id); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("open: %v", err)
		}
		if _, err := s.GetUpload(ctx, id); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("upload: %v", err)
		}
		if err := s.Delete(ctx, id); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("delete: %v", err)
		}
	})

	t.Run("corrupt chunk", func(t *testing.T) {
		b := open(t)()
		s := newStore(t, b, small)
		defer s.Close()
		data := randBytes(2*small+5, 3)
		f, err := s.Put(ctx, bytes.NewReader(data), chunkstore.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		chunk, sum, err := b.GetChunk(ctx, f.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		chunk[100] ^= 0x01
		if err := b.PutChunk(ctx, f.ID, 1, chunk, sum); err != nil {
			t.Fatal(err)
		}
		r, err := s.Open(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		buf := make([]byte, 10)
		if _, err := r.ReadAt(buf, int64(small)+95); !errors.Is(err, chunkstore.ErrCorrupt) {
			t.Fatalf("ReadAt over a flipped byte: %v, want ErrCorrupt", err)
		}
		if _, err := r.ReadAt(buf, 0); err != nil {
			t.Fatalf("an intact chunk must still read: %v", err)
		}
		if _, err := io.ReadAll(r); !errors.Is(err, chunkstore.ErrCorrupt) {
			t.Fatalf("sequential read: %v, want ErrCorrupt", err)
		}
		if err := r.ReadFull(ctx, make([]byte, len(data))); !errors.Is(err, chunkstore.ErrCorrupt) {
			t.Fatalf("ReadFull: %v, want ErrCorrupt", err)
		}
	})

	t.Run("delete and sweep", func(t *testing.T) {
		reopen := open(t)
		s := newStore(t, reopen(), small)
		f, err := s.Put(ctx, bytes.NewReader(randBytes(2*small+1, 4)), chunkstore.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, f.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(ctx, f.ID); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("stat after delete: %v", err)
		}
		if _, err := s.Open(ctx, f.ID); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("open after delete: %v", err)
		}
		// Close waits for the background delete; a sweep after a restart
		// finishes any leftover.
		s.Close()
		s = newStore(t, reopen(), small)
		defer s.Close()
		if _, err := s.SweepOnce(ctx); err != nil {
			t.Fatal(err)
		}
		b2 := s.Backend()
		for i := 0; i < 3; i++ {
			if _, _, err := b2.GetChunk(ctx, f.ID, i); !errors.Is(err, chunkstore.ErrNotFound) {
				t.Fatalf("chunk %d survived the delete: %v", i, err)
			}
		}
		if _, err := b2.GetFile(ctx, f.ID); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("row survived: %v", err)
		}
	})

	t.Run("concurrent writers", func(t *testing.T) {
		s := store(t, small)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				data := randBytes(small*(i%4)+i*1000, int64(100+i))
				f, err := s.Put(ctx, bytes.NewReader(data), chunkstore.PutOptions{})
				if err != nil {
					errs <- err
					return
				}
				r, err := s.Open(ctx, f.ID)
				if err != nil {
					errs <- err
					return
				}
				got, err := io.ReadAll(r)
				r.Close()
				if err != nil || !bytes.Equal(got, data) {
					errs <- errors.New("read back differs")
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	runUploads(t, open)
	runLifecycle(t, open)
	runLeases(t, open)
	runLocation(t, open)
	runUsage(t, open)
}

func checkRead(t *testing.T, s *chunkstore.Store, id string, want []byte) {
	t.Helper()
	r, err := s.Open(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != int64(len(want)) {
		t.Fatalf("size %d, want %d", r.Size(), len(want))
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes differ from the %d written", len(got), len(want))
	}
	// ReadFull, chunks fetched in place: every byte of the buffer is written
	// (it starts as a pattern no chunk holds at the same spots), and a buffer
	// of another size is refused.
	full := bytes.Repeat([]byte{0xA5}, len(want))
	if err := r.ReadFull(context.Background(), full); err != nil || !bytes.Equal(full, want) {
		t.Fatalf("ReadFull: equal %v, err %v", bytes.Equal(full, want), err)
	}
	if err := r.ReadFull(context.Background(), make([]byte, len(want)+1)); err == nil {
		t.Fatal("ReadFull took a buffer longer than the file")
	}
	// WriteTo, the HTTP path, from the start and from a seek into a chunk,
	// twice: the second pass reads into chunk memory the first recycled.
	for pass := range 2 {
		for _, from := range []int64{0, int64(len(want)) / 3} {
			wr, err := s.Open(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := wr.Seek(from, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			n, err := wr.WriteTo(&buf)
			wr.Close()
			if err != nil || n != int64(len(want))-from || !bytes.Equal(buf.Bytes(), want[from:]) {
				t.Fatalf("pass %d: WriteTo from %d: %d bytes, err %v; want the %d bytes written from there",
					pass, from, n, err, int64(len(want))-from)
			}
		}
	}
}

// failAfter returns n bytes of data and then an error, like a client whose
// connection drops mid-body.
type failAfter struct {
	r io.Reader
	n int
}

var errDropped = errors.New("connection dropped")

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errDropped
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	k, err := f.r.Read(p)
	f.n -= k
	return k, err
}
