package exifstrip

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// APP1 and APP2 segment signatures.
const (
	sigExif         = "Exif\x00" // then a pad byte (0 by the standard) and the TIFF header
	sigXMP          = "http://ns.adobe.com/xap/1.0/\x00"
	sigExtXMP       = "http://ns.adobe.com/xmp/extension/\x00" // then GUID[32], full length, offset
	sigMPF          = "MPF\x00"
	tagMPEntry      = 0xB002
	maxMPFImages    = 64
	extXMPHeaderLen = len(sigExtXMP) + 32 + 4 + 4
)

// extXMPPart is one APP1 segment's share of an extended XMP packet.
type extXMPPart struct {
	g    *region
	at   uint32 // offset of this part in the whole packet
	data []byte // the part, inside g.buf
}

// jpeg walks the JPEG of size bytes at base up to its first scan (SOS),
// where every reader stops looking for metadata, and edits:
//
//   - APP1 Exif: the TIFF structure, see stripTIFF;
//   - APP1 XMP and extended XMP (reassembled by GUID): GPS properties
//     blanked, see blankXMP;
//   - APP2 MPF (phones' multi-picture files: gain maps, depth maps, the
//     second frame of a stereo pair): each further image the MP index names
//     is walked the same way, as it can carry its own EXIF.
//
// depth is 0 for the file itself, 1 for an embedded image (an EXIF
// thumbnail, an MPF image), whose own embedded images are not followed.
func (f *finder) jpeg(base, size int64, depth int) error {
	end := base + size
	pos := base + 2
	var mpf []int64 // MP index: file offsets of the images after the first, and their sizes
	ext := map[string][]extXMPPart{}
	var extOrder []string
walk:
	for pos < end {
		if err := f.block(); err != nil {
			return err
		}
		hdr, err := f.readAt(pos, min(4, end-pos))
		if err != nil {
			return err
		}
		if hdr[0] != 0xFF || len(hdr) < 2 {
			return fmt.Errorf("JPEG: no marker at %d: %w", pos, ErrMalformed)
		}
		switch m := hdr[1]; {
		case m == 0xFF: // fill byte
			pos++
			continue
		case m == 0xDA || m == 0xD9: // SOS, EOI: the metadata is behind us
			break walk
		case m == 0x01 || m == 0xD8 || m >= 0xD0 && m <= 0xD7: // no length
			pos += 2
			continue
		}
		if len(hdr) < 4 || binary.BigEndian.Uint16(hdr[2:]) < 2 {
			return fmt.Errorf("JPEG: bad segment length at %d: %w", pos, ErrMalformed)
		}
		n := int64(binary.BigEndian.Uint16(hdr[2:])) - 2
		data := pos + 4
		if n > end-data {
			return fmt.Errorf("JPEG: segment at %d runs past the end: %w", pos, ErrMalformed)
		}
		pos = data + n
		switch hdr[1] {
		case 0xE1: // APP1
			g, err := f.segment(data, n, "JPEG APP1")
			if err != nil {
				return err
			}
			b := g.buf
			switch {
			case bytes.HasPrefix(b, []byte(sigExif)) && len(b) >= len(sigExif)+1:
				if err := f.stripTIFF(b[len(sigExif)+1:], depth); err != nil {
					return fmt.Errorf("JPEG Exif at %d: %w", data, err)
				}
			case bytes.HasPrefix(b, []byte(sigXMP)):
				if err := blankXMP(b[len(sigXMP):]); err != nil {
					return fmt.Errorf("JPEG at %d: %w", data, err)
				}
			case bytes.HasPrefix(b, []byte(sigExtXMP)):
				if len(b) < extXMPHeaderLen {
					return fmt.Errorf("JPEG extended XMP at %d: short header: %w", data, ErrMalformed)
				}
				guid := string(b[len(sigExtXMP) : len(sigExtXMP)+32])
				if _, ok := ext[guid]; !ok {
					extOrder = append(extOrder, guid)
				}
				ext[guid] = append(ext[guid], extXMPPart{g: g, at: binary.BigEndian.Uint32(b[extXMPHeaderLen-4:]), data: b[extXMPHeaderLen:]})
				continue // committed once the packet is whole
			}
			f.commit(g)
		case 0xE2: // APP2
			if depth > 0 || n < int64(len(sigMPF))+8 {
				continue
			}
			sig, err := f.readAt(data, int64(len(sigMPF)))
			if err != nil {
				return err
			}
			if string(sig) != sigMPF {
				continue
			}
			g, err := f.segment(data, n, "JPEG MPF")
			if err != nil {
				return err
			}
			imgs, err := mpfImages(g.buf[len(sigMPF):], data+int64(len(sigMPF)))
			if err != nil {
				return fmt.Errorf("JPEG MPF at %d: %w", data, err)
			}
			mpf = append(mpf, imgs...)
		}
	}
	for _, guid := range extOrder {
		if err := f.extXMP(ext[guid]); err != nil {
			return err
		}
	}
	for i := 0; i+1 < len(mpf); i += 2 {
		off, n := mpf[i], mpf[i+1]
		// Only images after the first one's headers, inside this file, are
		// walked: anything else would be this image again, or nothing.
		if off < pos || off > end || n > end-off || n < 4 {
			continue
		}
		head, err := f.readAt(off, 3)
		if err != nil {
			return err
		}
		if !bytes.Equal(head, []byte{0xFF, 0xD8, 0xFF}) {
			continue
		}
		if err := f.jpeg(off, n, depth+1); err != nil {
			return fmt.Errorf("MPF image at %d: %w", off, err)
		}
	}
	return nil
}

// extXMP reassembles one extended XMP packet from its parts, blanks its
// GPS properties and commits the parts' segments.
func (f *finder) extXMP(parts []extXMPPart) error {
	full := binary.BigEndian.Uint32(parts[0].g.buf[len(sigExtXMP)+32:])
	if int64(full) > f.cfg.MaxSegment {
		return fmt.Errorf("JPEG extended XMP of %d bytes: %w", full, ErrTooLarge)
	}
	whole := make([]byte, full)
	have := make([]bool, full)
	for _, p := range parts {
		if binary.BigEndian.Uint32(p.g.buf[len(sigExtXMP)+32:]) != full ||
			uint64(p.at)+uint64(len(p.data)) > uint64(full) {
			return fmt.Errorf("JPEG extended XMP part at %d does not fit: %w", p.g.base, ErrMalformed)
		}
		copy(whole[p.at:], p.data)
		for i := range p.data {
			have[int(p.at)+i] = true
		}
	}
	for i, ok := range have {
		if !ok {
			return fmt.Errorf("JPEG extended XMP misses byte %d: %w", i, ErrMalformed)
		}
	}
	if err := blankXMP(whole); err != nil {
		return fmt.Errorf("JPEG extended %w", err)
	}
	for _, p := range parts {
		copy(p.data, whole[p.at:])
		f.commit(p.g)
	}
	return nil
}

// mpfImages reads the MP index in an APP2 MPF body (a TIFF structure whose
// offsets count from its own start, at file offset at) and returns the file
// offset and size of every image but the first, as pairs.
func mpfImages(b []byte, at int64) ([]int64, error) {
	t, err := newTIFF(b)
	if err != nil {
		return nil, err
	}
	d, err := t.readIFD(t.bo.Uint32(b[4:]), false)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, e := range d.entries {
		if e.tag != tagMPEntry {
			continue
		}
		lo, hi, ok := t.data(e)
		if !ok || (hi-lo)%16 != 0 {
			return nil, fmt.Errorf("MP entries: %w", ErrMalformed)
		}
		if (hi-lo)/16 > maxMPFImages {
			return nil, fmt.Errorf("%d MP entries: %w", (hi-lo)/16, ErrTooLarge)
		}
		for p := lo; p < hi; p += 16 {
			size, off := t.bo.Uint32(b[p+4:]), t.bo.Uint32(b[p+8:])
			if off != 0 { // 0 is the first image, this one
				out = append(out, at+int64(off), int64(size))
			}
		}
	}
	return out, nil
}
