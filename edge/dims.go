package edge

import (
	"context"
	"io"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/mediaedge/mediaedge/chunkstore"
)

// Uploads are stored as they stream in, before anything has looked at their
// pixels, so files rows carry no image size. /m/{id}/info reads it from the
// header on first ask, from at most dimsHead bytes of the original (libvips
// header only, no decode), and remembers it: a stored file never changes.

// dimsHead bounds the bytes read for a header. A JPEG's size follows its
// EXIF and ICC segments, which stay well under this.
const dimsHead = 256 << 10

// dimsCacheSize is how many files' sizes are kept in memory.
const dimsCacheSize = 16384

// measurer is the Transformer's optional header reader
// (*transform.Processor is one).
type measurer interface {
	Dimensions(head []byte) (w, h int, err error)
}

type dims struct{ w, h int }

// withDims fills f's width and height for an image when they can be read;
// any failure leaves them out (the info answers without them).
func (s *Server) withDims(ctx context.Context, f chunkstore.FileInfo) chunkstore.FileInfo {
	if f.Width > 0 || !strings.HasPrefix(f.ContentType, "image/") || s.dims == nil {
		return f
	}
	m, ok := s.deps.Transformer.(measurer)
	if !ok {
		return f
	}
	if d, ok := s.dims.Get(f.ID); ok {
		f.Width, f.Height = d.w, d.h
		return f
	}
	r, err := s.store.Open(ctx, f.ID)
	if err != nil {
		return f
	}
	defer r.Close()
	head, err := io.ReadAll(io.LimitReader(r, dimsHead))
	if err != nil {
		return f
	}
	w, h, err := m.Dimensions(head)
	if err != nil || w <= 0 || h <= 0 {
		return f
	}
	s.dims.Add(f.ID, dims{w, h})
	f.Width, f.Height = w, h
	return f
}

func newDimsCache() *lru.Cache[string, dims] {
	c, _ := lru.New[string, dims](dimsCacheSize) // errors only for a size <= 0
	return c
}
