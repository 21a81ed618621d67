package exifstrip

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// webp walks the RIFF chunks of a WebP file and edits its "EXIF" chunk (the
// TIFF structure, see stripTIFF; libvips and some others prefix it with
// "Exif\0\0", which is skipped) and its "XMP " chunk (see blankXMP). RIFF
// chunks carry no checksum. The VP8X flags still announce EXIF and XMP,
// which are still there.
func (f *finder) webp() error {
	hdr, err := f.readAt(0, 12)
	if err != nil {
		return err
	}
	end := min(f.size, 8+int64(binary.LittleEndian.Uint32(hdr[4:])))
	for pos := int64(12); pos+8 <= end; {
		if err := f.block(); err != nil {
			return err
		}
		h, err := f.readAt(pos, 8)
		if err != nil {
			return err
		}
		typ := string(h[:4])
		n := int64(binary.LittleEndian.Uint32(h[4:]))
		data := pos + 8
		if n > end-data {
			return fmt.Errorf("WebP: %q chunk at %d runs past the end: %w", typ, pos, ErrMalformed)
		}
		switch typ {
		case "EXIF":
			g, err := f.segment(data, n, "WebP EXIF")
			if err != nil {
				return err
			}
			b := g.buf
			if bytes.HasPrefix(b, []byte(sigExif)) && len(b) > len(sigExif) {
				b = b[len(sigExif)+1:]
			}
			if err := f.stripTIFF(b, 0); err != nil {
				return fmt.Errorf("WebP EXIF at %d: %w", pos, err)
			}
			f.commit(g)
		case "XMP ":
			g, err := f.segment(data, n, "WebP XMP")
			if err != nil {
				return err
			}
			if err := blankXMP(g.buf); err != nil {
				return fmt.Errorf("WebP at %d: %w", pos, err)
			}
			f.commit(g)
		}
		pos = data + n + n&1
	}
	return nil
}
