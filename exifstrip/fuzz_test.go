package exifstrip

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/mediaedge/mediaedge/internal/testmedia"
)

// FuzzFind: no input makes Find panic or hang; when it succeeds its patches
// are sorted, disjoint, inside the file and keep its size, and Find on the
// patched file finds nothing more (so a second upload of a stripped file is
// left byte-exact).
func FuzzFind(f *testing.F) {
	tiffMM := string(photoTIFF(binary.BigEndian).b)
	tiffII := photoTIFF(binary.LittleEndian).b
	f.Add(testmedia.GPSWebP())
	f.Add(testmedia.GPSAVIF())
	f.Add(testmedia.GPSJXL())
	f.Add(jpegWith(f, app1("Exif\x00\x00", tiffMM), app1(sigXMP, gpsXMP)))
	f.Add(pngWith(f, [][]byte{pngChunk("eXIf", tiffII), pngChunk("iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00"+gpsXMP))}, nil))
	f.Add(pngWith(f, [][]byte{pngChunk("zTXt", append([]byte("Raw profile type exif\x00\x00"),
		deflate([]byte(rawProfile("exif", append([]byte("Exif\x00\x00"), tiffII...))))...))}, nil))
	f.Add(webpWith([2]string{"EXIF", "Exif\x00\x00" + tiffMM}, [2]string{"XMP ", gpsXMP}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := Find(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if ps != nil {
				t.Fatalf("patches with an error: %v", err)
			}
			return
		}
		checkPatches(t, ps, int64(len(b)))
		out, err := io.ReadAll(Apply(bytes.NewReader(b), ps))
		if err != nil || len(out) != len(b) {
			t.Fatalf("Apply: %d bytes, %v", len(out), err)
		}
		again, err := Find(bytes.NewReader(out), int64(len(out)))
		if err != nil || again != nil {
			t.Fatalf("second Find: %d patches, %v", len(again), err)
		}
	})
}
