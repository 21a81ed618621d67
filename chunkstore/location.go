package chunkstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"strings"

	"github.com/mediaedge/mediaedge/exifstrip"
)

// Removing location from image originals at upload.
//
// Originals are otherwise stored and served byte-exact. An upload marked
// with MetaStripLocation (the edge decides: by default for uploads made with
// a user session) has its GPS data and maker notes removed once every byte
// has arrived and its checksums were verified, before the file is
// committed: the file that ever becomes visible is the stripped one, and its
// SHA-256 and ETag are those of the stripped bytes.
//
// exifstrip edits are length-preserving, so only the chunks that hold the
// metadata (one or two for a phone JPEG) are rewritten, under the upload's
// writer lease and its fence like any other chunk write; the hash is then
// computed again over the file, which is read once more (images are small
// next to the videos this path never touches). An image whose metadata
// cannot be parsed is refused (ErrMetadata) rather than stored with its
// location: the promise is that a stripped upload carries none.

// MetaStripLocation in an upload's metadata asks for its location to be
// removed when it finishes ("1").
const MetaStripLocation = "mediaedge.strip-location"

// MetaLocationRemoved is set ("1") on an upload whose location was removed.
const MetaLocationRemoved = "mediaedge.location-removed"

// ErrMetadata: location removal was asked for and the image's metadata could
// not be parsed, so the upload is refused rather than kept with its location.
var ErrMetadata = errors.New("chunkstore: image metadata cannot be parsed to remove its location")

// wantsStrip reports whether an upload of contentType with meta is to lose
// its location.
func wantsStrip(meta map[string]string, contentType string) bool {
	return meta[MetaStripLocation] == "1" && strings.HasPrefix(contentType, "image/")
}

// stripLocation finds the location metadata of the size bytes stored under
// id, rewrites the chunks that hold it with put, and returns the SHA-256
// state of the stripped bytes (nil when nothing was removed).
func (s *Store) stripLocation(ctx context.Context, id string, size int64, cs int,
	put func(idx int, data []byte) error) (hash.Hash, error) {
	r := s.newReader(ctx, id, size, cs, FileInfo{ID: id, Size: size, ChunkSize: cs})
	defer r.Close()
	patches, err := exifstrip.Find(r, size)
	if err != nil {
		if errors.Is(err, ErrCorrupt) || ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrMetadata, err)
	}
	if len(patches) == 0 {
		return nil, nil
	}
	// The chunks the patches touch, in order.
	done := map[int]bool{}
	for _, p := range patches {
		for idx := int(p.Off / int64(cs)); int64(idx)*int64(cs) < p.Off+int64(len(p.Data)); idx++ {
			if done[idx] {
				continue
			}
			done[idx] = true
			start := int64(idx) * int64(cs)
			data, err := s.readChunk(ctx, id, idx, int(min(int64(cs), size-start)))
			if err != nil {
				return nil, err
			}
			buf := append([]byte(nil), data...)
			exifstrip.ApplyTo(buf, start, patches)
			if err := put(idx, buf); err != nil {
				return nil, fmt.Errorf("rewrite chunk %d of %s: %w", idx, id, err)
			}
		}
	}
	h := sha256.New()
	r2 := s.newReader(ctx, id, size, cs, FileInfo{ID: id, Size: size, ChunkSize: cs})
	defer r2.Close()
	if _, err := io.Copy(h, io.NewSectionReader(r2, 0, size)); err != nil {
		return nil, fmt.Errorf("hash %s after removing its location: %w", id, err)
	}
	return h, nil
}

// stripUpload removes the location of a complete upload under its writer
// lease, and records the stripped bytes' hash in its row.
func (s *Store) stripUpload(ctx context.Context, u UploadInfo) (UploadInfo, error) {
	l, cur, err := s.hold(ctx, u.ID, nil, func(x UploadInfo) error {
		if x.Length < 0 || x.Offset != x.Length {
			return fmt.Errorf("strip %s at %d of %d: %w", x.ID, x.Offset, x.Length, ErrIncomplete)
		}
		return nil
	}, leaseHooks{})
	if err != nil {
		return cur, err
	}
	h, err := s.stripLocation(ctx, cur.ID, cur.Length, cur.ChunkSize, func(idx int, data []byte) error {
		return s.b.PutUploadChunk(ctx, cur.ID, idx, data, crc(data), l.fence)
	})
	if err != nil {
		l.abandon(context.WithoutCancel(ctx))
		return cur, err
	}
	return l.release(ctx, func(x *UploadInfo) {
		x.Metadata = maps.Clone(x.Metadata)
		if x.Metadata == nil {
			x.Metadata = map[string]string{}
		}
		x.Metadata[MetaLocationRemoved] = "1"
		if h != nil {
			x.HashState = hashState(h)
		}
	})
}
