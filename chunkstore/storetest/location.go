package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/exifstrip"
	"github.com/mediaedge/mediaedge/internal/testmedia"
)

// runLocation: an image uploaded with location removal asked for is
// committed without its GPS data and maker notes (same size, the hash and
// the bytes served agree), through a resumable upload whose metadata spans
// chunks and through Put; without it, the original is kept byte-exact; an
// image whose metadata cannot be parsed is refused, not stored with its
// location.
func runLocation(t *testing.T, open func(t *testing.T) Opener) {
	ctx := context.Background()
	photo := testmedia.GPSJPEG()
	if p, err := exifstrip.Find(bytes.NewReader(photo), int64(len(photo))); err != nil || len(p) == 0 {
		t.Fatalf("the test photo has no location to remove: %v", err)
	}
	stripped := func(t *testing.T, s *chunkstore.Store, f chunkstore.FileInfo) {
		t.Helper()
		r, err := s.Open(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(got)
		if len(got) != len(photo) || !bytes.Equal(f.SHA256, sum[:]) || bytes.Equal(got, photo) {
			t.Fatalf("stripped file: %d bytes (want %d), hash agrees %v, changed %v", len(got), len(photo),
				bytes.Equal(f.SHA256, sum[:]), !bytes.Equal(got, photo))
		}
		if p, err := exifstrip.Find(bytes.NewReader(got), int64(len(got))); err != nil || len(p) != 0 {
			t.Fatalf("the committed file still holds location: %d patches, %v", len(p), err)
		}
	}

	t.Run("location removed from a resumable upload", func(t *testing.T) {
		// Small chunks, so the metadata spans several of them.
		s := newStore(t, open(t)(), small)
		defer s.Close()
		u, err := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: int64(len(photo)),
			Metadata: map[string]string{chunkstore.MetaStripLocation: "1"}})
		if err != nil {
			t.Fatal(err)
		}
		if u, err = s.Append(ctx, u.ID, 0, bytes.NewReader(photo), chunkstore.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		f, err := s.FinishUpload(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		stripped(t, s, f)
		if f2, err := s.FinishUpload(ctx, u.ID); err != nil || !bytes.Equal(f2.SHA256, f.SHA256) {
			t.Fatalf("finishing again: %v", err)
		}
	})

	t.Run("location removed by Put", func(t *testing.T) {
		s := newStore(t, open(t)(), small)
		defer s.Close()
		f, err := s.Put(ctx, bytes.NewReader(photo), chunkstore.PutOptions{StripLocation: true})
		if err != nil {
			t.Fatal(err)
		}
		stripped(t, s, f)
	})

	t.Run("originals kept byte-exact without the option", func(t *testing.T) {
		s := newStore(t, open(t)(), small)
		defer s.Close()
		f, err := s.Put(ctx, bytes.NewReader(photo), chunkstore.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		checkRead(t, s, f.ID, photo)
	})

	t.Run("unparsable metadata refused", func(t *testing.T) {
		s := newStore(t, open(t)(), small)
		defer s.Close()
		bad := append([]byte(nil), photo...)
		// An APP1 Exif segment whose IFD offset points past the segment.
		i := bytes.Index(bad, []byte("Exif\x00\x00"))
		if i < 0 {
			t.Fatal("no Exif segment")
		}
		copy(bad[i+6+4:], []byte{0x7f, 0xff, 0xff, 0xff})
		if _, err := exifstrip.Find(bytes.NewReader(bad), int64(len(bad))); err == nil {
			t.Skip("exifstrip accepts this damage; nothing to refuse")
		}
		_, err := s.Put(ctx, bytes.NewReader(bad), chunkstore.PutOptions{StripLocation: true})
		if !errors.Is(err, chunkstore.ErrMetadata) {
			t.Fatalf("unparsable metadata: %v, want ErrMetadata", err)
		}
	})
}

// runUsage: an owner's usage is the bytes of their complete files: a put
// counts, an upload counts once finished, a deleted file stops counting at
// once, other owners and owner-less files never count.
func runUsage(t *testing.T, open func(t *testing.T) Opener) {
	ctx := context.Background()
	t.Run("usage per owner", func(t *testing.T) {
		s := newStore(t, open(t)(), small)
		defer s.Close()
		usage := func(owner string) int64 {
			t.Helper()
			n, err := s.Usage(ctx, owner)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if usage("user:1") != 0 {
			t.Fatal("a new owner uses bytes")
		}
		a, err := s.Put(ctx, bytes.NewReader(randBytes(1000, 1)), chunkstore.PutOptions{Owner: "user:1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, bytes.NewReader(randBytes(500, 2)), chunkstore.PutOptions{Owner: "user:2"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, bytes.NewReader(randBytes(700, 3)), chunkstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		u, err := s.CreateUpload(ctx, chunkstore.UploadInfo{Length: 3*small + 5, Owner: "user:1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, u.ID, 0, bytes.NewReader(randBytes(3*small+5, 4)), chunkstore.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := usage("user:1"); got != 1000 {
			t.Fatalf("usage %d before the upload finished, want 1000", got)
		}
		if _, err := s.FinishUpload(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if got := usage("user:1"); got != 1000+3*small+5 {
			t.Fatalf("usage %d, want %d", got, 1000+3*small+5)
		}
		if err := s.Delete(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if got, other := usage("user:1"), usage("user:2"); got != 3*small+5 || other != 500 {
			t.Fatalf("after a delete: user:1 %d, user:2 %d", got, other)
		}
	})
}
