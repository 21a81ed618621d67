package exifstrip

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"testing"
)

// ---- A TIFF builder for crafted EXIF blocks ----

// bEntry is an IFD entry to build: a value (raw bytes in the block's byte
// order, see the helpers below), or ptr, the name of an IFD it points to,
// or blob, bytes stored out of line whose offset is the value (a thumbnail:
// typ LONG, count 1).
type bEntry struct {
	tag, typ uint16
	count    uint32
	val      []byte
	ptr      string
	blob     []byte
}

type bIFD struct {
	name    string
	entries []bEntry
	next    string // name of the next IFD in the chain
}

// built is a TIFF block and where the builder put things in it.
type built struct {
	b    []byte
	ifd  map[string][2]int            // name -> table range
	vals map[string]map[uint16][2]int // name -> tag -> out-of-line value range
}

// buildTIFF lays out the IFDs in order after the header, each followed by
// its out-of-line values, then fills in the pointers.
// order is a byte order that can also append.
type order interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

func buildTIFF(bo order, ifds ...bIFD) built {
	out := built{ifd: map[string][2]int{}, vals: map[string]map[uint16][2]int{}}
	var b []byte
	if bo == binary.LittleEndian {
		b = []byte("II*\x00\x08\x00\x00\x00")
	} else {
		b = []byte("MM\x00*\x00\x00\x00\x08")
	}
	type fix struct {
		at   int
		name string
	}
	var fixes []fix
	for _, d := range ifds {
		off := len(b)
		tableLen := 2 + 12*len(d.entries) + 4
		data := off + tableLen
		b = append(b, make([]byte, tableLen)...)
		bo.PutUint16(b[off:], uint16(len(d.entries)))
		out.vals[d.name] = map[uint16][2]int{}
		for i, e := range d.entries {
			p := off + 2 + 12*i
			bo.PutUint16(b[p:], e.tag)
			bo.PutUint16(b[p+2:], e.typ)
			bo.PutUint32(b[p+4:], e.count)
			switch {
			case e.ptr != "":
				fixes = append(fixes, fix{p + 8, e.ptr})
			case e.blob != nil:
				bo.PutUint32(b[p+8:], uint32(data))
				b = append(b, e.blob...)
				out.vals[d.name][e.tag] = [2]int{data, data + len(e.blob)}
				data += len(e.blob)
			case len(e.val) <= 4:
				copy(b[p+8:], e.val)
			default:
				bo.PutUint32(b[p+8:], uint32(data))
				b = append(b, e.val...)
				out.vals[d.name][e.tag] = [2]int{data, data + len(e.val)}
				data += len(e.val)
				if len(e.val)%2 == 1 {
					b = append(b, 0)
					data++
				}
			}
		}
		if d.next != "" {
			fixes = append(fixes, fix{off + 2 + 12*len(d.entries), d.next})
		}
		out.ifd[d.name] = [2]int{off, off + tableLen}
	}
	for _, f := range fixes {
		bo.PutUint32(b[f.at:], uint32(out.ifd[f.name][0]))
	}
	out.b = b
	return out
}

func short(bo order, v uint16) []byte { return bo.AppendUint16(nil, v) }

func asciiEntry(tag uint16, s string) bEntry {
	return bEntry{tag: tag, typ: 2, count: uint32(len(s) + 1), val: append([]byte(s), 0)}
}

func rationals(bo order, v ...uint32) []byte {
	var b []byte
	for _, x := range v {
		b = bo.AppendUint32(b, x)
	}
	return b
}

// photoTIFF is a typical camera EXIF: IFD0 (Make, Orientation 6, Exif and
// GPS pointers) -> IFD1; Exif IFD (DateTimeOriginal, MakerNote); GPS IFD
// (version, lat ref, lat, lon ref, lon).
func photoTIFF(bo order) built {
	return buildTIFF(bo,
		bIFD{name: "IFD0", next: "IFD1", entries: []bEntry{
			asciiEntry(0x010F, "Canon"),
			{tag: 0x0112, typ: 3, count: 1, val: short(bo, 6)},
			{tag: tagExifIFD, typ: 4, count: 1, ptr: "Exif"},
			{tag: tagGPSIFD, typ: 4, count: 1, ptr: "GPS"},
		}},
		bIFD{name: "IFD1", entries: []bEntry{
			{tag: 0x0103, typ: 3, count: 1, val: short(bo, 6)},
		}},
		bIFD{name: "Exif", entries: []bEntry{
			asciiEntry(0x9003, "2021:06:12 10:30:00"),
			{tag: tagMakerNote, typ: 7, count: 24, val: []byte("Canon\x00makernote-secret!")},
			{tag: 0xA002, typ: 4, count: 1, val: bo.AppendUint32(nil, 640)},
		}},
		bIFD{name: "GPS", entries: []bEntry{
			{tag: 0, typ: 1, count: 4, val: []byte{2, 3, 0, 0}},
			asciiEntry(1, "S"),
			{tag: 2, typ: 5, count: 3, val: rationals(bo, 15, 1, 50, 1, 799, 100)},
			asciiEntry(3, "W"),
			{tag: 4, typ: 5, count: 3, val: rationals(bo, 48, 1, 0, 1, 5685, 100)},
		}},
	)
}

// ---- An EXIF reader for the tests, written apart from the package's ----

// exifDump is what dumpEXIF read: per IFD name, each tag's value bytes,
// the table's range and the out-of-line values' ranges.
type exifDump struct {
	tags  map[string]map[uint16][]byte
	table map[string][2]int
	vals  map[string]map[uint16][2]int
}

// dumpEXIF reads a TIFF block: IFD0 and the chain after it (IFD1, ...),
// the Exif, GPS and Interop IFDs. It insists on sorted tags.
func dumpEXIF(b []byte) (exifDump, error) {
	d := exifDump{tags: map[string]map[uint16][]byte{}, table: map[string][2]int{}, vals: map[string]map[uint16][2]int{}}
	if len(b) < 8 {
		return d, fmt.Errorf("short")
	}
	var bo binary.ByteOrder = binary.BigEndian
	if string(b[:2]) == "II" {
		bo = binary.LittleEndian
	}
	sizes := map[uint16]int{1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
	seen := map[uint32]bool{}
	var read func(name string, off uint32, chain int) error
	read = func(name string, off uint32, chain int) error {
		if _, ok := d.tags[name]; ok || off == 0 || seen[off] {
			return nil
		}
		seen[off] = true
		if int(off)+2 > len(b) {
			return fmt.Errorf("%s at %d out of bounds", name, off)
		}
		n := int(bo.Uint16(b[off:]))
		if int(off)+2+12*n > len(b) {
			return fmt.Errorf("%s: %d entries out of bounds", name, n)
		}
		tags := map[uint16][]byte{}
		d.tags[name], d.vals[name] = tags, map[uint16][2]int{}
		d.table[name] = [2]int{int(off), int(off) + 2 + 12*n + 4}
		prev := -1
		for i := 0; i < n; i++ {
			p := int(off) + 2 + 12*i
			tag, typ, count := bo.Uint16(b[p:]), bo.Uint16(b[p+2:]), int(bo.Uint32(b[p+4:]))
			if int(tag) <= prev {
				return fmt.Errorf("%s: tag %#x out of order", name, tag)
			}
			prev = int(tag)
			size := sizes[typ] * count
			v := b[p+8 : p+8+min(4, size)]
			if size > 4 {
				o := int(bo.Uint32(b[p+8:]))
				if o+size > len(b) {
					return fmt.Errorf("%s: tag %#x value out of bounds", name, tag)
				}
				v = b[o : o+size]
				d.vals[name][tag] = [2]int{o, o + size}
			}
			tags[tag] = v
			sub := map[uint16]string{tagExifIFD: "Exif", tagGPSIFD: "GPS", tagInteropIFD: "Interop"}[tag]
			if sub != "" {
				if err := read(sub, bo.Uint32(b[p+8:]), -1); err != nil {
					return err
				}
			}
		}
		if chain >= 0 && int(off)+2+12*n+4 <= len(b) {
			if next := bo.Uint32(b[int(off)+2+12*n:]); next != 0 {
				return read(fmt.Sprintf("IFD%d", chain+1), next, chain+1)
			}
		}
		return nil
	}
	return d, read("IFD0", bo.Uint32(b[4:]), 0)
}

// ---- Containers around crafted metadata ----

// tinyImage is an 8x8 gradient.
func tinyImage() image.Image {
	m := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			m.Set(x, y, color.RGBA{uint8(x * 32), uint8(y * 32), 128, 255})
		}
	}
	return m
}

// jpegWith is a real 8x8 JPEG with the given segments (marker, body) right
// after SOI.
func jpegWith(t testing.TB, segs ...[]byte) []byte {
	var img bytes.Buffer
	if err := jpeg.Encode(&img, tinyImage(), nil); err != nil {
		t.Fatal(err)
	}
	out := []byte{0xFF, 0xD8}
	for _, s := range segs {
		out = append(out, 0xFF, s[0])
		out = binary.BigEndian.AppendUint16(out, uint16(len(s)-1+2))
		out = append(out, s[1:]...)
	}
	return append(out, img.Bytes()[2:]...)
}

func app1(body ...string) []byte {
	b := []byte{0xE1}
	for _, s := range body {
		b = append(b, s...)
	}
	return b
}

// pngChunk is one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

// pngWith is a real 8x8 PNG with chunks inserted after IHDR (before) and
// before IEND (after).
func pngWith(t testing.TB, before, after [][]byte) []byte {
	var img bytes.Buffer
	if err := png.Encode(&img, tinyImage()); err != nil {
		t.Fatal(err)
	}
	b := img.Bytes()
	ihdrEnd := 8 + 8 + 13 + 4
	out := append([]byte(nil), b[:ihdrEnd]...)
	for _, c := range before {
		out = append(out, c...)
	}
	out = append(out, b[ihdrEnd:len(b)-12]...)
	for _, c := range after {
		out = append(out, c...)
	}
	return append(out, b[len(b)-12:]...)
}

// pngChunks lists the chunks of a PNG and checks every CRC.
func pngChunks(t testing.TB, b []byte) (types []string, data [][]byte) {
	t.Helper()
	for p := 8; p < len(b); {
		n := int(binary.BigEndian.Uint32(b[p:]))
		c := b[p : p+12+n]
		if crc32.ChecksumIEEE(c[4:8+n]) != binary.BigEndian.Uint32(c[8+n:]) {
			t.Errorf("chunk %q at %d: bad CRC", c[4:8], p)
		}
		types = append(types, string(c[4:8]))
		data = append(data, c[8:8+n])
		p += 12 + n
	}
	return types, data
}

// webpWith is a VP8X WebP (with a dummy, undecodable VP8 chunk) holding the
// given chunks (fourcc, data).
func webpWith(chunks ...[2]string) []byte {
	body := []byte("WEBP")
	add := func(typ, data string) {
		body = append(body, typ...)
		body = binary.LittleEndian.AppendUint32(body, uint32(len(data)))
		body = append(body, data...)
		if len(data)%2 == 1 {
			body = append(body, 0)
		}
	}
	add("VP8X", "\x0c\x00\x00\x00\x07\x00\x00\x07\x00\x00")
	add("VP8 ", "\x00\x00\x00\x00\x00\x00")
	for _, c := range chunks {
		add(c[0], c[1])
	}
	out := []byte("RIFF")
	out = binary.LittleEndian.AppendUint32(out, uint32(len(body)))
	return append(out, body...)
}

// ---- Running Find ----

// strip runs Find on b, checks the patches' invariants and returns them and
// the patched file.
func strip(t testing.TB, b []byte) ([]Patch, []byte) {
	t.Helper()
	ps, err := Find(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	checkPatches(t, ps, int64(len(b)))
	out, err := io.ReadAll(Apply(bytes.NewReader(b), ps))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if len(out) != len(b) {
		t.Fatalf("size changed: %d -> %d", len(b), len(out))
	}
	return ps, out
}

func checkPatches(t testing.TB, ps []Patch, size int64) {
	t.Helper()
	for i, p := range ps {
		if p.Off < 0 || p.End() > size || len(p.Data) == 0 {
			t.Fatalf("patch %d [%d,%d) outside the %d-byte file or empty", i, p.Off, p.End(), size)
		}
		if i > 0 && p.Off < ps[i-1].End() {
			t.Fatalf("patch %d at %d overlaps or precedes patch %d ending at %d", i, p.Off, i-1, ps[i-1].End())
		}
	}
}

// changed lists the offsets where a and b differ.
func changed(a, b []byte) []int {
	var out []int
	for i := range a {
		if a[i] != b[i] {
			out = append(out, i)
		}
	}
	return out
}
