package exifstrip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func stripBlock(b []byte) ([]byte, error) {
	f := finder{cfg: DefaultConfig()}
	out := bytes.Clone(b)
	err := f.stripTIFF(out, 0)
	return out, err
}

// TestStripTIFF: in both byte orders, GPS IFD and MakerNote go, the entries
// after them move up, IFD1 stays chained, the other tags read the same,
// and only the tables and the removed values changed.
func TestStripTIFF(t *testing.T) {
	for name, bo := range map[string]order{"II": binary.LittleEndian, "MM": binary.BigEndian} {
		t.Run(name, func(t *testing.T) {
			in := photoTIFF(bo)
			out, err := stripBlock(in.b)
			if err != nil {
				t.Fatal(err)
			}
			d, err := dumpEXIF(out)
			if err != nil {
				t.Fatalf("stripped block does not read: %v", err)
			}
			want := map[string][]uint16{
				"IFD0": {0x010F, 0x0112, tagExifIFD},
				"IFD1": {0x0103},
				"Exif": {0x9003, 0xA002},
			}
			if len(d.tags) != len(want) {
				t.Errorf("IFDs %v, want %v", keys(d.tags), want)
			}
			for ifd, tags := range want {
				if len(d.tags[ifd]) != len(tags) {
					t.Errorf("%s has %d tags, want %v", ifd, len(d.tags[ifd]), tags)
				}
				for _, tag := range tags {
					if _, ok := d.tags[ifd][tag]; !ok {
						t.Errorf("%s lost tag %#x", ifd, tag)
					}
				}
			}
			if o := bo.Uint16(d.tags["IFD0"][0x0112]); o != 6 {
				t.Errorf("Orientation %d, want 6", o)
			}
			if string(d.tags["IFD0"][0x010F]) != "Canon\x00" || string(d.tags["Exif"][0x9003]) != "2021:06:12 10:30:00\x00" {
				t.Error("Make or DateTimeOriginal changed")
			}
			ok := map[int]bool{}
			for _, r := range [][2]int{in.ifd["IFD0"], in.ifd["Exif"], in.ifd["GPS"], in.vals["Exif"][tagMakerNote],
				in.vals["GPS"][2], in.vals["GPS"][4]} {
				for i := r[0]; i < r[1]; i++ {
					ok[i] = true
				}
			}
			for _, i := range changed(in.b, out) {
				if !ok[i] {
					t.Errorf("byte %d changed", i)
				}
			}
			for _, r := range [][2]int{in.ifd["GPS"], in.vals["Exif"][tagMakerNote], in.vals["GPS"][2], in.vals["GPS"][4]} {
				if !allZero(out[r[0]:r[1]]) {
					t.Errorf("removed bytes [%d,%d) not zeroed: %x", r[0], r[1], out[r[0]:r[1]])
				}
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func allZero(b []byte) bool { return len(bytes.Trim(b, "\x00")) == 0 }

// TestStripTIFFHostile: hand-broken blocks either strip cleanly or fail
// with ErrMalformed, and never leave a GPS pointer.
func TestStripTIFFHostile(t *testing.T) {
	bo := binary.BigEndian
	// entryAt returns the offset of the entry with tag in the IFD at off.
	entryAt := func(b []byte, off int, tag uint16) int {
		n := int(bo.Uint16(b[off:]))
		for i := 0; i < n; i++ {
			if p := off + 2 + 12*i; bo.Uint16(b[p:]) == tag {
				return p
			}
		}
		t.Fatalf("no tag %#x at %d", tag, off)
		return 0
	}
	tests := []struct {
		name    string
		edit    func(in built) []byte
		wantErr error
		check   func(t *testing.T, in built, out []byte)
	}{
		{name: "GPS pointer to IFD0", wantErr: ErrMalformed, edit: func(in built) []byte {
			p := entryAt(in.b, in.ifd["IFD0"][0], tagGPSIFD)
			bo.PutUint32(in.b[p+8:], uint32(in.ifd["IFD0"][0]))
			return in.b
		}},
		{name: "GPS pointer to the Exif IFD", wantErr: ErrMalformed, edit: func(in built) []byte {
			p := entryAt(in.b, in.ifd["IFD0"][0], tagGPSIFD)
			bo.PutUint32(in.b[p+8:], uint32(in.ifd["Exif"][0]))
			return in.b
		}},
		{name: "GPS pointer out of bounds", edit: func(in built) []byte {
			p := entryAt(in.b, in.ifd["IFD0"][0], tagGPSIFD)
			bo.PutUint32(in.b[p+8:], 0xFFFFFFF0)
			return in.b
		}},
		{name: "GPS value shares bytes with Make", edit: func(in built) []byte {
			p := entryAt(in.b, in.ifd["GPS"][0], 2)
			bo.PutUint32(in.b[p+8:], uint32(in.vals["IFD0"][0x010F][0]))
			return in.b
		}, check: func(t *testing.T, in built, out []byte) {
			r := in.vals["IFD0"][0x010F]
			if string(out[r[0]:r[1]]) != "Canon\x00" {
				t.Errorf("Make = %q; a kept value was zeroed", out[r[0]:r[1]])
			}
		}},
		{name: "GPS IFD claims 65535 entries", edit: func(in built) []byte {
			bo.PutUint16(in.b[in.ifd["GPS"][0]:], 0xFFFF)
			return in.b
		}},
		{name: "MakerNote of 4 GiB", edit: func(in built) []byte {
			p := entryAt(in.b, in.ifd["Exif"][0], tagMakerNote)
			bo.PutUint32(in.b[p+4:], 0xFFFFFFFF)
			return in.b
		}},
		{name: "MakerNote offset wraps", edit: func(in built) []byte {
			p := entryAt(in.b, in.ifd["Exif"][0], tagMakerNote)
			bo.PutUint32(in.b[p+8:], 0xFFFFFFF8)
			return in.b
		}},
		{name: "IFD1 chains back to IFD0", edit: func(in built) []byte {
			n := int(bo.Uint16(in.b[in.ifd["IFD1"][0]:]))
			bo.PutUint32(in.b[in.ifd["IFD1"][0]+2+12*n:], uint32(in.ifd["IFD0"][0]))
			return in.b
		}},
		{name: "Exif IFD points to itself", edit: func(in built) []byte {
			p := entryAt(in.b, in.ifd["Exif"][0], 0xA002)
			bo.PutUint16(in.b[p:], tagInteropIFD)
			bo.PutUint32(in.b[p+8:], uint32(in.ifd["Exif"][0]))
			return in.b
		}},
		{name: "IFD1 next pointer out of bounds", edit: func(in built) []byte {
			n := int(bo.Uint16(in.b[in.ifd["IFD1"][0]:]))
			bo.PutUint32(in.b[in.ifd["IFD1"][0]+2+12*n:], 0x7FFFFFFF)
			return in.b
		}},
		{name: "Exif IFD overlaps IFD0", wantErr: ErrMalformed, edit: func(in built) []byte {
			p := entryAt(in.b, in.ifd["IFD0"][0], tagExifIFD)
			bo.PutUint32(in.b[p+8:], uint32(in.ifd["IFD0"][0]+12))
			return in.b
		}},
		{name: "Exif IFD cut off", wantErr: ErrMalformed, edit: func(in built) []byte {
			bo.PutUint16(in.b[in.ifd["Exif"][0]:], 0x4000)
			return in.b
		}},
		{name: "IFD0 out of bounds", wantErr: ErrMalformed, edit: func(in built) []byte {
			bo.PutUint32(in.b[4:], uint32(len(in.b)))
			return in.b
		}},
		{name: "IFD0 inside the header", wantErr: ErrMalformed, edit: func(in built) []byte {
			bo.PutUint32(in.b[4:], 2)
			return in.b
		}},
		{name: "bad magic", wantErr: ErrMalformed, edit: func(in built) []byte {
			in.b[3] = 43
			return in.b
		}},
		{name: "bad byte order", wantErr: ErrMalformed, edit: func(in built) []byte {
			copy(in.b, "XX")
			return in.b
		}},
		{name: "header only", wantErr: ErrMalformed, edit: func(in built) []byte { return in.b[:6] }},
		{name: "table ends with the block, no next pointer", edit: func(in built) []byte {
			// Move the GPS pointer to IFD1, the last table, and cut the
			// block just after IFD1's entries.
			b := buildTIFF(bo,
				bIFD{name: "IFD0", next: "IFD1", entries: []bEntry{{tag: 0x0112, typ: 3, count: 1, val: short(bo, 1)}}},
				bIFD{name: "GPS", entries: []bEntry{asciiEntry(1, "N")}},
				bIFD{name: "IFD1", entries: []bEntry{
					{tag: 0x0103, typ: 3, count: 1, val: short(bo, 6)},
					{tag: tagGPSIFD, typ: 4, count: 1, ptr: "GPS"},
				}},
			)
			return b.b[:len(b.b)-4]
		}, check: func(t *testing.T, _ built, out []byte) {
			if bytes.Contains(out, []byte{0x88, 0x25}) || !bytes.Contains(out, []byte{0x01, 0x03, 0, 3}) {
				t.Errorf("IFD1 not rewritten right: %x", out)
			}
		}},
		{name: "GPS and MakerNote in odd IFDs", edit: func(in built) []byte {
			// IFD1 gets a second GPS pointer (its 0x0103 becomes 0x8825).
			p := entryAt(in.b, in.ifd["IFD1"][0], 0x0103)
			bo.PutUint16(in.b[p:], tagGPSIFD)
			bo.PutUint16(in.b[p+2:], 4)
			bo.PutUint32(in.b[p+8:], uint32(in.ifd["GPS"][0]))
			return in.b
		}, check: func(t *testing.T, in built, out []byte) {
			if n := bo.Uint16(out[in.ifd["IFD1"][0]:]); n != 0 {
				t.Errorf("IFD1 has %d entries, want 0", n)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := photoTIFF(bo)
			b := tc.edit(in)
			out, err := stripBlock(b)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if d, err := dumpEXIF(out); err == nil {
				for ifd, tags := range d.tags {
					if _, ok := tags[tagGPSIFD]; ok {
						t.Errorf("%s still points to GPS", ifd)
					}
					if _, ok := tags[tagMakerNote]; ok {
						t.Errorf("%s still has a MakerNote", ifd)
					}
				}
			}
			if tc.check != nil {
				tc.check(t, in, out)
			}
			// Stripping again changes nothing.
			again, err := stripBlock(out)
			if err != nil || !bytes.Equal(again, out) {
				t.Errorf("second strip: %v, changed %v", err, changed(out, again))
			}
		})
	}
}

// TestStripTIFFNothing: a block without GPS or maker note is left alone.
func TestStripTIFFNothing(t *testing.T) {
	bo := binary.LittleEndian
	in := buildTIFF(bo, bIFD{name: "IFD0", entries: []bEntry{
		asciiEntry(0x010F, "Canon"),
		{tag: 0x0112, typ: 3, count: 1, val: short(bo, 3)},
	}})
	out, err := stripBlock(in.b)
	if err != nil || !bytes.Equal(out, in.b) {
		t.Errorf("err %v, changed %v", err, changed(in.b, out))
	}
}

// TestTooManyIFDs: an IFD chain longer than maxIFDs is refused.
func TestTooManyIFDs(t *testing.T) {
	bo := binary.BigEndian
	var ifds []bIFD
	for i := range maxIFDs + 4 {
		d := bIFD{name: string(rune('A' + i)), entries: []bEntry{{tag: 0x0112, typ: 3, count: 1, val: short(bo, 1)}}}
		if i < maxIFDs+3 {
			d.next = string(rune('A' + i + 1))
		}
		ifds = append(ifds, d)
	}
	if _, err := stripBlock(buildTIFF(bo, ifds...).b); !errors.Is(err, ErrMalformed) {
		t.Errorf("err = %v, want ErrMalformed", err)
	}
}
