package exifstrip

import (
	"encoding/binary"
	"fmt"
)

// jxlSignature starts a JPEG XL file in its ISOBMFF container. A bare
// codestream (FF 0A) has no room for metadata and is not looked at.
const jxlSignature = "\x00\x00\x00\x0cJXL \r\n\x87\n"

// jxl walks the top-level boxes of a JPEG XL container and edits its "Exif"
// box (a 4-byte offset to the TIFF header, then the TIFF structure, as in
// HEIF) and its "xml " box (XMP). A Brotli-compressed ("brob") Exif or XMP
// box cannot be edited in place: ErrUnsupported.
func (f *finder) jxl() error {
	for pos := int64(0); pos < f.size; {
		if err := f.block(); err != nil {
			return err
		}
		typ, hdr, n, err := f.boxHeader(pos)
		if err != nil {
			return err
		}
		body := pos + hdr
		switch typ {
		case "Exif":
			g, err := f.segment(body, n-hdr, "JPEG XL Exif")
			if err != nil {
				return err
			}
			if len(g.buf) < 4 || uint64(binary.BigEndian.Uint32(g.buf)) > uint64(len(g.buf)-4) {
				return fmt.Errorf("JPEG XL Exif box at %d: bad header offset: %w", pos, ErrMalformed)
			}
			if err := f.stripTIFF(g.buf[4+binary.BigEndian.Uint32(g.buf):], 0); err != nil {
				return fmt.Errorf("JPEG XL Exif box at %d: %w", pos, err)
			}
			f.commit(g)
		case "xml ":
			g, err := f.segment(body, n-hdr, "JPEG XL XMP")
			if err != nil {
				return err
			}
			if err := blankXMP(g.buf); err != nil {
				return fmt.Errorf("JPEG XL at %d: %w", pos, err)
			}
			f.commit(g)
		case "brob":
			inner, err := f.readAt(body, min(4, n-hdr))
			if err != nil {
				return err
			}
			if s := string(inner); s == "Exif" || s == "xml " {
				return fmt.Errorf("JPEG XL: Brotli-compressed %q box at %d: %w", s, pos, ErrUnsupported)
			}
		}
		pos += n
	}
	return nil
}
