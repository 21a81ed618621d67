package transform

import (
	"encoding/binary"
	"fmt"
)

// VP8X flags that announce metadata chunks (WebP container specification).
const (
	vp8xICC  = 0x20
	vp8xEXIF = 0x08
	vp8xXMP  = 0x04
)

// dropWebPMetadata removes the EXIF, XMP and ICCP chunks of a WebP file and
// the VP8X flags that announce them. libvips 8.14's webpsave ignores "strip"
// and, worse, rebuilds an EXIF block from the image (orientation,
// resolution, dimensions) when the image has none, so even a stripped image
// comes out with an EXIF chunk; the pixels, animation and alpha chunks are
// kept byte for byte. b is the saver's output, never a client's, so a
// malformed container is our bug, reported as an error.
func dropWebPMetadata(b []byte) ([]byte, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return nil, fmt.Errorf("webp: not a RIFF WEBP container")
	}
	out := make([]byte, 12, len(b))
	copy(out, b[:12])
	for i := 12; i < len(b); {
		if i+8 > len(b) {
			return nil, fmt.Errorf("webp: truncated chunk header at %d", i)
		}
		n := int(binary.LittleEndian.Uint32(b[i+4:]))
		end := i + 8 + n + n%2 // chunks are padded to an even size
		if n < 0 || end > len(b) || end < i {
			return nil, fmt.Errorf("webp: chunk %q of %d bytes overruns the file", b[i:i+4], n)
		}
		switch string(b[i : i+4]) {
		case "EXIF", "XMP ", "ICCP":
		case "VP8X":
			at := len(out)
			out = append(out, b[i:end]...)
			if n > 0 {
				out[at+8] &^= vp8xICC | vp8xEXIF | vp8xXMP
			}
		default:
			out = append(out, b[i:end]...)
		}
		i = end
	}
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
	return out, nil
}
