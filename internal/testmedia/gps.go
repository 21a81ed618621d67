package testmedia

import _ "embed"

// Real photos that carry a location, made as testdata/README.md says: EXIF
// GPS IFD, an Apple MakerNote, Orientation 1 and XMP exif:GPSLatitude and
// exif:GPSLongitude. The functions below return fresh copies, so tests may
// edit them in place.
var (
	//go:embed testdata/gps.jpg
	gpsJPEG []byte
	//go:embed testdata/gps.png
	gpsPNG []byte
	//go:embed testdata/gps.webp
	gpsWebP []byte
	//go:embed testdata/gps.avif
	gpsAVIF []byte
	//go:embed testdata/gps.heic
	gpsHEIC []byte
	//go:embed testdata/gps.jxl
	gpsJXL []byte
)

// The location written into the GPS test photos:
// 15° 50' 7.99" S, 48° 0' 56.85" W, 1172 m.
const (
	GPSLatitude  = -(15 + 50.0/60 + 7.99/3600)
	GPSLongitude = -(48 + 0.0/60 + 56.85/3600)
	GPSAltitude  = 1172
)

// GPSJPEG returns a copy of testdata/gps.jpg: 1600x1200, big-endian EXIF
// with a GPS IFD, MakerNote and an IFD1 thumbnail, plus XMP with GPS.
func GPSJPEG() []byte { return append([]byte(nil), gpsJPEG...) }

// GPSPNG returns a copy of testdata/gps.png: 320x240, EXIF in an eXIf chunk
// before IDAT, XMP in an uncompressed iTXt chunk.
func GPSPNG() []byte { return append([]byte(nil), gpsPNG...) }

// GPSWebP returns a copy of testdata/gps.webp: 320x240 VP8X, little-endian
// EXIF in an EXIF chunk, XMP in an "XMP " chunk.
func GPSWebP() []byte { return append([]byte(nil), gpsWebP...) }

// GPSAVIF returns a copy of testdata/gps.avif: 320x240 AVIF, EXIF in an
// Exif item and XMP in a mime item, both located by iloc in the file.
func GPSAVIF() []byte { return append([]byte(nil), gpsAVIF...) }

// GPSHEIC returns a copy of testdata/gps.heic: the same as HEVC-coded HEIC.
func GPSHEIC() []byte { return append([]byte(nil), gpsHEIC...) }

// GPSJXL returns a copy of testdata/gps.jxl: 320x240 JPEG XL in the box
// container, with the little-endian EXIF of gps.webp in an "Exif" box and
// the XMP in an "xml " box.
func GPSJXL() []byte { return append([]byte(nil), gpsJXL...) }
