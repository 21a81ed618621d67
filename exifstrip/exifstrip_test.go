package exifstrip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mediaedge/mediaedge/internal/testmedia"
)

var testPhotos = []struct {
	name string
	data func() []byte
	// tiffAt finds the EXIF TIFF block, independently of the package.
	tiffAt func(b []byte) int
	// goDecode: the standard library can decode it.
	goDecode bool
}{
	{"gps.jpg", testmedia.GPSJPEG, exifHeaderAt, true},
	{"gps.png", testmedia.GPSPNG, func(b []byte) int { return bytes.Index(b, []byte("eXIf")) + 4 }, true},
	{"gps.webp", testmedia.GPSWebP, func(b []byte) int { return bytes.Index(b, []byte("EXIF")) + 8 }, false},
	{"gps.avif", testmedia.GPSAVIF, exifHeaderAt, false},
	{"gps.heic", testmedia.GPSHEIC, exifHeaderAt, false},
	{"gps.jxl", testmedia.GPSJXL, func(b []byte) int { return bytes.Index(b, []byte("Exif\x00\x00\x00\x00")) + 8 }, false},
}

func exifHeaderAt(b []byte) int {
	for _, h := range []string{"Exif\x00\x00MM", "Exif\x00\x00II"} {
		if i := bytes.Index(b, []byte(h)); i >= 0 {
			return i + 6
		}
	}
	return -1
}

// xmpGPS matches the GPS properties ExifTool wrote into the XMP.
var xmpGPS = regexp.MustCompile(`<exif:GPS\w+>[^<]*</exif:GPS\w+>`)

// TestPhotos strips the real test photos and checks, with the tests' own
// EXIF reader, that exactly the GPS IFD, the maker note and the XMP GPS
// properties changed, everything else read the same, the size held, a
// second Find has nothing to do and the image still decodes the same.
func TestPhotos(t *testing.T) {
	for _, tc := range testPhotos {
		t.Run(tc.name, func(t *testing.T) {
			orig := tc.data()
			_, out := strip(t, orig)

			at := tc.tiffAt(orig)
			if at < 8 {
				t.Fatal("no EXIF in the test photo")
			}
			before, err := dumpEXIF(orig[at:])
			if err != nil {
				t.Fatalf("original EXIF: %v", err)
			}
			after, err := dumpEXIF(out[at:])
			if err != nil {
				t.Fatalf("stripped EXIF: %v", err)
			}

			// The test photo is what it claims to be.
			lat := before.tags["GPS"][2]
			if len(lat) != 24 || binary.BigEndian.Uint32(lat[16:])+binary.LittleEndian.Uint32(lat[16:]) == 0 {
				t.Fatalf("original GPSLatitude = %x", lat)
			}
			if _, ok := before.tags["Exif"][tagMakerNote]; !ok {
				t.Fatal("original has no MakerNote")
			}

			// GPS and maker note gone, nothing else.
			if _, ok := after.tags["GPS"]; ok {
				t.Error("stripped EXIF still has a GPS IFD")
			}
			for ifd, tags := range after.tags {
				for _, tag := range []uint16{tagGPSIFD, tagMakerNote} {
					if _, ok := tags[tag]; ok {
						t.Errorf("%s still has tag %#x", ifd, tag)
					}
				}
			}
			for ifd, tags := range before.tags {
				if ifd == "GPS" {
					continue
				}
				for tag, v := range tags {
					if tag == tagGPSIFD || tag == tagMakerNote {
						continue
					}
					if w, ok := after.tags[ifd][tag]; !ok || !bytes.Equal(v, w) {
						t.Errorf("%s tag %#x: %x became %x (present %v)", ifd, tag, v, w, ok)
					}
				}
			}
			if o := after.tags["IFD0"][0x0112]; len(o) != 2 || o[0]|o[1] != 1 {
				t.Errorf("Orientation = %x, want 1", o)
			}

			// Exactly those bytes changed, and the removed ones are zero.
			allowed := map[int]bool{}
			allow := func(r [2]int, wantZero bool) {
				for i := r[0]; i < r[1]; i++ {
					allowed[at+i] = true
					if wantZero && out[at+i] != 0 {
						t.Errorf("byte %d of a removed value is %#x", at+i, out[at+i])
					}
				}
			}
			allow(before.table["IFD0"], false)
			allow(before.table["Exif"], false)
			allow(before.table["GPS"], true)
			for _, r := range before.vals["GPS"] {
				allow(r, true)
			}
			allow(before.vals["Exif"][tagMakerNote], true)
			gpsXMP := xmpGPS.FindAllIndex(orig, -1)
			if len(gpsXMP) != 2 {
				t.Fatalf("original XMP has %d GPS properties, want 2", len(gpsXMP))
			}
			for _, r := range gpsXMP {
				for i := r[0]; i < r[1]; i++ {
					allowed[i] = true
					if out[i] != ' ' {
						t.Fatalf("XMP byte %d is %q, want a space", i, out[i])
					}
				}
			}
			if tc.name == "gps.png" { // the CRCs of eXIf and iTXt
				for _, typ := range []string{"eXIf", "iTXt"} {
					c := bytes.Index(orig, []byte(typ)) - 4
					end := c + 12 + int(binary.BigEndian.Uint32(orig[c:]))
					for i := end - 4; i < end; i++ {
						allowed[i] = true
					}
				}
				pngChunks(t, out)
			}
			for _, i := range changed(orig, out) {
				if !allowed[i] {
					t.Fatalf("byte %d changed outside GPS, MakerNote and their directories", i)
				}
			}
			if bytes.Contains(out, []byte("exif:GPS")) || bytes.Contains(out, []byte("Apple iOS")) {
				t.Error(`"exif:GPS" or the Apple maker note signature is still in the file`)
			}
			if !bytes.Contains(out, []byte("<rdf:li>mediaedge tests</rdf:li>")) {
				t.Error("XMP dc:creator lost")
			}

			// Idempotent: nothing left to find.
			if again, err := Find(bytes.NewReader(out), int64(len(out))); err != nil || again != nil {
				t.Errorf("second Find = %d patches, %v; want none", len(again), err)
			}

			if tc.goDecode {
				a, _, err1 := image.Decode(bytes.NewReader(orig))
				b, _, err2 := image.Decode(bytes.NewReader(out))
				if err1 != nil || err2 != nil {
					t.Fatalf("decode: %v, %v", err1, err2)
				}
				if !samePixels(a, b) {
					t.Error("pixels differ after stripping")
				}
			}
			checkWithVips(t, tc.name, orig, out)
		})
	}
}

func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if a.At(x, y) != b.At(x, y) {
				return false
			}
		}
	}
	return true
}

// checkWithVips decodes both files with libvips, when its command-line
// tools are installed: same average pixel, no GPS, and where libvips reads
// the EXIF (JPEG, PNG, WebP; 8.14 drops it from HEIF, where the irot box
// rules, and does not read it from JPEG XL) the same orientation, 1.
func checkWithVips(t *testing.T, name string, orig, out []byte) {
	if _, err := exec.LookPath("vips"); err != nil {
		t.Log("vips not on PATH: libvips decode not checked")
		return
	}
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		b, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return strings.TrimSpace(string(b))
	}
	var avg, orient [2]string
	for i, b := range [][]byte{orig, out} {
		p := filepath.Join(dir, string(rune('a'+i))+"-"+name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		avg[i] = lastLine(run("vips", "avg", p))
		all := run("vipsheader", "-a", p)
		if i == 1 && strings.Contains(all, "GPS") {
			t.Errorf("libvips still reads GPS:\n%s", all)
		}
		if strings.Contains(all, "exif-ifd0-Orientation") {
			orient[i] = lastLine(run("vipsheader", "-f", "exif-ifd0-Orientation", p))
			if !strings.HasPrefix(orient[i], "1 ") {
				t.Errorf("libvips reads orientation %q, want 1", orient[i])
			}
		}
	}
	if avg[0] != avg[1] || orient[0] != orient[1] {
		t.Errorf("libvips: avg %v, orientation %v; want them equal", avg, orient)
	}
}

func lastLine(s string) string { return s[strings.LastIndexByte(s, '\n')+1:] }

func TestNotAnImage(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":   nil,
		"short":   []byte("\xFF\xD8\xFF"),
		"text":    []byte("hello, this is not an image at all"),
		"gif":     []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
		"mp4":     append([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"), make([]byte, 32)...),
		"riff":    []byte("RIFF\x04\x00\x00\x00WAVEfmt "),
		"pngbomb": testmedia.PNGBomb(1<<20, 1<<20),
	} {
		ps, err := Find(bytes.NewReader(b), int64(len(b)))
		if ps != nil || err != nil {
			t.Errorf("%s: Find = %v, %v; want nil, nil", name, ps, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	err := Config{MaxSegment: 10, MaxBlocks: 1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "MaxSegment") || !strings.Contains(err.Error(), "MaxBlocks") {
		t.Errorf("Validate = %v, want both fields reported", err)
	}
	b := testmedia.GPSJPEG()
	if _, err := (Config{}).Find(bytes.NewReader(b), int64(len(b))); err == nil {
		t.Error("Find with a zero Config succeeded")
	}
}

func TestLimits(t *testing.T) {
	// A 70 KB XMP chunk in a WebP, with MaxSegment at 64 KiB.
	big := "<x:xmpmeta xmlns:x='adobe:ns:meta/'>" + strings.Repeat(" ", 70<<10) + "</x:xmpmeta>"
	b := webpWith([2]string{"XMP ", big})
	cfg := Config{MaxSegment: 64 << 10, MaxBlocks: 100}
	if _, err := cfg.Find(bytes.NewReader(b), int64(len(b))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("big XMP: %v, want ErrTooLarge", err)
	}
	// 200 empty COM segments before SOS, with MaxBlocks 100.
	var segs [][]byte
	for range 200 {
		segs = append(segs, []byte{0xFE})
	}
	j := jpegWith(t, segs...)
	if _, err := cfg.Find(bytes.NewReader(j), int64(len(j))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("many segments: %v, want ErrTooLarge", err)
	}
	// Both are fine with the defaults.
	for _, f := range [][]byte{b, j} {
		if _, err := Find(bytes.NewReader(f), int64(len(f))); err != nil {
			t.Errorf("defaults: %v", err)
		}
	}
}

// errReaderAt fails every read: Find reports the I/O error, not a format one.
type errReaderAt struct{ after int64 }

var errDisk = errors.New("disk on fire")

func (e errReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= e.after {
		return 0, errDisk
	}
	return copy(p, testmedia.GPSJPEG()[off:]), nil
}

func TestReadError(t *testing.T) {
	if _, err := Find(errReaderAt{after: 100}, 198686); !errors.Is(err, errDisk) {
		t.Errorf("Find = %v, want the read error", err)
	}
}
