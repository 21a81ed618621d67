package transform

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mediaedge/mediaedge/internal/testmedia"
)

// Privacy: a rendition must carry none of its source's metadata. A phone
// photo's EXIF holds where it was taken (GPS), the camera, its owner's
// software and the capture time; libvips 8.14's WebP saver wrote all of it
// (a 17 KB EXIF chunk) into every WebP rendition although asked to strip.
// Each output is read back two ways: its bytes, walked container by
// container (independent of libvips), and libvips' own field listing.

// leakMarkers are byte strings of the test sources' metadata: EXIF's header,
// the camera, the software and capture time, XMP, IPTC, ICC, the GIF secret.
var leakMarkers = []string{
	"Exif\x00\x00", "Apple", "iPhone", "mediaedge testmedia", "mediaedge tests", "2021:06:12",
	"xmpmeta", "GPSLatitude", "Photoshop 3.0", "ICC_PROFILE", "mediaedge-secret", testmedia.GIFSecret,
}

// metadataIn lists the metadata blocks that a file of format still has,
// from its container structure.
func metadataIn(t *testing.T, format string, b []byte) []string {
	t.Helper()
	var found []string
	for _, m := range leakMarkers {
		if bytes.Contains(b, []byte(m)) {
			found = append(found, fmt.Sprintf("bytes %q", m))
		}
	}
	switch format {
	case "jpg":
		found = append(found, jpegMetadata(t, b)...)
	case "png":
		found = append(found, pngMetadata(t, b)...)
	case "webp":
		found = append(found, webpMetadata(t, b)...)
	case "gif":
		found = append(found, gifMetadata(t, b)...)
	case "avif":
		found = append(found, avifMetadata(t, b)...)
	default:
		t.Fatalf("no metadata reader for %s", format)
	}
	return found
}

// jpegMetadata lists the APPn (but JFIF's APP0) and COM segments before the
// scan.
func jpegMetadata(t *testing.T, b []byte) []string {
	if !bytes.HasPrefix(b, []byte{0xff, 0xd8}) {
		t.Fatal("not a JPEG")
	}
	var found []string
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xff {
			t.Fatalf("JPEG: no marker at %d", i)
		}
		m := b[i+1]
		switch {
		case m == 0xff:
			i++
			continue
		case m == 0xda || m == 0xd9: // start of scan: entropy-coded data follows
			return found
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		seg := b[i+4 : min(len(b), i+2+n)]
		switch {
		case m == 0xe0 && bytes.HasPrefix(seg, []byte("JFIF\x00")):
		case m >= 0xe0 && m <= 0xef:
			found = append(found, fmt.Sprintf("APP%d %q", m-0xe0, seg[:min(len(seg), 12)]))
		case m == 0xfe:
			found = append(found, "COM")
		}
		i += 2 + n
	}
	return found
}

// pngMetadata lists EXIF, text, ICC and time chunks.
func pngMetadata(t *testing.T, b []byte) []string {
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatal("not a PNG")
	}
	var found []string
	for i := 8; i+8 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[i:]))
		typ := string(b[i+4 : i+8])
		switch typ {
		case "eXIf", "iTXt", "tEXt", "zTXt", "iCCP", "tIME":
			found = append(found, "chunk "+typ)
		}
		i += 12 + n
	}
	return found
}

// webpMetadata lists EXIF, XMP and ICC chunks and the VP8X flags that
// announce them.
func webpMetadata(t *testing.T, b []byte) []string {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		t.Fatal("not a WebP")
	}
	var found []string
	for i := 12; i+8 <= len(b); {
		typ := string(b[i : i+4])
		n := int(binary.LittleEndian.Uint32(b[i+4:]))
		switch typ {
		case "EXIF", "XMP ", "ICCP":
			found = append(found, "chunk "+typ)
		case "VP8X":
			if flags := b[i+8]; flags&(0x20|0x08|0x04) != 0 {
				found = append(found, fmt.Sprintf("VP8X flags %#x", flags))
			}
		}
		i += 8 + n + n%2
	}
	return found
}

// gifMetadata lists comment, plain-text and application extensions other
// than the looping ones.
func gifMetadata(t *testing.T, b []byte) []string {
	if !bytes.HasPrefix(b, []byte("GIF8")) || len(b) < 13 {
		t.Fatal("not a GIF")
	}
	var found []string
	i := 13
	if b[10]&0x80 != 0 {
		i += 3 << ((b[10] & 7) + 1)
	}
	skipSubBlocks := func(i int) int {
		for i < len(b) && b[i] != 0 {
			i += int(b[i]) + 1
		}
		return i + 1
	}
	for i < len(b) {
		switch b[i] {
		case 0x3b: // trailer
			return found
		case 0x21:
			label := b[i+1]
			switch label {
			case 0xfe:
				found = append(found, "comment extension")
			case 0x01:
				found = append(found, "plain text extension")
			case 0xff:
				if app := string(b[i+3 : i+14]); app != "NETSCAPE2.0" && app != "ANIMEXTS1.0" {
					found = append(found, fmt.Sprintf("application extension %q", app))
				}
			}
			i = skipSubBlocks(i + 2)
		case 0x2c: // image descriptor, local colour table, LZW data
			packed := b[i+9]
			i += 10
			if packed&0x80 != 0 {
				i += 3 << ((packed & 7) + 1)
			}
			i = skipSubBlocks(i + 1)
		default:
			t.Fatalf("GIF: unexpected block %#x at %d", b[i], i)
		}
	}
	return found
}

// avifMetadata lists Exif and XMP (mime) items and ICC colour boxes of a
// HEIF/AVIF file.
func avifMetadata(t *testing.T, b []byte) []string {
	if len(b) < 12 || string(b[4:8]) != "ftyp" {
		t.Fatal("not an ISO-BMFF file")
	}
	var found []string
	var walk func(b []byte)
	walk = func(b []byte) {
		for len(b) >= 8 {
			size, typ, hdr := int(binary.BigEndian.Uint32(b)), string(b[4:8]), 8
			switch size {
			case 0:
				size = len(b)
			case 1:
				size, hdr = int(binary.BigEndian.Uint64(b[8:])), 16
			}
			if size < hdr || size > len(b) {
				t.Fatalf("ISO-BMFF: box %q of %d bytes in %d", typ, size, len(b))
			}
			body := b[hdr:size]
			switch typ {
			case "meta": // a full box: version and flags, then boxes
				walk(body[4:])
			case "iprp", "ipco":
				walk(body)
			case "iinf":
				if body[0] == 0 {
					walk(body[6:])
				} else {
					walk(body[8:])
				}
			case "infe":
				// version 2 or 3: item_ID (2 or 4 bytes), protection index (2), type
				at := 4 + 2 + 2
				if body[0] >= 3 {
					at += 2
				}
				if it := string(body[at : at+4]); it == "Exif" || it == "mime" {
					found = append(found, "item "+it)
				}
			case "colr":
				if ct := string(body[:4]); ct == "prof" || ct == "rICC" {
					found = append(found, "colr "+ct)
				}
			}
			b = b[size:]
		}
	}
	walk(b)
	return found
}

// vipsFields reads an image back with libvips and lists its metadata fields
// that describe the source rather than the pixels.
func vipsFields(t *testing.T, b []byte) []string {
	t.Helper()
	im, err := thumbnail(b, 100000, 100000, sizeDown, interestingNone, false, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer im.free()
	var found []string
	for _, f := range im.fields() {
		for _, bad := range []string{"exif-", "xmp-data", "iptc-data", "ipct-data", "icc-profile-data", "png-comment-", "gif-comment", "orientation"} {
			if strings.HasPrefix(f, bad) {
				found = append(found, f)
			}
		}
	}
	return found
}

// TestRenditionsCarryNoMetadata renders real photos that carry a location
// (EXIF GPS IFD, maker note, camera, capture time, XMP with GPS, an ICC
// profile in the JPEG) into every output format, and an animated GIF with a
// comment and XMP into the animated formats, and finds nothing of it in the
// outputs.
func TestRenditionsCarryNoMetadata(t *testing.T) {
	p := newProc(t)
	type source struct {
		name, typ string
		src       []byte
		query     string
		formats   []string
	}
	sources := []source{
		{"gps.jpg", "image/jpeg", testmedia.GPSJPEG(), "w=400", outputFormats},
		{"gps.png", "image/png", testmedia.GPSPNG(), "w=200", outputFormats},
		{"gps.webp", "image/webp", testmedia.GPSWebP(), "w=200", outputFormats},
		{"animated gif", "image/gif", testmedia.AnimatedGIFWithMetadata(), "w=30", []string{"gif", "webp"}},
	}
	for _, s := range sources {
		// The inputs do carry what must go, or the test proves nothing.
		if s.typ != "image/gif" {
			if got := vipsFields(t, s.src); !slices.Contains(got, "exif-data") || !slices.Contains(got, "xmp-data") ||
				!slices.Contains(got, "exif-ifd3-GPSLatitude") {
				t.Fatalf("%s: libvips reads no EXIF GPS and XMP from the source: %v", s.name, got)
			}
		} else if !bytes.Contains(s.src, []byte(testmedia.GIFSecret)) {
			t.Fatal("animated gif: no metadata in the source")
		}
		for _, f := range s.formats {
			t.Run(f+"/"+s.name, func(t *testing.T) {
				r, err := run(t, p, s.src, s.typ, "", s.query+"&fm="+f, "")
				if err != nil {
					t.Fatal(err)
				}
				if s.typ == "image/gif" && r.Frames != 4 {
					t.Fatalf("%d frames, want the animation's 4", r.Frames)
				}
				if found := metadataIn(t, f, r.Data); len(found) > 0 {
					t.Errorf("%s output carries metadata: %v", f, found)
				}
				if found := vipsFields(t, r.Data); len(found) > 0 {
					t.Errorf("%s output read back by libvips has %v", f, found)
				}
			})
		}
	}
}

// TestFramesCarryNoMetadata: the PNG frames handed to ffmpeg for an MP4 are
// stripped too.
func TestFramesCarryNoMetadata(t *testing.T) {
	n := 0
	_, err := Frames(t.Context(), DefaultConfig(), testmedia.AnimatedGIFWithMetadata(), 0, 0, "", func(f Frame) error {
		n++
		if found := metadataIn(t, "png", f.PNG); len(found) > 0 {
			t.Errorf("frame %d carries %v", n, found)
		}
		return nil
	})
	if err != nil || n != 4 {
		t.Fatalf("%d frames, %v", n, err)
	}
}

// TestDropWebPMetadata: metadata chunks go (odd sizes padded), the VP8X
// flags that announce them are cleared, everything else stays byte for byte,
// and a container that lies about its sizes is an error, not a panic.
func TestDropWebPMetadata(t *testing.T) {
	chunk := func(typ string, data ...byte) []byte {
		c := binary.LittleEndian.AppendUint32([]byte(typ), uint32(len(data)))
		c = append(c, data...)
		if len(data)%2 == 1 {
			c = append(c, 0)
		}
		return c
	}
	riff := func(chunks ...[]byte) []byte {
		body := slices.Concat(chunks...)
		b := binary.LittleEndian.AppendUint32([]byte("RIFF"), uint32(4+len(body)))
		return append(append(b, "WEBP"...), body...)
	}
	vp8x := func(flags byte) []byte { return chunk("VP8X", flags, 0, 0, 0, 9, 0, 0, 9, 0, 0) }
	pixels := chunk("VP8L", 1, 2, 3, 4, 5)
	in := riff(vp8x(0x20|0x10|0x08|0x04), chunk("ICCP", 1, 2, 3), pixels, chunk("EXIF", 'E', 'x', 'i', 'f', 0, 0), chunk("XMP ", '<', 'x'))
	got, err := dropWebPMetadata(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := riff(vp8x(0x10), pixels); !bytes.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	bad := riff(vp8x(0), pixels)
	binary.LittleEndian.PutUint32(bad[len(bad)-len(pixels)+4:], 1000)
	if _, err := dropWebPMetadata(bad); err == nil {
		t.Fatal("a chunk overrunning the file was accepted")
	}
}
