package exifstrip

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"strings"
	"testing"
)

const gpsXMP = rdfHead + `<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" exif:GPSLatitude="15,50.13316667S">` +
	`<dc:creator><rdf:Seq><rdf:li>someone</rdf:li></rdf:Seq></dc:creator><exif:GPSLongitude>48,0.9475W</exif:GPSLongitude></rdf:Description>` + rdfTail

// noLocation checks a TIFF block has no GPS pointer or maker note and keeps
// its Orientation.
func noLocation(t *testing.T, tiffBlock []byte) {
	t.Helper()
	d, err := dumpEXIF(tiffBlock)
	if err != nil {
		t.Fatalf("EXIF does not read: %v", err)
	}
	for ifd, tags := range d.tags {
		if _, ok := tags[tagGPSIFD]; ok {
			t.Errorf("%s still points to GPS", ifd)
		}
		if _, ok := tags[tagMakerNote]; ok {
			t.Errorf("%s still has a MakerNote", ifd)
		}
	}
	if _, ok := d.tags["IFD0"][0x0112]; !ok {
		t.Error("Orientation lost")
	}
	if bytes.Contains(tiffBlock, []byte("makernote-secret")) {
		t.Error("maker note bytes left")
	}
}

func findErr(b []byte) error {
	_, err := Find(bytes.NewReader(b), int64(len(b)))
	return err
}

func TestJPEG(t *testing.T) {
	tiffMM := string(photoTIFF(binary.BigEndian).b)
	tiffII := string(photoTIFF(binary.LittleEndian).b)

	t.Run("two Exif segments, pad byte 0xFF, fill bytes", func(t *testing.T) {
		b := jpegWith(t, app1("Exif\x00\x00", tiffMM), app1("Exif\x00\xFF", tiffII))
		// Fill bytes before the second APP1.
		i := bytes.Index(b[4:], []byte{0xFF, 0xE1}) + 4
		b = append(b[:i:i], append([]byte{0xFF, 0xFF, 0xFF}, b[i:]...)...)
		_, out := strip(t, b)
		for _, h := range []string{"Exif\x00\x00MM", "Exif\x00\xFFII"} {
			noLocation(t, out[bytes.Index(out, []byte(h))+6:])
		}
		if _, _, err := image.Decode(bytes.NewReader(out)); err != nil {
			t.Errorf("decode: %v", err)
		}
	})

	t.Run("EXIF inside the thumbnail", func(t *testing.T) {
		bo := binary.BigEndian
		thumb := jpegWith(t, app1("Exif\x00\x00", tiffII))
		outer := buildTIFF(bo,
			bIFD{name: "IFD0", next: "IFD1", entries: []bEntry{{tag: 0x0112, typ: 3, count: 1, val: short(bo, 1)}}},
			bIFD{name: "IFD1", entries: []bEntry{
				{tag: 0x0103, typ: 3, count: 1, val: short(bo, 6)},
				{tag: tagThumbOffset, typ: 4, count: 1, blob: thumb},
				{tag: tagThumbLength, typ: 4, count: 1, val: bo.AppendUint32(nil, uint32(len(thumb)))},
			}},
		)
		_, out := strip(t, jpegWith(t, app1("Exif\x00\x00", string(outer.b))))
		noLocation(t, out[bytes.Index(out, []byte("Exif\x00\x00II"))+6:])
	})

	t.Run("extended XMP across two segments", func(t *testing.T) {
		guid := strings.Repeat("0123456789ABCDEF", 2)
		full := []byte(gpsXMP)
		cut := bytes.Index(full, []byte("GPSLong")) + 3 // inside the property name
		part := func(off int, data []byte) []byte {
			h := sigExtXMP + guid + string(binary.BigEndian.AppendUint32(nil, uint32(len(full)))) +
				string(binary.BigEndian.AppendUint32(nil, uint32(off)))
			return app1(h, string(data))
		}
		main := rdfHead + `<rdf:Description xmlns:xmpNote="http://ns.adobe.com/xmp/note/" xmpNote:HasExtendedXMP="` + guid + `"/>` + rdfTail
		// Parts out of order, as the spec allows.
		b := jpegWith(t, app1(sigXMP, main), part(cut, full[cut:]), part(0, full[:cut]))
		_, out := strip(t, b)
		var whole []byte
		// Reassemble from the output the way a reader would.
		segs := bytes.Split(out, []byte(sigExtXMP+guid))[1:]
		parts := map[uint32][]byte{}
		for _, s := range segs {
			off := binary.BigEndian.Uint32(s[4:])
			n := cut
			if off != 0 {
				n = len(full) - cut
			}
			parts[off] = s[8 : 8+n]
		}
		whole = append(append(whole, parts[0]...), parts[uint32(cut)]...)
		if len(whole) != len(full) || gpsNames(t, whole) != 0 || !bytes.Contains(whole, []byte("<rdf:li>someone</rdf:li>")) {
			t.Errorf("extended XMP after stripping:\n%s", whole)
		}
	})

	t.Run("extended XMP with a gap", func(t *testing.T) {
		guid := strings.Repeat("F", 32)
		h := sigExtXMP + guid + "\x00\x00\x01\x00" + "\x00\x00\x00\x10"
		if err := findErr(jpegWith(t, app1(h, "<a/>"))); !errors.Is(err, ErrMalformed) {
			t.Errorf("err = %v, want ErrMalformed", err)
		}
	})

	t.Run("MPF second image", func(t *testing.T) {
		second := jpegWith(t, app1("Exif\x00\x00", tiffII))
		mpf := func(off uint32) []byte {
			bo := binary.BigEndian
			entries := make([]byte, 32)
			bo.PutUint32(entries[0:], 0x20030000) // primary
			bo.PutUint32(entries[16+4:], uint32(len(second)))
			bo.PutUint32(entries[16+8:], off)
			idx := buildTIFF(bo, bIFD{name: "MPIndex", entries: []bEntry{
				{tag: 0xB000, typ: 7, count: 4, val: []byte("0100")},
				{tag: 0xB001, typ: 4, count: 1, val: bo.AppendUint32(nil, 2)},
				{tag: tagMPEntry, typ: 7, count: 32, val: entries},
			}})
			return append([]byte{0xE2}, append([]byte(sigMPF), idx.b...)...)
		}
		first := jpegWith(t, app1("Exif\x00\x00", tiffMM), mpf(0))
		mpfAt := bytes.Index(first, []byte(sigMPF)) + len(sigMPF)
		b := append(jpegWith(t, app1("Exif\x00\x00", tiffMM), mpf(uint32(len(first)-mpfAt))), second...)
		_, out := strip(t, b)
		noLocation(t, out[bytes.Index(out, []byte("Exif\x00\x00MM"))+6:])
		noLocation(t, out[bytes.Index(out, []byte("Exif\x00\x00II"))+6:])
	})

	for name, b := range map[string][]byte{
		"segment past the end": []byte("\xFF\xD8\xFF\xE1\x10\x00Exif\x00\x00MM"),
		"no marker":            []byte("\xFF\xD8\xFF\xE0\x00\x04ab\x12\x34\x00\x00\x00\x00"),
		"length below 2":       []byte("\xFF\xD8\xFF\xE0\x00\x01\xFF\xD9\x00\x00\x00\x00"),
		"bad TIFF":             jpegWith(t, app1("Exif\x00\x00", "MM\x00*\x00\x00\xFF\xFF")),
		"bad XMP":              jpegWith(t, app1(sigXMP, "<a><b></a>")),
	} {
		if err := findErr(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}

	t.Run("nothing to remove", func(t *testing.T) {
		clean := buildTIFF(binary.BigEndian, bIFD{name: "IFD0", entries: []bEntry{asciiEntry(0x010F, "Canon")}})
		b := jpegWith(t, app1("Exif\x00\x00", string(clean.b)), app1(sigXMP, rdfHead+rdfTail))
		if ps, err := Find(bytes.NewReader(b), int64(len(b))); ps != nil || err != nil {
			t.Errorf("Find = %v, %v; want nil, nil", ps, err)
		}
	})
}

// rawProfile is ImageMagick's hex encoding of a profile in a PNG text chunk.
func rawProfile(name string, b []byte) string {
	h := hex.EncodeToString(b)
	var lines []string
	for len(h) > 72 {
		lines, h = append(lines, h[:72]), h[72:]
	}
	lines = append(lines, h)
	return fmt.Sprintf("\n%s\n%8d\n%s\n", name, len(b), strings.Join(lines, "\n"))
}

func deflate(b []byte) []byte {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	_, _ = w.Write(b)
	_ = w.Close()
	return z.Bytes()
}

func TestPNG(t *testing.T) {
	tiff := photoTIFF(binary.LittleEndian).b
	exifAPP1 := append([]byte("Exif\x00\x00"), tiff...)

	t.Run("eXIf after IDAT, as libvips writes it", func(t *testing.T) {
		_, out := strip(t, pngWith(t, nil, [][]byte{pngChunk("eXIf", tiff)}))
		types, data := pngChunks(t, out)
		noLocation(t, data[len(types)-2])
		if _, _, err := image.Decode(bytes.NewReader(out)); err != nil {
			t.Errorf("decode: %v", err)
		}
	})

	t.Run("compressed iTXt XMP is deflated again", func(t *testing.T) {
		// Stored with the fastest compression, so the edit fits.
		var z bytes.Buffer
		w, _ := zlib.NewWriterLevel(&z, zlib.BestSpeed)
		_, _ = w.Write([]byte(gpsXMP))
		_ = w.Close()
		itxt := append([]byte("XML:com.adobe.xmp\x00\x01\x00en\x00XMP\x00"), z.Bytes()...)
		_, out := strip(t, pngWith(t, [][]byte{pngChunk("iTXt", itxt)}, nil))
		types, data := pngChunks(t, out)
		if types[1] != "iTXt" {
			t.Fatalf("chunk became %q", types[1])
		}
		f := finder{cfg: DefaultConfig()}
		kw, rest, _ := bytes.Cut(data[1], []byte{0})
		parts := bytes.SplitN(rest[2:], []byte{0}, 3)
		if string(kw) != "XML:com.adobe.xmp" || string(rest[:2]) != "\x01\x00" || string(parts[0]) != "en" ||
			strings.TrimRight(string(parts[1]), " ") != "XMP" {
			t.Fatalf("iTXt header became %q", data[1][:40])
		}
		xmp, err := f.inflate(parts[2])
		if err != nil {
			t.Fatal(err)
		}
		if gpsNames(t, xmp) != 0 || !bytes.Contains(xmp, []byte("<rdf:li>someone</rdf:li>")) {
			t.Errorf("XMP after stripping:\n%s", xmp)
		}
	})

	t.Run("zTXt raw exif profile is voided", func(t *testing.T) {
		ztxt := append([]byte("Raw profile type exif\x00\x00"), deflate([]byte(rawProfile("exif", exifAPP1)))...)
		_, out := strip(t, pngWith(t, [][]byte{pngChunk("zTXt", ztxt)}, nil))
		types, data := pngChunks(t, out)
		if types[1] != pngVoid || !allZero(data[1]) {
			t.Errorf("chunk is %q %x, want %s zeroed", types[1], data[1], pngVoid)
		}
		if _, _, err := image.Decode(bytes.NewReader(out)); err != nil {
			t.Errorf("decode: %v", err)
		}
	})

	t.Run("tEXt raw exif profile is edited through its hex", func(t *testing.T) {
		text := append([]byte("Raw profile type APP1\x00"), rawProfile("exif", exifAPP1)...)
		_, out := strip(t, pngWith(t, [][]byte{pngChunk("tEXt", text)}, nil))
		_, data := pngChunks(t, out)
		body := string(data[1][len("Raw profile type APP1\x00"):])
		lines := strings.Split(strings.TrimSpace(body), "\n")
		bin, err := hex.DecodeString(strings.Join(lines[2:], ""))
		if err != nil || len(bin) != len(exifAPP1) {
			t.Fatalf("hex no longer decodes: %v", err)
		}
		noLocation(t, bin[6:])
	})

	t.Run("tEXt raw APP1 profile holding XMP", func(t *testing.T) {
		text := append([]byte("Raw profile type APP1\x00"), rawProfile("APP1", []byte(sigXMP+gpsXMP))...)
		_, out := strip(t, pngWith(t, [][]byte{pngChunk("tEXt", text)}, nil))
		_, data := pngChunks(t, out)
		lines := strings.Split(strings.TrimSpace(string(data[1][len("Raw profile type APP1\x00"):])), "\n")
		bin, err := hex.DecodeString(strings.Join(lines[2:], ""))
		if err != nil || gpsNames(t, bin[len(sigXMP):]) != 0 {
			t.Errorf("XMP profile after stripping (%v):\n%s", err, bin)
		}
	})

	for name, b := range map[string][]byte{
		"chunk past the end": []byte(pngSignature + "\x00\x00\x10\x00eXIfMM\x00*"),
		"header cut off":     []byte(pngSignature + "\x00\x00\x00\x0dIH"),
		"bad eXIf":           pngWith(t, [][]byte{pngChunk("eXIf", []byte("MM\x00*\x00\x00\x10\x00"))}, nil),
		"iTXt bad flag":      pngWith(t, [][]byte{pngChunk("iTXt", []byte("XML:com.adobe.xmp\x00\x07\x00\x00\x00<a/>"))}, nil),
		"zTXt bad zlib":      pngWith(t, [][]byte{pngChunk("zTXt", []byte("XML:com.adobe.xmp\x00\x00garbage"))}, nil),
		"raw profile short":  pngWith(t, [][]byte{pngChunk("tEXt", []byte("Raw profile type exif\x00\nexif\n  100\n4d4d"))}, nil),
	} {
		if err := findErr(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}

	t.Run("zip bomb in zTXt", func(t *testing.T) {
		bomb := deflate(make([]byte, 8<<20))
		b := pngWith(t, [][]byte{pngChunk("zTXt", append([]byte("XML:com.adobe.xmp\x00\x00"), bomb...))}, nil)
		if err := findErr(b); !errors.Is(err, ErrTooLarge) {
			t.Errorf("err = %v, want ErrTooLarge", err)
		}
	})
}

func TestWebP(t *testing.T) {
	tiff := string(photoTIFF(binary.BigEndian).b)
	// An odd-sized chunk first, to check the padding is skipped.
	b := webpWith([2]string{"ICCP", "odd"}, [2]string{"EXIF", "Exif\x00\x00" + tiff}, [2]string{"XMP ", gpsXMP})
	_, out := strip(t, b)
	noLocation(t, out[bytes.Index(out, []byte("Exif\x00\x00MM"))+6:])
	x := out[bytes.Index(out, []byte("XMP "))+8:]
	if gpsNames(t, x[:len(gpsXMP)]) != 0 {
		t.Error("GPS left in XMP")
	}

	cut := webpWith([2]string{"EXIF", tiff})
	binary.LittleEndian.PutUint32(cut[len(cut)-len(tiff)-4:], uint32(len(tiff)+100))
	if err := findErr(cut); !errors.Is(err, ErrMalformed) {
		t.Errorf("chunk past the end: err = %v, want ErrMalformed", err)
	}
}

// heifFile builds a minimal HEIF: ftyp, meta (iinf, iloc, idat), mdat.
// Item 1 is Exif stored in idat (construction method 1); item 2 is XMP in
// two extents in mdat with junk between them.
func heifFile(t *testing.T, exifPayload, xmp []byte) []byte {
	box := func(typ string, body ...[]byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(8+len(bytes.Join(body, nil))))
		return append(append(b, typ...), bytes.Join(body, nil)...)
	}
	full := func(v byte) []byte { return []byte{v, 0, 0, 0} }
	u16 := func(v int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }
	u32 := func(v int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }

	ftyp := box("ftyp", []byte("heic\x00\x00\x00\x00mif1heic"))
	iinf := box("iinf", full(0), u16(2),
		box("infe", full(2), u16(1), u16(0), []byte("Exif\x00")),
		box("infe", full(2), u16(2), u16(0), []byte("mime\x00application/rdf+xml\x00")))
	half := len(xmp) / 2
	junk := []byte("JUNKJUNK")
	iloc := func(mdatData int) []byte {
		return box("iloc", full(1), []byte{0x44, 0x00}, u16(2),
			u16(1), u16(1), u16(0), u16(1), u32(0), u32(len(exifPayload)),
			u16(2), u16(0), u16(0), u16(2),
			u32(mdatData), u32(half), u32(mdatData+half+len(junk)), u32(len(xmp)-half))
	}
	idat := box("idat", exifPayload)
	hdlr := box("hdlr", full(0), u32(0), []byte("pict"), make([]byte, 13))
	meta := box("meta", full(0), hdlr, iinf, iloc(0), idat)
	mdatData := len(ftyp) + len(meta) + 8
	meta = box("meta", full(0), hdlr, iinf, iloc(mdatData), idat)
	mdat := box("mdat", xmp[:half], junk, xmp[half:])
	return bytes.Join([][]byte{ftyp, meta, mdat}, nil)
}

func TestHEIF(t *testing.T) {
	tiff := photoTIFF(binary.LittleEndian).b
	payload := append([]byte("\x00\x00\x00\x06Exif\x00\x00"), tiff...)
	b := heifFile(t, payload, []byte(gpsXMP))
	_, out := strip(t, b)
	noLocation(t, out[bytes.Index(out, []byte("Exif\x00\x00II"))+6:])
	x := out[bytes.Index(out, []byte("mdat"))+4:]
	x = append(bytes.Clone(x[:len(gpsXMP)/2]), x[len(gpsXMP)/2+8:]...)
	if gpsNames(t, x) != 0 || !bytes.Contains(x, []byte("<rdf:li>someone</rdf:li>")) {
		t.Errorf("XMP after stripping:\n%s", x)
	}
	if !bytes.Contains(out, []byte("JUNKJUNK")) {
		t.Error("bytes between extents changed")
	}

	bad := heifFile(t, append([]byte("\x00\x00\x10\x00"), tiff...), []byte(gpsXMP))
	if err := findErr(bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("Exif header offset past the item: err = %v, want ErrMalformed", err)
	}
}

func TestJXL(t *testing.T) {
	box := func(typ, body string) string {
		return string(binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))) + typ + body
	}
	head := jxlSignature + box("ftyp", "jxl \x00\x00\x00\x00jxl ")
	b := []byte(head + box("Exif", "\x00\x00\x00\x06Exif\x00\x00"+string(photoTIFF(binary.BigEndian).b)) +
		box("xml ", gpsXMP) + box("jxlc", "\xff\x0a codestream"))
	_, out := strip(t, b)
	noLocation(t, out[bytes.Index(out, []byte("Exif\x00\x00MM"))+6:])
	if !bytes.Contains(out, []byte("<rdf:li>someone</rdf:li>")) || bytes.Contains(out, []byte("GPSLong")) {
		t.Error("XMP box not stripped right")
	}

	brob := []byte(head + box("brob", "Exif\x1b\x00\x00"))
	if err := findErr(brob); !errors.Is(err, ErrUnsupported) {
		t.Errorf("compressed Exif box: err = %v, want ErrUnsupported", err)
	}
}
