package exifstrip

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// heifBrands are the ftyp brands of still-image HEIF files (HEIC, AVIF and
// their image-collection forms). MP4 and QuickTime video also start with
// ftyp; their location (moov/udta ©xyz, mdta keys) is not handled, and Find
// leaves them alone.
var heifBrands = map[string]bool{
	"mif1": true, "mif2": true, "heic": true, "heix": true, "heim": true,
	"heis": true, "avif": true, "avis": true, "msf1": true,
}

const (
	maxHEIFItems   = 4096 // items in iinf/iloc; a 48-tile iPhone photo has ~60
	maxHEIFExtents = 64   // extents of one Exif or XMP item
)

// heifItem is what iinf and iloc say about one item.
type heifItem struct {
	typ, contentType string
	method           uint16 // iloc construction_method: 0 file, 1 idat
	extents          [][2]uint64
	located          bool
}

// heif finds the top-level meta box of a HEIF/AVIF file and edits its Exif
// items (a 4-byte offset to the TIFF header, then the TIFF structure, see
// stripTIFF) and its XMP items (mime items of type application/rdf+xml,
// see blankXMP), wherever iloc puts them: in the file, or in the meta's
// idat box. An item stored in several extents is edited as one.
func (f *finder) heif() error {
	var meta []byte
	var metaOff int64
	for pos := int64(0); pos < f.size; {
		if err := f.block(); err != nil {
			return err
		}
		typ, hdr, n, err := f.boxHeader(pos)
		if err != nil {
			return err
		}
		switch typ {
		case "ftyp":
			if pos != 0 || n-hdr > 1024 || n-hdr < 8 {
				return nil
			}
			b, err := f.readAt(pos+hdr, n-hdr)
			if err != nil {
				return err
			}
			still := heifBrands[string(b[:4])]
			for i := 8; i+4 <= len(b); i += 4 {
				still = still || heifBrands[string(b[i:i+4])]
			}
			if !still {
				return nil
			}
		case "meta":
			g, err := f.segment(pos+hdr, n-hdr, "HEIF meta")
			if err != nil {
				return err
			}
			meta, metaOff = g.orig, pos+hdr
		}
		if meta != nil {
			break
		}
		pos += n
	}
	if len(meta) < 4 {
		return nil
	}
	items := map[uint32]*heifItem{}
	item := func(id uint32) (*heifItem, error) {
		if it := items[id]; it != nil {
			return it, nil
		}
		if len(items) == maxHEIFItems {
			return nil, fmt.Errorf("HEIF: more than %d items: %w", maxHEIFItems, ErrTooLarge)
		}
		items[id] = &heifItem{}
		return items[id], nil
	}
	var idat [2]int64 // file range of the idat payload
	err := eachBox(meta[4:], func(typ string, body []byte, at int) error {
		switch typ {
		case "iinf":
			return parseIINF(body, item)
		case "iloc":
			return parseILOC(body, item)
		case "idat":
			idat = [2]int64{metaOff + 4 + int64(at), metaOff + 4 + int64(at) + int64(len(body))}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("HEIF meta: %w", err)
	}
	for id, it := range items {
		isXMP := it.typ == "mime" && it.contentType == "application/rdf+xml"
		if it.typ != "Exif" && !isXMP || !it.located {
			continue
		}
		if err := f.heifItem(it, isXMP, idat); err != nil {
			return fmt.Errorf("HEIF item %d (%s): %w", id, it.typ, err)
		}
	}
	return nil
}

// heifItem reads the extents of one Exif or XMP item, edits them as one
// buffer and commits each extent's region.
func (f *finder) heifItem(it *heifItem, isXMP bool, idat [2]int64) error {
	var regions []*region
	var whole []byte
	for _, e := range it.extents {
		off, n := int64(e[0]), int64(e[1])
		if e[0] > uint64(f.size) || e[1] > uint64(f.size) {
			return fmt.Errorf("extent past the end: %w", ErrMalformed)
		}
		switch it.method {
		case 0:
			if n == 0 { // to the end of the file
				n = f.size - off
			}
		case 1:
			if n == 0 || off > idat[1]-idat[0] || n > idat[1]-idat[0]-off {
				return fmt.Errorf("extent outside idat: %w", ErrMalformed)
			}
			off += idat[0]
		default:
			return fmt.Errorf("construction method %d: %w", it.method, ErrUnsupported)
		}
		if int64(len(whole))+n > f.cfg.MaxSegment {
			return fmt.Errorf("item over %d bytes: %w", f.cfg.MaxSegment, ErrTooLarge)
		}
		g, err := f.segment(off, n, "HEIF extent")
		if err != nil {
			return err
		}
		regions = append(regions, g)
		whole = append(whole, g.buf...)
	}
	if isXMP {
		if err := blankXMP(whole); err != nil {
			return err
		}
	} else {
		if len(whole) < 4 {
			return fmt.Errorf("item of %d bytes: %w", len(whole), ErrMalformed)
		}
		skip := uint64(binary.BigEndian.Uint32(whole))
		if skip > uint64(len(whole)-4) {
			return fmt.Errorf("TIFF header offset %d: %w", skip, ErrMalformed)
		}
		if err := f.stripTIFF(whole[4+skip:], 0); err != nil {
			return err
		}
	}
	for _, g := range regions {
		whole = whole[copy(g.buf, whole):]
		f.commit(g)
	}
	return nil
}

// boxHeader reads the header of the box at pos: its type, header length
// and total size (checked to lie inside the file).
func (f *finder) boxHeader(pos int64) (typ string, hdr, size int64, err error) {
	h, err := f.readAt(pos, min(16, f.size-pos))
	if err != nil {
		return "", 0, 0, err
	}
	if len(h) < 8 {
		return "", 0, 0, fmt.Errorf("HEIF: box header at %d cut off: %w", pos, ErrMalformed)
	}
	typ, hdr, size = string(h[4:8]), 8, int64(binary.BigEndian.Uint32(h))
	switch size {
	case 0: // to the end of the file
		size = f.size - pos
	case 1:
		if len(h) < 16 {
			return "", 0, 0, fmt.Errorf("HEIF: box header at %d cut off: %w", pos, ErrMalformed)
		}
		hdr = 16
		if u := binary.BigEndian.Uint64(h[8:]); u <= uint64(f.size-pos) {
			size = int64(u)
		} else {
			size = -1
		}
	}
	if size < hdr || size > f.size-pos {
		return "", 0, 0, fmt.Errorf("HEIF: %q box at %d runs past the end: %w", typ, pos, ErrMalformed)
	}
	return typ, hdr, size, nil
}

// eachBox calls fn for each box in b with its type, body and the body's
// offset in b.
func eachBox(b []byte, fn func(typ string, body []byte, at int) error) error {
	for p := 0; p < len(b); {
		if len(b)-p < 8 {
			return fmt.Errorf("box header at %d cut off: %w", p, ErrMalformed)
		}
		n, hdr := uint64(binary.BigEndian.Uint32(b[p:])), 8
		switch n {
		case 0:
			n = uint64(len(b) - p)
		case 1:
			if len(b)-p < 16 {
				return fmt.Errorf("box header at %d cut off: %w", p, ErrMalformed)
			}
			n, hdr = binary.BigEndian.Uint64(b[p+8:]), 16
		}
		if n < uint64(hdr) || n > uint64(len(b)-p) {
			return fmt.Errorf("box at %d runs past its parent: %w", p, ErrMalformed)
		}
		if err := fn(string(b[p+4:p+8]), b[p+hdr:p+int(n)], p+hdr); err != nil {
			return err
		}
		p += int(n)
	}
	return nil
}

// rd reads big-endian fields from a box body; a read past the end sets bad.
type rd struct {
	b   []byte
	bad bool
}

func (r *rd) n(size int) uint64 {
	if size > len(r.b) {
		r.bad, r.b = true, nil
		return 0
	}
	var v uint64
	for _, c := range r.b[:size] {
		v = v<<8 | uint64(c)
	}
	r.b = r.b[size:]
	return v
}

func (r *rd) cstring() string {
	i := bytes.IndexByte(r.b, 0)
	if i < 0 {
		r.bad = true
		s := string(r.b)
		r.b = nil
		return s
	}
	s := string(r.b[:i])
	r.b = r.b[i+1:]
	return s
}

// parseIINF reads item types (and a mime item's content type) from iinf.
func parseIINF(body []byte, item func(uint32) (*heifItem, error)) error {
	r := &rd{b: body}
	version := r.n(1)
	r.n(3)
	if version == 0 {
		r.n(2)
	} else {
		r.n(4)
	}
	if r.bad {
		return fmt.Errorf("iinf: %w", ErrMalformed)
	}
	return eachBox(r.b, func(typ string, b []byte, _ int) error {
		if typ != "infe" {
			return nil
		}
		r := &rd{b: b}
		v := r.n(1)
		r.n(3)
		if v < 2 {
			return nil // no item_type before version 2
		}
		id := uint32(r.n(2))
		if v >= 3 {
			id = id<<16 | uint32(r.n(2))
		}
		r.n(2) // item_protection_index
		if r.bad || len(r.b) < 4 {
			return fmt.Errorf("infe: %w", ErrMalformed)
		}
		itemType := string(r.b[:4])
		r.n(4)
		var ct string
		if itemType == "mime" {
			r.cstring() // item_name
			if ct = r.cstring(); r.bad {
				return fmt.Errorf("infe: mime item %d: %w", id, ErrMalformed)
			}
		}
		it, err := item(id)
		if err != nil {
			return err
		}
		it.typ, it.contentType = itemType, ct
		return nil
	})
}

// parseILOC reads item locations from iloc (ISO/IEC 14496-12 8.11.3).
func parseILOC(body []byte, item func(uint32) (*heifItem, error)) error {
	r := &rd{b: body}
	version := r.n(1)
	r.n(3)
	sizes := r.n(2)
	offSize, lenSize := int(sizes>>12), int(sizes>>8&15)
	baseSize, idxSize := int(sizes>>4&15), int(sizes&15)
	if version == 0 {
		idxSize = 0
	}
	for _, s := range []int{offSize, lenSize, baseSize, idxSize} {
		if s != 0 && s != 4 && s != 8 {
			return fmt.Errorf("iloc field size %d: %w", s, ErrMalformed)
		}
	}
	if version > 2 {
		return fmt.Errorf("iloc version %d: %w", version, ErrUnsupported)
	}
	var count uint64
	if version < 2 {
		count = r.n(2)
	} else {
		count = r.n(4)
	}
	if count > maxHEIFItems {
		return fmt.Errorf("iloc: %d items: %w", count, ErrTooLarge)
	}
	for i := uint64(0); i < count && !r.bad; i++ {
		var id uint32
		if version < 2 {
			id = uint32(r.n(2))
		} else {
			id = uint32(r.n(4))
		}
		var method uint16
		if version > 0 {
			method = uint16(r.n(2) & 15)
		}
		r.n(2) // data_reference_index
		base := r.n(baseSize)
		n := r.n(2)
		if n > maxHEIFExtents {
			return fmt.Errorf("iloc: item %d has %d extents: %w", id, n, ErrTooLarge)
		}
		it, err := item(id)
		if err != nil {
			return err
		}
		it.method, it.located, it.extents = method, true, it.extents[:0]
		for k := uint64(0); k < n; k++ {
			r.n(idxSize)
			off, l := r.n(offSize), r.n(lenSize)
			if off > 1<<62 || base > 1<<62 {
				return fmt.Errorf("iloc: offset overflows: %w", ErrMalformed)
			}
			it.extents = append(it.extents, [2]uint64{base + off, l})
		}
	}
	if r.bad {
		return fmt.Errorf("iloc cut off: %w", ErrMalformed)
	}
	return nil
}
