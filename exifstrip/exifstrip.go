package exifstrip

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
)

// Sentinel errors, wrapped with %w and the place they were found; test them
// with errors.Is. With any of them Find returns no patches: the caller cannot
// be told the file is free of location, so it should fail closed (refuse the
// upload, or keep the original private) rather than serve it as is.
var (
	// ErrMalformed: a metadata structure Find must read to vouch for the file
	// (a JPEG marker, an EXIF IFD, an XMP packet, a PNG or RIFF chunk, a box)
	// is truncated, out of bounds or not well-formed.
	ErrMalformed = errors.New("exifstrip: malformed metadata")
	// ErrTooLarge: a metadata segment is larger than Config.MaxSegment, or the
	// container has more blocks than Config.MaxBlocks before its metadata ends.
	ErrTooLarge = errors.New("exifstrip: metadata too large")
	// ErrUnsupported: the file carries metadata in a layout this package does
	// not edit in place (a HEIF Exif item split over several extents, say).
	ErrUnsupported = errors.New("exifstrip: unsupported metadata layout")
)

// Patch is Data to write at byte offset Off of the file, over exactly
// len(Data) bytes: the file's size and every other offset stay as they were.
type Patch struct {
	Off  int64
	Data []byte
}

// End is the offset just past the patch.
func (p Patch) End() int64 { return p.Off + int64(len(p.Data)) }

// Config bounds the work Find does on hostile input. The zero value is not
// usable; start from DefaultConfig.
type Config struct {
	// MaxSegment is the largest single metadata segment (an EXIF block, an
	// XMP packet, a PNG text chunk, decompressed) Find reads into memory.
	// A JPEG APP1 segment is at most 64 KiB anyway; PNG, WebP and HEIF
	// allow more, and one that must be examined but is larger fails with
	// ErrTooLarge rather than being skipped.
	MaxSegment int64
	// MaxBlocks is how many container blocks (JPEG markers before the first
	// scan, PNG chunks, RIFF chunks, ISOBMFF boxes) Find walks before it
	// gives up with ErrTooLarge. Each costs one small read at the ReaderAt.
	MaxBlocks int
}

// DefaultConfig returns 1 MiB of metadata per segment and 100,000 blocks
// (a 100 MB PNG of 8 KiB IDAT chunks has ~12,000).
func DefaultConfig() Config {
	return Config{MaxSegment: 1 << 20, MaxBlocks: 100_000}
}

// Validate reports every problem in c at once.
func (c Config) Validate() error {
	var errs []error
	if c.MaxSegment < 64<<10 {
		errs = append(errs, fmt.Errorf("exifstrip: MaxSegment %d is below 64 KiB, the size of one JPEG APP1 segment", c.MaxSegment))
	}
	if c.MaxSegment > 64<<20 {
		errs = append(errs, fmt.Errorf("exifstrip: MaxSegment %d is above 64 MiB", c.MaxSegment))
	}
	if c.MaxBlocks < 16 {
		errs = append(errs, fmt.Errorf("exifstrip: MaxBlocks %d is below 16", c.MaxBlocks))
	}
	return errors.Join(errs...)
}

// Find returns the patches that remove location (the EXIF GPS IFD, XMP GPS
// properties) and maker notes from the image in r, whose size is size, with
// DefaultConfig. See Config.Find.
func Find(r io.ReaderAt, size int64) ([]Patch, error) {
	return DefaultConfig().Find(r, size)
}

// Find returns the patches that remove location and maker notes from the
// image in r (size bytes), sorted by offset and not overlapping. It returns
// nil, nil when there is nothing to remove or the format is not one it
// handles (JPEG, PNG, WebP, HEIF/AVIF and JPEG XL are). On error it
// returns no patches.
//
// Find reads only the container's block headers and its metadata segments,
// never the pixel data, and never more than c.MaxSegment at a time.
func (c Config) Find(r io.ReaderAt, size int64) ([]Patch, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if size < 12 {
		return nil, nil
	}
	var head [16]byte
	n, err := r.ReadAt(head[:], 0)
	if n < 12 {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("exifstrip: read header: %w", err)
	}
	f := finder{cfg: c, r: r, size: size}
	h := head[:n]
	switch {
	case bytes.HasPrefix(h, []byte{0xFF, 0xD8, 0xFF}):
		err = f.jpeg(0, size, 0)
	case bytes.HasPrefix(h, []byte(pngSignature)):
		err = f.png()
	case string(h[0:4]) == "RIFF" && string(h[8:12]) == "WEBP":
		err = f.webp()
	case string(h[4:8]) == "ftyp":
		err = f.heif()
	case len(h) >= len(jxlSignature) && string(h[:len(jxlSignature)]) == jxlSignature:
		err = f.jxl()
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// The walkers move forward through the file, but HEIF items may be
	// stored in any order, and two items (or two MPF entries) may name the
	// same bytes: the same edit twice is kept once, different edits of the
	// same bytes are an error.
	ps := f.patches
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Off < ps[j].Off })
	out := ps[:0]
	for _, p := range ps {
		if n := len(out); n > 0 && p.Off < out[n-1].End() {
			if p.Off == out[n-1].Off && bytes.Equal(p.Data, out[n-1].Data) {
				continue
			}
			return nil, fmt.Errorf("exifstrip: two metadata blocks share bytes at %d: %w", p.Off, ErrMalformed)
		}
		out = append(out, p)
	}
	return out, nil
}

// finder is one Find call: the input, its limits and the patches so far.
type finder struct {
	cfg     Config
	r       io.ReaderAt
	size    int64
	blocks  int
	patches []Patch
}

// block counts one container block against MaxBlocks.
func (f *finder) block() error {
	f.blocks++
	if f.blocks > f.cfg.MaxBlocks {
		return fmt.Errorf("more than %d blocks: %w", f.cfg.MaxBlocks, ErrTooLarge)
	}
	return nil
}

// readAt reads exactly n bytes at off, which must lie inside the file.
// n is bounded by the caller (a header, or a segment checked against
// MaxSegment).
func (f *finder) readAt(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > f.size || n > f.size-off {
		return nil, fmt.Errorf("%d bytes at %d past the end (%d): %w", n, off, f.size, ErrMalformed)
	}
	b := make([]byte, n)
	if m, err := f.r.ReadAt(b, off); m < len(b) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read %d bytes at %d: %w", n, off, err)
	}
	return b, nil
}

// segment reads n bytes of metadata at off into a region the caller edits.
func (f *finder) segment(off, n int64, what string) (*region, error) {
	if n > f.cfg.MaxSegment {
		return nil, fmt.Errorf("%s of %d bytes at %d (limit %d): %w", what, n, off, f.cfg.MaxSegment, ErrTooLarge)
	}
	b, err := f.readAt(off, n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return newRegion(off, b), nil
}

// commit adds the region's changes to the result.
func (f *finder) commit(g *region) {
	f.patches = append(f.patches, g.patches()...)
}

// region is a copy of some bytes of the file that an editor changes in
// place (buf); patches() reports what differs from the bytes read (orig).
// Diffing rather than recording each write means an edit that happens to
// write what was already there (zeroing zeros) costs no patch, and patches
// of one region never overlap.
type region struct {
	base int64 // file offset of orig[0]
	orig []byte
	buf  []byte
}

func newRegion(base int64, b []byte) *region {
	return &region{base: base, orig: b, buf: bytes.Clone(b)}
}

// patches returns one patch per run of changed bytes.
func (g *region) patches() []Patch {
	var out []Patch
	for i := 0; i < len(g.buf); {
		if g.buf[i] == g.orig[i] {
			i++
			continue
		}
		j := i + 1
		for j < len(g.buf) && g.buf[j] != g.orig[j] {
			j++
		}
		out = append(out, Patch{Off: g.base + int64(i), Data: bytes.Clone(g.buf[i:j])})
		i = j
	}
	return out
}
