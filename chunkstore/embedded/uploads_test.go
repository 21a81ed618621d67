package embedded_test

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/chunkstore/embedded"
)

// TestStaleFenceRefused: the embedded store refuses (not merely outvotes) a
// chunk write or delete by a holder whose lease was taken over, let go or
// deleted, and takes the current holder's; after a restart, from the row
// alone. The conformance suite accepts either, since Cassandra can only
// outvote; this is what the package promises beyond it.
func TestStaleFenceRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() *embedded.Backend {
		b, err := embedded.Open(embedded.Config{Dir: dir, ChunkSize: 4096, Sync: true})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := open()
	u := chunkstore.UploadInfo{ID: chunkstore.NewID(), Length: 3 * 4096, ChunkSize: 4096, Version: 1,
		CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := b.CreateUpload(ctx, u); err != nil {
		t.Fatal(err)
	}
	take := func(u chunkstore.UploadInfo, holder string, fence int64) chunkstore.UploadInfo {
		t.Helper()
		n := u
		n.Lease = chunkstore.UploadLease{Holder: holder, Until: time.Now().Add(time.Hour), Fence: fence}
		n, err := b.UpdateUpload(ctx, n, u.Version)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	chunk := func(fill byte) ([]byte, uint32) {
		d := bytes.Repeat([]byte{fill}, 4096)
		return d, crc32.Checksum(d, crc32.MakeTable(crc32.Castagnoli))
	}
	put := func(fence int64, fill byte) error {
		d, sum := chunk(fill)
		return b.PutUploadChunk(ctx, u.ID, 0, d, sum, fence)
	}
	stored := func() byte {
		t.Helper()
		d, _, err := b.GetChunk(ctx, u.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		return d[0]
	}

	a := take(u, "a", 1)
	if err := put(1, 'a'); err != nil {
		t.Fatalf("the holder's write: %v", err)
	}
	bb := take(a, "b", 2)
	if err := put(1, 'x'); !errors.Is(err, chunkstore.ErrConflict) {
		t.Fatalf("a write under the fence taken over: %v, want ErrConflict", err)
	}
	if err := b.DeleteUploadChunks(ctx, u.ID, 0, 1, 1); !errors.Is(err, chunkstore.ErrConflict) {
		t.Fatalf("a delete under the fence taken over: %v, want ErrConflict", err)
	}
	if got := stored(); got != 'a' {
		t.Fatalf("chunk 0 holds %q after refused writes, want 'a'", got)
	}
	if err := put(2, 'b'); err != nil {
		t.Fatalf("the new holder's write: %v", err)
	}
	// Let go: the fence stays in the row, but no one holds it.
	free := bb
	free.Lease.Holder, free.Lease.Until = "", time.Time{}
	free, err := b.UpdateUpload(ctx, free, bb.Version)
	if err != nil {
		t.Fatal(err)
	}
	if err := put(2, 'x'); !errors.Is(err, chunkstore.ErrConflict) {
		t.Fatalf("a write after the lease was let go: %v, want ErrConflict", err)
	}
	c := take(free, "c", 3)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// After a restart a lease of the earlier incarnation is void.
	b = open()
	defer b.Close()
	if err := put(3, 'x'); !errors.Is(err, chunkstore.ErrConflict) {
		t.Fatalf("a write under a lease of the earlier incarnation: %v, want ErrConflict", err)
	}
	c, err = b.GetUpload(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	d := take(c, "d", 4)
	if err := put(4, 'd'); err != nil {
		t.Fatalf("the holder's write after the restart: %v", err)
	}
	if got := stored(); got != 'd' {
		t.Fatalf("chunk 0 holds %q, want 'd'", got)
	}
	if err := b.DeleteUpload(ctx, u.ID, d.Version); err != nil {
		t.Fatal(err)
	}
	if err := put(4, 'x'); err == nil {
		t.Fatal("a write to a deleted upload was taken")
	}
}
