package exifstrip

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// EXIF tags this file acts on.
const (
	tagExifIFD      = 0x8769 // pointer to the Exif sub-IFD
	tagGPSIFD       = 0x8825 // pointer to the GPS IFD: removed
	tagInteropIFD   = 0xA005 // pointer to the interoperability IFD
	tagMakerNote    = 0x927C // maker note: removed
	tagDNGPrivate   = 0xC634 // DNGPrivateData, Adobe's copy of the maker note: removed
	tagThumbOffset  = 0x0201 // JPEGInterchangeFormat: the IFD1 thumbnail
	tagThumbLength  = 0x0202 // JPEGInterchangeFormatLength
	maxIFDs         = 16     // IFD0, IFD1, Exif, Interop and room for oddities
	maxThumbnailRec = 1      // a thumbnail's own EXIF is read; its thumbnail's is not
)

// typeSize is the size in bytes of one value of each TIFF field type (1..13:
// BYTE ASCII SHORT LONG RATIONAL SBYTE UNDEFINED SSHORT SLONG SRATIONAL
// FLOAT DOUBLE IFD). Unknown types have size 0: their values are not located.
var typeSize = [...]uint64{0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4}

// tiff reads a TIFF structure (the body of an EXIF block) held in memory.
type tiff struct {
	b  []byte
	bo binary.ByteOrder
}

// entry is one 12-byte IFD entry.
type entry struct {
	pos   int // offset of the entry in b
	tag   uint16
	typ   uint16
	count uint32
	value uint32 // the value/offset field as a 32-bit integer
}

// ifd is one image file directory.
type ifd struct {
	off     int
	end     int // off + 2 + 12n + 4, or less when the next pointer is cut off
	entries []entry
	next    uint32
}

func newTIFF(b []byte) (*tiff, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("TIFF header of %d bytes: %w", len(b), ErrMalformed)
	}
	t := &tiff{b: b}
	switch string(b[:2]) {
	case "II":
		t.bo = binary.LittleEndian
	case "MM":
		t.bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("TIFF byte order %q: %w", b[:2], ErrMalformed)
	}
	if t.bo.Uint16(b[2:]) != 42 {
		return nil, fmt.Errorf("TIFF magic %d: %w", t.bo.Uint16(b[2:]), ErrMalformed)
	}
	return t, nil
}

// inBounds reports whether off and the n bytes after it lie in b; off and n
// come from the file, hence 64-bit arithmetic.
func (t *tiff) inBounds(off, n uint64) bool {
	return off <= uint64(len(t.b)) && n <= uint64(len(t.b))-off
}

// readIFD reads the IFD at off. With lenient, a table cut off by the end of
// the block yields the entries that fit; otherwise it is ErrMalformed.
func (t *tiff) readIFD(off uint32, lenient bool) (ifd, error) {
	if off < 8 || !t.inBounds(uint64(off), 2) {
		return ifd{}, fmt.Errorf("IFD at %d outside the %d-byte block: %w", off, len(t.b), ErrMalformed)
	}
	d := ifd{off: int(off)}
	n := uint64(t.bo.Uint16(t.b[off:]))
	if !t.inBounds(uint64(off)+2, 12*n) {
		if !lenient {
			return ifd{}, fmt.Errorf("IFD at %d: %d entries do not fit: %w", off, n, ErrMalformed)
		}
		n = (uint64(len(t.b)) - uint64(off) - 2) / 12
	}
	d.entries = make([]entry, n)
	for i := range d.entries {
		p := d.off + 2 + 12*i
		d.entries[i] = entry{
			pos:   p,
			tag:   t.bo.Uint16(t.b[p:]),
			typ:   t.bo.Uint16(t.b[p+2:]),
			count: t.bo.Uint32(t.b[p+4:]),
			value: t.bo.Uint32(t.b[p+8:]),
		}
	}
	d.end = d.off + 2 + 12*int(n)
	if t.inBounds(uint64(d.end), 4) {
		d.next = t.bo.Uint32(t.b[d.end:])
		d.end += 4
	}
	return d, nil
}

// data locates the value of e: inside the entry when it fits in 4 bytes,
// else at the offset the entry gives. ok is false for an unknown type or a
// value outside the block.
func (t *tiff) data(e entry) (lo, hi int, ok bool) {
	if int(e.typ) >= len(typeSize) || typeSize[e.typ] == 0 {
		return 0, 0, false
	}
	n := typeSize[e.typ] * uint64(e.count) // < 2^36: no overflow
	if n <= 4 {
		return e.pos + 8, e.pos + 8 + int(n), true
	}
	if !t.inBounds(uint64(e.value), n) {
		return 0, 0, false
	}
	return int(e.value), int(e.value) + int(n), true
}

// pointer returns the offset an IFD-pointer entry holds.
func (e entry) pointer() (uint32, bool) {
	return e.value, e.count == 1 && (e.typ == 4 || e.typ == 13)
}

// removed reports whether stripTIFF drops the entry.
func removed(tag uint16) bool {
	return tag == tagGPSIFD || tag == tagMakerNote || tag == tagDNGPrivate
}

// stripTIFF removes location and maker notes from the TIFF structure in b,
// in place, without moving anything:
//
//   - every IFD reachable as the IFD0 chain, the Exif IFD or the Interop IFD
//     loses its GPS pointer (0x8825), MakerNote (0x927C) and DNGPrivateData
//     (0xC634) entries: the entries after them move up, the count drops and
//     the next-IFD pointer follows the last entry; the freed bytes are zeroed.
//     The directory stays a valid, sorted IFD that readers walk as before.
//   - the GPS IFD table and its values, and the maker note's bytes, are
//     zeroed, except bytes a kept entry also claims (hostile files can make
//     two entries share bytes; the kept one wins, and the pointer is gone).
//   - a JPEG thumbnail (IFD1's JPEGInterchangeFormat) gets the same JPEG
//     treatment, once: some cameras put EXIF in the thumbnail too.
//
// Anything it cannot read to the end that might hold a pointer (IFD0, a
// sub-IFD table cut off) is ErrMalformed, and b is left as it was.
func (f *finder) stripTIFF(b []byte, depth int) error {
	t, err := newTIFF(b)
	if err != nil {
		return err
	}
	// Ranges are marked in difference arrays (+1 at the start, -1 at the
	// end, summed at the end), so that thousands of entries claiming the
	// same megabyte cost one pass over it, not one each.
	var (
		kept      []ifd
		visited   = map[uint32]bool{}
		keep      = make([]int32, len(b)+1) // bytes a kept structure or value owns
		zero      = make([]int32, len(b)+1) // bytes to clear, unless kept
		thumbs    [][2]int
		gps       []uint32
		chainNext = map[uint32]bool{} // offsets reached as a next pointer of the IFD0 chain
	)
	mark := func(m []int32, lo, hi int) {
		m[lo]++
		m[hi]--
	}
	mark(keep, 0, 8)

	work := []uint32{t.bo.Uint32(b[4:])}
	chainNext[work[0]] = true
	for first := true; len(work) > 0; first = false {
		off := work[0]
		work = work[1:]
		if visited[off] {
			continue // a loop, or two pointers to one IFD
		}
		if len(visited) == maxIFDs {
			return fmt.Errorf("more than %d IFDs: %w", maxIFDs, ErrMalformed)
		}
		if !first && (off < 8 || !t.inBounds(uint64(off), 2)) {
			// A pointer to nowhere: no reader finds anything there.
			continue
		}
		d, err := t.readIFD(off, false)
		if err != nil {
			return err
		}
		visited[off] = true
		for _, k := range kept {
			if d.off < k.end && k.off < d.end {
				return fmt.Errorf("IFD at %d overlaps the one at %d: %w", d.off, k.off, ErrMalformed)
			}
		}
		mark(keep, d.off, d.end)
		kept = append(kept, d)

		var thumbOff, thumbLen uint32
		for _, e := range d.entries {
			lo, hi, ok := t.data(e)
			switch e.tag {
			case tagExifIFD, tagInteropIFD:
				if p, ok := e.pointer(); ok {
					work = append(work, p)
				}
			case tagGPSIFD:
				if p, ok := e.pointer(); ok {
					gps = append(gps, p)
					for _, r := range t.gpsRanges(p) {
						mark(zero, r[0], r[1])
					}
				}
				continue
			case tagMakerNote, tagDNGPrivate:
				if ok {
					mark(zero, lo, hi)
				}
				continue
			case tagThumbOffset:
				thumbOff = e.value
			case tagThumbLength:
				thumbLen = e.value
			}
			if ok {
				mark(keep, lo, hi)
			}
		}
		if thumbLen > 0 && t.inBounds(uint64(thumbOff), uint64(thumbLen)) {
			mark(keep, int(thumbOff), int(thumbOff+thumbLen))
			thumbs = append(thumbs, [2]int{int(thumbOff), int(thumbOff + thumbLen)})
		}
		if chainNext[off] && d.next != 0 {
			chainNext[d.next] = true
			work = append(work, d.next)
		}
	}

	for _, p := range gps {
		if visited[p] {
			// The GPS pointer names an IFD that is also IFD0, IFD1 or the
			// Exif IFD: its GPS entries would stay readable there.
			return fmt.Errorf("GPS IFD at %d is also another IFD: %w", p, ErrMalformed)
		}
	}
	for _, th := range thumbs {
		for _, k := range kept {
			if th[0] < k.end && k.off < th[1] {
				// Editing the thumbnail's EXIF would edit this IFD.
				return fmt.Errorf("thumbnail at %d overlaps the IFD at %d: %w", th[0], k.off, ErrMalformed)
			}
		}
	}

	// Edits from the thumbnails are worked out before b changes.
	var thumbPatches []Patch
	if depth < maxThumbnailRec {
		for _, th := range thumbs {
			img := b[th[0]:th[1]]
			if !bytes.HasPrefix(img, []byte{0xFF, 0xD8, 0xFF}) {
				continue
			}
			sub := finder{cfg: f.cfg, r: bytes.NewReader(img), size: int64(len(img)), blocks: f.blocks}
			if err := sub.jpeg(0, sub.size, depth+1); err != nil {
				return fmt.Errorf("thumbnail at %d: %w", th[0], err)
			}
			f.blocks = sub.blocks
			for _, p := range sub.patches {
				thumbPatches = append(thumbPatches, Patch{Off: p.Off + int64(th[0]), Data: p.Data})
			}
		}
	}

	// From here on b changes. Snapshot the tables first.
	orig := make([][]byte, len(kept))
	for i, d := range kept {
		orig[i] = bytes.Clone(b[d.off:d.end])
	}
	var k, z int32
	for i := range b {
		k, z = k+keep[i], z+zero[i]
		if z > 0 && k == 0 {
			b[i] = 0
		}
	}
	for i, d := range kept {
		t.rewriteIFD(d, orig[i])
	}
	for _, p := range thumbPatches {
		copy(b[p.Off:], p.Data)
	}
	return nil
}

// gpsRanges returns the GPS IFD's table and the out-of-line values of its
// entries, as far as they lie in the block.
func (t *tiff) gpsRanges(off uint32) [][2]int {
	if off < 8 || !t.inBounds(uint64(off), 2) {
		return nil
	}
	d, err := t.readIFD(off, true)
	if err != nil {
		return nil
	}
	out := [][2]int{{d.off, d.end}}
	for _, e := range d.entries {
		if lo, hi, ok := t.data(e); ok {
			out = append(out, [2]int{lo, hi})
		}
	}
	return out
}

// rewriteIFD writes d without its removed entries over its own table (orig
// is the table as it was read); nothing is written when none is removed.
func (t *tiff) rewriteIFD(d ifd, orig []byte) {
	n := 0
	for _, e := range d.entries {
		if !removed(e.tag) {
			n++
		}
	}
	if n == len(d.entries) {
		return
	}
	w := t.b[d.off:d.end]
	clear(w)
	t.bo.PutUint16(w, uint16(n))
	p := 2
	for i, e := range d.entries {
		if removed(e.tag) {
			continue
		}
		copy(w[p:p+12], orig[2+12*i:])
		p += 12
	}
	t.bo.PutUint32(w[p:], d.next)
}
