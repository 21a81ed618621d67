package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
)

// gatedReader holds its first Read until release is closed, and closes
// started when that Read begins: an Append reading it holds its upload's
// lease (taken before the first read) for as long as the test wants.
type gatedReader struct {
	r       io.Reader
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func gated(data []byte) *gatedReader {
	return &gatedReader{r: bytes.NewReader(data), started: make(chan struct{}), release: make(chan struct{})}
}

func (g *gatedReader) Read(p []byte) (int, error) {
	g.once.Do(func() {
		close(g.started)
		<-g.release
	})
	return g.r.Read(p)
}

// waitStarted fails the test if the gated Append never reads.
func (g *gatedReader) waitStarted(t *testing.T) {
	t.Helper()
	select {
	case <-g.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the gated append never started reading")
	}
}

// hangUntil is a body that, once its bytes before it are read, hangs
// until stop is closed and then fails like a dropped connection.
type hangUntil struct {
	blocked chan struct{} // closed when the first Read hangs
	stop    chan struct{}
	once    sync.Once
}

func (h *hangUntil) Read([]byte) (int, error) {
	h.once.Do(func() { close(h.blocked) })
	<-h.stop
	return 0, errDropped
}

// gatedBackend stops one call of a backend (PutFile or DeleteUpload, for
// the id set before the call) until release is closed, and closes reached
// when that call arrives: a store over it halts right at that step, as an
// edge paused there would, while another store goes on.
type gatedBackend struct {
	chunkstore.Backend
	method  string
	id      string
	reached chan struct{}
	release chan struct{}
	once    sync.Once
	freed   sync.Once // guards closing release
}

// free lets the stopped call go on; safe to call more than once.
func (g *gatedBackend) free() { g.freed.Do(func() { close(g.release) }) }

func gate(b chunkstore.Backend, method string) *gatedBackend {
	return &gatedBackend{Backend: b, method: method, reached: make(chan struct{}), release: make(chan struct{})}
}

func (g *gatedBackend) stop(method, id string) {
	if method == g.method && id == g.id {
		g.once.Do(func() {
			close(g.reached)
			<-g.release
		})
	}
}

func (g *gatedBackend) waitReached(t *testing.T) {
	t.Helper()
	select {
	case <-g.reached:
	case <-time.After(30 * time.Second):
		t.Fatalf("the gated store never reached %s", g.method)
	}
}

func (g *gatedBackend) PutFile(ctx context.Context, f chunkstore.FileInfo) error {
	g.stop("PutFile", f.ID)
	return g.Backend.PutFile(ctx, f)
}

func (g *gatedBackend) DeleteUpload(ctx context.Context, id string, version int64) error {
	g.stop("DeleteUpload", id)
	return g.Backend.DeleteUpload(ctx, id, version)
}

// ScanUploads stops after the scan, when it saw the gated id: the sweeper
// has judged the row and not yet acted on it.
func (g *gatedBackend) ScanUploads(ctx context.Context, fn func(chunkstore.UploadInfo) error) error {
	saw := false
	err := g.Backend.ScanUploads(ctx, func(u chunkstore.UploadInfo) error {
		saw = saw || u.ID == g.id
		return fn(u)
	})
	if saw {
		g.stop("ScanUploads", g.id)
	}
	return err
}

// cutBackend fails, for one id, one step of a commit: the files row
// ("PutFile") or the compare-and-set that marks the upload finished after
// it ("finished"), as if the finisher died right there.
type cutBackend struct {
	chunkstore.Backend
	id string
	at string
}

var errCut = errors.New("the finisher died here")

func (c *cutBackend) PutFile(ctx context.Context, f chunkstore.FileInfo) error {
	if c.at == "PutFile" && f.ID == c.id {
		return errCut
	}
	return c.Backend.PutFile(ctx, f)
}

func (c *cutBackend) UpdateUpload(ctx context.Context, u chunkstore.UploadInfo, prev int64) (chunkstore.UploadInfo, error) {
	if c.at == "finished" && u.ID == c.id && u.State == chunkstore.UploadFinished {
		return chunkstore.UploadInfo{}, errCut
	}
	return c.Backend.UpdateUpload(ctx, u, prev)
}

// appendResult is one Append's outcome, for cases that run them on goroutines.
type appendResult struct {
	u   chunkstore.UploadInfo
	err error
}

func goAppend(s *chunkstore.Store, id string, offset int64, r io.Reader) chan appendResult {
	ch := make(chan appendResult, 1)
	go func() {
		u, err := s.Append(context.Background(), id, offset, r, chunkstore.AppendOptions{})
		ch <- appendResult{u, err}
	}()
	return ch
}

// finishAndCheck finishes upload id and checks that the file's bytes, its
// SHA-256 and the bytes read back are all want.
func finishAndCheck(t *testing.T, s *chunkstore.Store, id string, want []byte) {
	t.Helper()
	f, err := s.FinishUpload(context.Background(), id)
	if err != nil {
		t.Fatalf("finish %s: %v", id, err)
	}
	sum := sha256.Sum256(want)
	if !bytes.Equal(f.SHA256, sum[:]) || f.Size != int64(len(want)) {
		t.Fatalf("file info of %s: size %d sha256 %x, want %d %x", id, f.Size, f.SHA256, len(want), sum)
	}
	checkRead(t, s, id, want)
}

// twoStores opens two Stores over one backend: two "edges" that share a
// database but not a process's in-memory guard.
func twoStores(t *testing.T, open func(t *testing.T) Opener, edit func(*chunkstore.Config)) (a, b *chunkstore.Store, be chunkstore.Backend) {
	t.Helper()
	be = open(t)()
	a = storeWith(t, be, edit)
	b = storeWith(t, be, edit)
	t.Cleanup(func() {
		b.Close()
		a.Close() // closes the backend; closing it twice is harmless
	})
	return a, b, be
}

func runLeases(t *testing.T, open func(t *testing.T) Opener) {
	ctx := context.Background()

	t.Run("upload rows are compare-and-set", func(t *testing.T) {
		b := open(t)()
		s := newStore(t, b, small)
		defer s.Close()
		u, err := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: 10})
		if err != nil || u.Version != 1 {
			t.Fatalf("create: %+v %v", u, err)
		}
		if err := b.CreateUpload(ctx, u); !errors.Is(err, chunkstore.ErrExists) {
			t.Fatalf("create of a taken id: %v, want ErrExists", err)
		}
		next := u
		next.Offset = 3
		got, err := b.UpdateUpload(ctx, next, 1)
		if err != nil || got.Version != 2 || got.Offset != 3 {
			t.Fatalf("update at version 1: %+v %v", got, err)
		}
		next.Offset = 7
		cur, err := b.UpdateUpload(ctx, next, 1)
		if !errors.Is(err, chunkstore.ErrConflict) {
			t.Fatalf("update at a stale version: %v, want ErrConflict", err)
		}
		if cur.Version != 2 || cur.Offset != 3 {
			t.Fatalf("a lost update returned %+v, want the stored row (version 2, offset 3)", cur)
		}
		if err := b.DeleteUpload(ctx, u.ID, 1); !errors.Is(err, chunkstore.ErrConflict) {
			t.Fatalf("delete at a stale version: %v, want ErrConflict", err)
		}
		if err := b.DeleteUpload(ctx, u.ID, 2); err != nil {
			t.Fatal(err)
		}
		if err := b.DeleteUpload(ctx, u.ID, 2); err != nil {
			t.Fatalf("delete of a missing row: %v", err)
		}
		if _, err := b.UpdateUpload(ctx, next, 2); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("update of a deleted row: %v, want ErrNotFound (and no row made)", err)
		}
		if _, err := b.GetUpload(ctx, u.ID); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Fatalf("the update made a row again: %v", err)
		}
	})

	t.Run("a second writer is refused while the first holds the upload", func(t *testing.T) {
		s1, s2, _ := twoStores(t, open, nil)
		a, b := randBytes(2*small+77, 31), randBytes(2*small+77, 32)
		u, _ := s1.CreateUpload(ctx, chunkstore.UploadInfo{Length: int64(len(a))})
		g := gated(a)
		done := goAppend(s1, u.ID, 0, g)
		g.waitStarted(t)
		// s1 holds the lease: every other writer is refused at once and writes nothing.
		_, err := s2.Append(ctx, u.ID, 0, bytes.NewReader(b), chunkstore.AppendOptions{})
		var le *chunkstore.LockedError
		if !errors.As(err, &le) || !errors.Is(err, chunkstore.ErrLocked) || le.RetryAfter <= 0 {
			t.Fatalf("append while another writer holds the upload: %v, want a LockedError with RetryAfter", err)
		}
		if err := s2.Terminate(ctx, u.ID); !errors.Is(err, chunkstore.ErrLocked) {
			t.Fatalf("terminate while another writer holds the upload: %v", err)
		}
		close(g.release)
		if r := <-done; r.err != nil || r.u.Offset != int64(len(a)) || r.u.Lease.Holder != "" {
			t.Fatalf("the holder's append: %+v %v", r.u, r.err)
		}
		if _, err := s2.Append(ctx, u.ID, 0, bytes.NewReader(b), chunkstore.AppendOptions{}); !errors.Is(err, chunkstore.ErrOffsetMismatch) {
			t.Fatalf("append at the old offset after the commit: %v, want ErrOffsetMismatch", err)
		}
		finishAndCheck(t, s2, u.ID, a)
	})

	t.Run("racing appends at one offset: one wins, its bytes are the file", func(t *testing.T) {
		s1, s2, _ := twoStores(t, open, nil)
		trials := 20
		if testing.Short() {
			trials = 5
		}
		wins := [2]int{}
		for trial := 0; trial < trials; trial++ {
			data := [2][]byte{randBytes(2*small+77, int64(100+2*trial)), randBytes(2*small+77, int64(101+2*trial))}
			u, err := s1.CreateUpload(ctx, chunkstore.UploadInfo{Length: int64(len(data[0]))})
			if err != nil {
				t.Fatal(err)
			}
			start := make(chan struct{})
			var wg sync.WaitGroup
			var res [2]error
			for i, s := range []*chunkstore.Store{s1, s2} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, res[i] = s.Append(ctx, u.ID, 0, bytes.NewReader(data[i]), chunkstore.AppendOptions{})
				}()
			}
			close(start)
			wg.Wait()
			winner := -1
			for i, err := range res {
				switch {
				case err == nil && winner < 0:
					winner = i
				case err == nil:
					t.Fatalf("trial %d: both appends at offset 0 succeeded", trial)
				case !errors.Is(err, chunkstore.ErrLocked) && !errors.Is(err, chunkstore.ErrOffsetMismatch):
					t.Fatalf("trial %d: the loser got %v, want ErrLocked or ErrOffsetMismatch", trial, err)
				}
			}
			if winner < 0 {
				t.Fatalf("trial %d: no append succeeded: %v", trial, res)
			}
			wins[winner]++
			finishAndCheck(t, s2, u.ID, data[winner])
		}
		t.Logf("%d trials: store 1 won %d, store 2 won %d", trials, wins[0], wins[1])
	})

	t.Run("a lapsed lease is taken over; its holder's late writes lose", func(t *testing.T) {
		c := &clock{now: time.Now()}
		ttl := 5 * time.Second
		s, _, b := twoStores(t, open, func(cfg *chunkstore.Config) { cfg.Clock, cfg.LeaseTTL = c.Now, ttl })
		data := randBytes(2*small+5, 33)
		u, _ := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: int64(len(data))})
		// A writer takes the lease, writes a chunk and dies (it is done here
		// straight through the backend: a process that never comes back).
		dead := u
		dead.Lease = chunkstore.UploadLease{Holder: "dead", Until: c.Now().Add(ttl), Fence: time.Now().UnixMicro()}
		dead, err := b.UpdateUpload(ctx, dead, u.Version)
		if err != nil {
			t.Fatal(err)
		}
		junk := randBytes(small, 34)
		sum := crc32.Checksum(junk, crc32.MakeTable(crc32.Castagnoli))
		if err := b.PutUploadChunk(ctx, u.ID, 0, junk, sum, dead.Lease.Fence); err != nil {
			t.Fatalf("the holder's own chunk write: %v", err)
		}
		var le *chunkstore.LockedError
		if _, err := s.Append(ctx, u.ID, 0, bytes.NewReader(data), chunkstore.AppendOptions{}); !errors.As(err, &le) ||
			le.RetryAfter <= 0 || le.RetryAfter > ttl {
			t.Fatalf("append during the dead writer's lease: %v, want ErrLocked with RetryAfter in (0, %s]", err, ttl)
		}
		c.Advance(ttl + time.Second)
		if _, err := s.Append(ctx, u.ID, 0, bytes.NewReader(data), chunkstore.AppendOptions{}); err != nil {
			t.Fatalf("append after the lease lapsed: %v", err)
		}
		// The dead writer wakes up: its chunk writes and deletes are refused
		// or lose to the newer fence, and its commit fails.
		if err := b.PutUploadChunk(ctx, u.ID, 0, junk, sum, dead.Lease.Fence); err != nil && !errors.Is(err, chunkstore.ErrConflict) {
			t.Fatalf("a stale chunk write: %v, want nil (outvoted) or ErrConflict (refused)", err)
		}
		if err := b.DeleteUploadChunks(ctx, u.ID, 1, 3, dead.Lease.Fence); err != nil && !errors.Is(err, chunkstore.ErrConflict) {
			t.Fatalf("a stale chunk delete: %v", err)
		}
		late := dead
		late.Offset, late.Lease = small, chunkstore.UploadLease{Fence: dead.Lease.Fence}
		if _, err := b.UpdateUpload(ctx, late, dead.Version); !errors.Is(err, chunkstore.ErrConflict) {
			t.Fatalf("the stale holder's commit: %v, want ErrConflict", err)
		}
		finishAndCheck(t, s, u.ID, data)
	})

	t.Run("a writer that lost its lease keeps nothing", func(t *testing.T) {
		s1, s2, b := twoStores(t, open, nil)
		a, other := randBytes(2*small+9, 35), randBytes(2*small+9, 36)
		u, _ := s1.CreateUpload(ctx, chunkstore.UploadInfo{Length: int64(len(a))})
		g := gated(a)
		done := goAppend(s1, u.ID, 0, g)
		g.waitStarted(t)
		// Another writer takes the upload over (as one would after the
		// holder stalled past its lease), then lets go without writing.
		held, err := b.GetUpload(ctx, u.ID)
		if err != nil || held.Lease.Holder == "" {
			t.Fatalf("the gated append holds no lease: %+v %v", held, err)
		}
		thief := held
		thief.Lease = chunkstore.UploadLease{Holder: "thief", Until: time.Now().Add(time.Hour), Fence: held.Lease.Fence + 1}
		if thief, err = b.UpdateUpload(ctx, thief, held.Version); err != nil {
			t.Fatal(err)
		}
		close(g.release)
		r := <-done
		if !errors.Is(r.err, chunkstore.ErrLocked) {
			t.Fatalf("append whose lease was taken: %v, want ErrLocked", r.err)
		}
		cur, _ := b.GetUpload(ctx, u.ID)
		if cur.Offset != 0 || cur.Lease.Holder != "thief" {
			t.Fatalf("after the lost append the row is %+v, want offset 0 held by the thief", cur)
		}
		thief.Lease.Holder, thief.Lease.Until = "", time.Time{}
		if _, err := b.UpdateUpload(ctx, thief, cur.Version); err != nil {
			t.Fatal(err)
		}
		if _, err := s2.Append(ctx, u.ID, 0, bytes.NewReader(other), chunkstore.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		finishAndCheck(t, s2, u.ID, other)
	})

	t.Run("the lease is renewed while a body is slow", func(t *testing.T) {
		ttl := 300 * time.Millisecond
		s1, s2, b := twoStores(t, open, func(cfg *chunkstore.Config) { cfg.LeaseTTL = ttl })
		data := randBytes(small+3, 37)
		u, _ := s1.CreateUpload(ctx, chunkstore.UploadInfo{Length: int64(2 * len(data))})
		g := gated(data)
		done := goAppend(s1, u.ID, 0, g)
		g.waitStarted(t)
		first, _ := b.GetUpload(ctx, u.ID)
		// Wait (polling the row) until the lease has outlived its first
		// expiry by a whole TTL: only renewals can have kept it.
		deadline := time.Now().Add(20 * time.Second)
		for {
			cur, err := b.GetUpload(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if cur.Lease.Holder != first.Lease.Holder {
				t.Fatalf("the slow append lost its lease: %+v", cur.Lease)
			}
			if time.Now().After(first.Lease.Until.Add(ttl)) && cur.Lease.Until.After(time.Now()) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the lease was not renewed: %+v, first %+v", cur.Lease, first.Lease)
			}
			time.Sleep(ttl / 10) // polling the row, not waiting for an event
		}
		if _, err := s2.Append(ctx, u.ID, 0, bytes.NewReader(data), chunkstore.AppendOptions{}); !errors.Is(err, chunkstore.ErrLocked) {
			t.Fatalf("append beside a renewed lease: %v, want ErrLocked", err)
		}
		close(g.release)
		if r := <-done; r.err != nil || r.u.Lease.Holder != "" {
			t.Fatalf("the slow append: %+v %v", r.u, r.err)
		}
		if _, err := s2.Append(ctx, u.ID, int64(len(data)), bytes.NewReader(data), chunkstore.AppendOptions{}); err != nil {
			t.Fatalf("the next append after the lease was let go: %v", err)
		}
		finishAndCheck(t, s2, u.ID, append(append([]byte(nil), data...), data...))
	})

	t.Run("another store's interrupt stops a writer, which keeps its bytes", func(t *testing.T) {
		ttl := 300 * time.Millisecond
		s1, s2, b := twoStores(t, open, func(cfg *chunkstore.Config) { cfg.LeaseTTL = ttl })
		data := randBytes(2*small+11, 39)
		u, _ := s1.CreateUpload(ctx, chunkstore.UploadInfo{Length: int64(len(data))})
		// A body that sends its first part, then hangs until the append is
		// asked to stop (as a dead client's connection would, until tus
		// cuts its read).
		cut := small + 5
		hang := &hangUntil{blocked: make(chan struct{}), stop: make(chan struct{})}
		var once sync.Once
		done := make(chan appendResult, 1)
		go func() {
			u, err := s1.Append(ctx, u.ID, 0, io.MultiReader(bytes.NewReader(data[:cut]), hang),
				chunkstore.AppendOptions{Interrupt: func() { once.Do(func() { close(hang.stop) }) }})
			done <- appendResult{u, err}
		}()
		select {
		case <-hang.blocked:
		case <-time.After(30 * time.Second):
			t.Fatal("the append never read its body")
		}
		if err := s2.Interrupt(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		var r appendResult
		select {
		case r = <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("the interrupted append did not end")
		}
		if !errors.Is(r.err, errDropped) || r.u.Offset != int64(cut) {
			t.Fatalf("the interrupted append: offset %d, %v; want %d and its read error", r.u.Offset, r.err, cut)
		}
		if cur, _ := b.GetUpload(ctx, u.ID); cur.Offset != int64(cut) || cur.Lease.Holder != "" {
			t.Fatalf("after the interrupt the row is %+v, want offset %d and the lease let go", cur, cut)
		}
		if _, err := s2.Append(ctx, u.ID, int64(cut), bytes.NewReader(data[cut:]), chunkstore.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		finishAndCheck(t, s2, u.ID, data)
	})

	t.Run("an interrupt cuts a dead writer's lease short", func(t *testing.T) {
		c := &clock{now: time.Now()}
		ttl := 10 * time.Second
		s, _, b := twoStores(t, open, func(cfg *chunkstore.Config) { cfg.Clock, cfg.LeaseTTL = c.Now, ttl })
		u, _ := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: 3})
		dead := u
		dead.Lease = chunkstore.UploadLease{Holder: "dead", Until: c.Now().Add(time.Hour), Fence: time.Now().UnixMicro()}
		if _, err := b.UpdateUpload(ctx, dead, u.Version); err != nil {
			t.Fatal(err)
		}
		if err := s.Interrupt(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		var le *chunkstore.LockedError
		if _, err := s.Append(ctx, u.ID, 0, bytes.NewReader([]byte("abc")), chunkstore.AppendOptions{}); !errors.As(err, &le) || le.RetryAfter > ttl/2 {
			t.Fatalf("append right after the interrupt: %v, want ErrLocked for at most %s", err, ttl/2)
		}
		c.Advance(ttl/2 + time.Second)
		if _, err := s.Append(ctx, u.ID, 0, bytes.NewReader([]byte("abc")), chunkstore.AppendOptions{}); err != nil {
			t.Fatalf("append once the cut lease lapsed: %v", err)
		}
		finishAndCheck(t, s, u.ID, []byte("abc"))
	})

	// A commit and a termination racing on two edges: whichever order they
	// meet in, the upload ends up either a whole file or gone, never a
	// files row over deleted chunks.
	t.Run("finish and terminate racing: a whole file or nothing", func(t *testing.T) {
		// Either Stat is ErrNotFound, or the file reads back whole.
		wholeOrGone := func(t *testing.T, s *chunkstore.Store, id string, data []byte) {
			t.Helper()
			if _, err := s.Stat(ctx, id); errors.Is(err, chunkstore.ErrNotFound) {
				if _, err := s.GetUpload(ctx, id); !errors.Is(err, chunkstore.ErrNotFound) {
					t.Fatalf("no file, but the upload is still there: %v", err)
				}
				return
			} else if err != nil {
				t.Fatal(err)
			}
			checkRead(t, s, id, data)
		}
		newUpload := func(t *testing.T, s *chunkstore.Store, seed int64) (chunkstore.UploadInfo, []byte) {
			t.Helper()
			data := randBytes(2*small+5, seed)
			u, err := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: int64(len(data))})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Append(ctx, u.ID, 0, bytes.NewReader(data), chunkstore.AppendOptions{}); err != nil {
				t.Fatal(err)
			}
			return u, data
		}

		t.Run("terminate while the commit writes the files row", func(t *testing.T) {
			be := open(t)()
			g := gate(be, "PutFile")
			s1, s2 := storeWith(t, g, nil), storeWith(t, be, nil)
			defer func() { g.free(); s2.Close(); s1.Close() }()
			u, data := newUpload(t, s1, 60)
			g.id = u.ID
			done := make(chan error, 1)
			go func() {
				_, err := s1.FinishUpload(ctx, u.ID)
				done <- err
			}()
			g.waitReached(t)
			terr := s2.Terminate(ctx, u.ID)
			g.free()
			ferr := <-done
			t.Logf("terminate: %v; finish: %v", terr, ferr)
			if terr == nil && ferr == nil {
				t.Fatal("both the commit and the termination succeeded")
			}
			if terr != nil && !errors.Is(terr, chunkstore.ErrFinished) && !errors.Is(terr, chunkstore.ErrLocked) {
				t.Fatalf("terminate during the commit: %v, want ErrFinished or ErrLocked", terr)
			}
			wholeOrGone(t, s2, u.ID, data)
		})

		t.Run("commit while terminate removes the upload", func(t *testing.T) {
			be := open(t)()
			g := gate(be, "DeleteUpload")
			s1, s2 := storeWith(t, be, nil), storeWith(t, g, nil)
			defer func() { g.free(); s2.Close(); s1.Close() }()
			u, data := newUpload(t, s1, 61)
			g.id = u.ID
			done := make(chan error, 1)
			go func() { done <- s2.Terminate(ctx, u.ID) }()
			// s2 holds the lease and has deleted the chunks; the row is next.
			g.waitReached(t)
			_, ferr := s1.FinishUpload(ctx, u.ID)
			g.free()
			terr := <-done
			t.Logf("terminate: %v; finish: %v", terr, ferr)
			if terr != nil {
				t.Fatalf("the termination that went first: %v", terr)
			}
			if ferr == nil {
				t.Fatal("a commit over an upload being terminated succeeded")
			}
			wholeOrGone(t, s1, u.ID, data)
		})
	})

	// The sweeper judges an expired upload from its scan, then removes it;
	// a commit on another edge (FinishUpload looks at no expiry: a HEAD
	// after a crash commits a complete upload) may come in between, or
	// while the chunks go. Either the sweep leaves a row that changed, or
	// it claims the row first and the commit is refused: a whole file or
	// nothing, never a files row over deleted chunks.
	t.Run("sweep and commit racing: a whole file or nothing", func(t *testing.T) {
		for _, at := range []string{"ScanUploads", "DeleteUpload"} {
			t.Run("commit when the sweep reached "+at, func(t *testing.T) {
				be := open(t)()
				ahead := &clock{now: time.Now().Add(3 * time.Hour)}
				g := gate(be, at)
				sweeper := storeWith(t, g, func(cfg *chunkstore.Config) { cfg.Clock, cfg.UploadTTL = ahead.Now, time.Hour })
				edge := storeWith(t, be, func(cfg *chunkstore.Config) { cfg.UploadTTL = time.Hour })
				defer func() { g.free(); edge.Close(); sweeper.Close() }()
				data := randBytes(2*small+7, 63)
				u, err := edge.CreateUpload(ctx, chunkstore.UploadInfo{Length: int64(len(data))})
				if err != nil {
					t.Fatal(err)
				}
				// Complete, not committed: as after a crash between the two.
				if _, err := edge.Append(ctx, u.ID, 0, bytes.NewReader(data), chunkstore.AppendOptions{}); err != nil {
					t.Fatal(err)
				}
				g.id = u.ID
				swept := make(chan error, 1)
				go func() {
					_, err := sweeper.SweepOnce(ctx)
					swept <- err
				}()
				g.waitReached(t)
				_, ferr := edge.FinishUpload(ctx, u.ID)
				g.free()
				serr := <-swept
				t.Logf("commit: %v; sweep: %v", ferr, serr)
				if _, err := edge.Stat(ctx, u.ID); errors.Is(err, chunkstore.ErrNotFound) {
					if ferr == nil {
						t.Fatal("the commit succeeded and left no file")
					}
					if _, err := edge.GetUpload(ctx, u.ID); !errors.Is(err, chunkstore.ErrNotFound) {
						t.Fatalf("no file, but the upload is still there: %v", err)
					}
					return
				} else if err != nil {
					t.Fatal(err)
				}
				checkRead(t, edge, u.ID, data)
			})
		}
	})

	// A finisher that dies mid-commit leaves the upload finishing: no one
	// may terminate it (its files row may be written), the next commit
	// completes it, and the sweeper, if no one does, keeps the file when
	// its row was written and removes the upload when it was not.
	t.Run("a commit cut short is completed or swept, never half undone", func(t *testing.T) {
		for _, at := range []string{"PutFile", "finished"} {
			t.Run(at, func(t *testing.T) {
				be := open(t)()
				c := &clock{now: time.Now()}
				edit := func(cfg *chunkstore.Config) { cfg.Clock, cfg.UploadTTL = c.Now, time.Hour }
				cut := &cutBackend{Backend: be, at: at}
				dead, live := storeWith(t, cut, edit), storeWith(t, be, edit)
				defer func() { live.Close(); dead.Close() }()
				data := randBytes(2*small+9, 62)
				u, err := live.CreateUpload(ctx, chunkstore.UploadInfo{Length: int64(len(data))})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := live.Append(ctx, u.ID, 0, bytes.NewReader(data), chunkstore.AppendOptions{}); err != nil {
					t.Fatal(err)
				}
				cut.id = u.ID
				if _, err := dead.FinishUpload(ctx, u.ID); !errors.Is(err, errCut) {
					t.Fatalf("the cut commit: %v", err)
				}
				if err := live.Terminate(ctx, u.ID); !errors.Is(err, chunkstore.ErrFinished) {
					t.Fatalf("terminate after a cut commit: %v, want ErrFinished", err)
				}
				if _, err := live.Append(ctx, u.ID, int64(len(data)), bytes.NewReader(nil), chunkstore.AppendOptions{}); !errors.Is(err, chunkstore.ErrFinished) {
					t.Fatalf("append after a cut commit: %v, want ErrFinished", err)
				}
				if at == "finished" {
					// The files row is the commit point: the file is whole
					// already, and the next commit only records it.
					checkRead(t, live, u.ID, data)
					finishAndCheck(t, live, u.ID, data)
					if got, _ := live.GetUpload(ctx, u.ID); got.State != chunkstore.UploadFinished {
						t.Fatalf("state %q after the next commit", got.State)
					}
				}
				c.Advance(2 * time.Hour)
				if _, err := live.SweepOnce(ctx); err != nil {
					t.Fatal(err)
				}
				if _, err := live.GetUpload(ctx, u.ID); !errors.Is(err, chunkstore.ErrNotFound) {
					t.Fatalf("upload row after the sweep: %v", err)
				}
				if at == "finished" {
					checkRead(t, live, u.ID, data)
					return
				}
				if _, err := live.Stat(ctx, u.ID); !errors.Is(err, chunkstore.ErrNotFound) {
					t.Fatalf("a file with no files row written: %v", err)
				}
				noChunks(t, be, u.ID, 3)
			})
		}
	})

	t.Run("finishing from two stores at once", func(t *testing.T) {
		s1, s2, _ := twoStores(t, open, nil)
		data := randBytes(small+1, 38)
		u, _ := s1.CreateUpload(ctx, chunkstore.UploadInfo{Length: int64(len(data))})
		if _, err := s1.Append(ctx, u.ID, 0, bytes.NewReader(data), chunkstore.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, s := range []*chunkstore.Store{s1, s2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f, err := s.FinishUpload(ctx, u.ID)
				if err == nil && f.Size != int64(len(data)) {
					err = fmt.Errorf("file %+v", f)
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		checkRead(t, s2, u.ID, data)
		if got, _ := s1.GetUpload(ctx, u.ID); got.State != chunkstore.UploadFinished {
			t.Fatalf("state %q after finishing", got.State)
		}
	})
}
