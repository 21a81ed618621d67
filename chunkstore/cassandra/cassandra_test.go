package cassandra_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/chunkstore/cassandra"
	"github.com/mediaedge/mediaedge/chunkstore/storetest"
	"github.com/mediaedge/mediaedge/internal/cassandratest"
)

// TestCassandra is the one entry point that needs a node: it makes one fresh
// keyspace for the whole binary (ids are random, so the cases share it) and
// drops it at the end. Without a node it skips, or fails under CI=true.
func TestCassandra(t *testing.T) {
	hosts := cassandratest.Hosts(t)
	ks := cassandratest.Keyspace(t, hosts)
	cfg := cassandra.DefaultConfig()
	cfg.Hosts, cfg.Keyspace = hosts, ks
	open := func(t *testing.T) *cassandra.Backend {
		t.Helper()
		b, err := cassandra.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	t.Run("conformance", func(t *testing.T) {
		// The suite closes every backend it opens.
		storetest.Run(t, func(t *testing.T) storetest.Opener {
			return func() chunkstore.Backend { return open(t) }
		})
	})
	t.Run("rows round-trip", func(t *testing.T) {
		b := open(t)
		defer b.Close()
		testRows(t, b)
	})
	t.Run("scans page and stop", func(t *testing.T) {
		b := open(t)
		defer b.Close()
		testScans(t, b)
	})
	t.Run("driver logs reach slog", func(t *testing.T) {
		var buf syncBuffer
		c := cfg
		c.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		b, err := cassandra.Open(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
		// Session set-up logs at debug level at least once (control connection).
		if !strings.Contains(buf.String(), "component=gocql") {
			t.Errorf("no gocql lines in the slog output:\n%s", buf.String())
		}
	})
	t.Run("unreachable keyspace", func(t *testing.T) {
		c := cfg
		c.Keyspace = "no_such_keyspace_here"
		if b, err := cassandra.Open(context.Background(), c); err == nil {
			b.Close()
			t.Fatal("opened a keyspace that does not exist")
		}
	})
}

// testRows checks every column survives the trip, including the Cassandra
// cases a generic suite may not hit: empty blobs, nil maps and lists, and
// timestamps (millisecond precision in CQL).
func testRows(t *testing.T, b *cassandra.Backend) {
	ctx := context.Background()
	id := fmt.Sprintf("rows%d", time.Now().UnixNano())
	now := time.Now().UTC().Truncate(time.Millisecond)

	if err := b.PutChunk(ctx, id, 0, nil, 0); err != nil {
		t.Fatal(err)
	}
	data, crc, err := b.GetChunk(ctx, id, 0)
	if err != nil || len(data) != 0 || crc != 0 {
		t.Fatalf("empty chunk: %q %d %v", data, crc, err)
	}
	big := bytes.Repeat([]byte{0xAB}, 4<<20) // the largest chunk size the Store allows
	if err := b.PutChunk(ctx, id, 1, big, 0xFFFFFFFF); err != nil {
		t.Fatal(err)
	}
	data, crc, err = b.GetChunk(ctx, id, 1)
	if err != nil || !bytes.Equal(data, big) || crc != 0xFFFFFFFF {
		t.Fatalf("4 MiB chunk: %d bytes crc %x %v", len(data), crc, err)
	}
	if _, _, err := b.GetChunk(ctx, id, 2); !errors.Is(err, chunkstore.ErrNotFound) {
		t.Fatalf("missing chunk: %v, want ErrNotFound", err)
	}

	f := chunkstore.FileInfo{ID: id, Size: 1<<40 + 3, ChunkSize: 1 << 20, ContentType: "video/mp4",
		SHA256: bytes.Repeat([]byte{1}, 32), Width: 1920, Height: 1080, DurationMS: 61_000,
		Owner: "alice", CreatedAt: now, State: chunkstore.StateComplete}
	if err := b.PutFile(ctx, f); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetFile(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	got.CreatedAt = got.CreatedAt.UTC()
	if !reflect.DeepEqual(got, f) {
		t.Fatalf("file row\n got %+v\nwant %+v", got, f)
	}

	check := func(u chunkstore.UploadInfo) {
		t.Helper()
		got, err := b.GetUpload(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		got.ExpiresAt, got.CreatedAt = got.ExpiresAt.UTC(), got.CreatedAt.UTC()
		if !got.Lease.Until.IsZero() {
			got.Lease.Until = got.Lease.Until.UTC()
		}
		if len(got.Metadata) == 0 && len(u.Metadata) == 0 {
			got.Metadata = u.Metadata // CQL has no empty map: nil and empty read back alike
		}
		if !reflect.DeepEqual(got, u) {
			t.Fatalf("upload row\n got %+v\nwant %+v", got, u)
		}
	}
	for _, u := range []chunkstore.UploadInfo{
		{ID: id + "a", Length: -1, DeferLength: true, State: chunkstore.UploadActive, ChunkSize: 1 << 20,
			ExpiresAt: now.Add(time.Hour), CreatedAt: now, Version: 1},
		{ID: id + "b", Length: 10, Offset: 10, Metadata: map[string]string{"filename": "a b.jpg", "": "x"},
			Owner: "bob", ConcatParts: []string{"p1", "p2"}, State: chunkstore.UploadFinished,
			ChunkSize: 256 << 10, HashState: []byte("state"), ExpiresAt: now, CreatedAt: now, Version: 1,
			Lease: chunkstore.UploadLease{Holder: "h", Until: now.Add(time.Minute), Fence: 1 << 50}},
	} {
		if err := b.CreateUpload(ctx, u); err != nil {
			t.Fatal(err)
		}
		check(u)
		if err := b.CreateUpload(ctx, u); !errors.Is(err, chunkstore.ErrExists) {
			t.Fatalf("second create: %v, want ErrExists", err)
		}
		// Every mutable column changes; the ones fixed at creation stay.
		next := u
		next.Length, next.Offset, next.Metadata, next.State = 20, 12, map[string]string{"k": "v"}, chunkstore.UploadPartial
		next.ExpiresAt, next.HashState = now.Add(2*time.Hour), []byte("other")
		next.Lease = chunkstore.UploadLease{Holder: "", Fence: u.Lease.Fence + 1}
		got, err := b.UpdateUpload(ctx, next, u.Version)
		next.Version = u.Version + 1
		if err != nil || got.Version != next.Version {
			t.Fatalf("update: %+v %v", got, err)
		}
		check(next)
		if _, err := b.UpdateUpload(ctx, next, u.Version); !errors.Is(err, chunkstore.ErrConflict) {
			t.Fatalf("update at a stale version: %v, want ErrConflict", err)
		}
	}
}

// testScans puts more rows than one page holds and checks the scan sees them
// all, then that an error from fn stops the scan and comes back unchanged.
func testScans(t *testing.T, b *cassandra.Backend) {
	ctx := context.Background()
	prefix := fmt.Sprintf("scan%d-", time.Now().UnixNano())
	const n = 1100 // over two pages of 500
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := 0; i < n; i++ {
		g.Go(func() error {
			id := fmt.Sprintf("%s%d", prefix, i)
			if err := b.PutFile(gctx, chunkstore.FileInfo{ID: id, Size: 1, ChunkSize: 1 << 20, State: chunkstore.StateDeleting}); err != nil {
				return err
			}
			return b.CreateUpload(gctx, chunkstore.UploadInfo{ID: id, Length: 1, State: chunkstore.UploadActive, Version: 1})
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	files, uploads := 0, 0
	if err := b.ScanFiles(ctx, func(f chunkstore.FileInfo) error {
		if strings.HasPrefix(f.ID, prefix) {
			files++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.ScanUploads(ctx, func(u chunkstore.UploadInfo) error {
		if strings.HasPrefix(u.ID, prefix) {
			uploads++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if files != n || uploads != n {
		t.Fatalf("scanned %d files and %d uploads, want %d each", files, uploads, n)
	}

	stop := errors.New("enough")
	seen := 0
	err := b.ScanFiles(ctx, func(chunkstore.FileInfo) error {
		seen++
		if seen == 3 {
			return stop
		}
		return nil
	})
	if err != stop || seen != 3 {
		t.Fatalf("stopped scan: err %v after %d rows, want %v after 3", err, seen, stop)
	}
	if err := b.ScanUploads(ctx, func(chunkstore.UploadInfo) error { return stop }); err != stop {
		t.Fatalf("stopped upload scan: %v", err)
	}
}

func TestValidate(t *testing.T) {
	cfg := cassandra.Config{Keyspace: "bad-name", Consistency: "SOMETIMES", NumConns: -1, Password: "x"}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"hosts", "keyspace", "consistency", "negative", "username"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if err := cassandra.DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the driver's goroutines.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
