package mediatype

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"strings"
)

// SniffLen is how many leading bytes Sniff looks at (what
// http.DetectContentType reads; enough for every signature here).
const SniffLen = 512

// Sniff returns the content type of data's first bytes: without parameters
// for binary types, with the charset for the text types net/http names.
// Empty data is application/octet-stream: there is nothing to call text.
func Sniff(b []byte) string {
	if len(b) > SniffLen {
		b = b[:SniffLen]
	}
	if len(b) == 0 {
		return "application/octet-stream"
	}
	if ct := sniffISOBMFF(b); ct != "" {
		return ct
	}
	if len(b) >= 4 && bytes.Equal(b[:4], []byte{0x1a, 0x45, 0xdf, 0xa3}) {
		// EBML: the DocType element names webm or matroska.
		if bytes.Contains(b, []byte("webm")) {
			return "video/webm"
		}
		return "video/x-matroska"
	}
	ct := http.DetectContentType(b)
	switch {
	case strings.HasPrefix(ct, "text/xml"), strings.HasPrefix(ct, "text/plain"):
		// net/http has no SVG rule: an XML (or bare) document whose root is
		// <svg is an image a browser would run script in.
		if isSVG(b) {
			return "image/svg+xml"
		}
	case ct == "application/ogg":
		// The WHATWG name for any Ogg; the media we take are audio or video,
		// and audio/ogg is what browsers play in <audio> and <video> alike.
		return "audio/ogg"
	case ct == "audio/wave":
		return "audio/wav"
	case ct == "application/octet-stream":
		if mt := sniffMPEGAudio(b); mt != "" {
			return mt
		}
		// TIFF (net/http has no rule for it): little- or big-endian byte
		// order mark, then 42. The transform pipeline reads TIFF, so an
		// upload must not be refused as an unknown type.
		if len(b) >= 4 && (string(b[:4]) == "II*\x00" || string(b[:4]) == "MM\x00*") {
			return "image/tiff"
		}
	}
	return ct
}

// sniffISOBMFF names ISO base media files (MP4, MOV, AVIF, HEIC, 3GP, M4A)
// from their ftyp box: the major brand, then the compatible brands, since
// several encoders write AVIF and HEIC with the generic major brand mif1 and
// the precise one only among the compatible brands.
func sniffISOBMFF(b []byte) string {
	if len(b) < 12 || string(b[4:8]) != "ftyp" {
		return ""
	}
	size := int(binary.BigEndian.Uint32(b[:4]))
	if size < 16 || size > len(b) {
		size = len(b) // a box larger than the sniffed bytes: use what we have
	}
	brands := []string{string(b[8:12])}
	for i := 16; i+4 <= size; i += 4 { // 12..16 is the minor version
		brands = append(brands, string(b[i:i+4]))
	}
	has := func(names ...string) bool {
		for _, br := range brands {
			for _, n := range names {
				if br == n {
					return true
				}
			}
		}
		return false
	}
	switch major := brands[0]; {
	case major == "avif" || major == "avis":
		return "image/avif"
	case major == "qt  ":
		return "video/quicktime"
	case major == "M4A " || major == "M4B ":
		return "audio/mp4"
	case strings.HasPrefix(major, "3g"):
		return "video/3gpp"
	case has("avif", "avis"):
		return "image/avif"
	case has("heic", "heix", "heim", "heis", "hevc", "hevx"):
		return "image/heic"
	case has("mif1", "msf1"):
		return "image/heif"
	}
	return "video/mp4"
}

// sniffMPEGAudio recognises MP3 without an ID3 tag (net/http knows only the
// tagged form) and ADTS AAC, from the 11-bit frame sync and the layer bits.
func sniffMPEGAudio(b []byte) string {
	if len(b) < 3 || b[0] != 0xff || b[1]&0xe0 != 0xe0 {
		return ""
	}
	version, layer := (b[1]>>3)&3, (b[1]>>1)&3
	switch {
	case layer == 0 && b[1]&0xf6 == 0xf0: // ADTS: 12-bit sync, layer 00
		return "audio/aac"
	case version != 1 && layer == 1 && b[2]>>4 != 0xf: // MPEG audio layer III, a valid bitrate
		return "audio/mpeg"
	}
	return ""
}

func isSVG(b []byte) bool {
	s := bytes.ToLower(b)
	i := bytes.Index(s, []byte("<svg"))
	if i < 0 {
		return false
	}
	// Only comments, the XML declaration and a doctype may come before it.
	pre := s[:i]
	return !bytes.Contains(pre, []byte("<html")) && !bytes.Contains(pre, []byte("<body"))
}

// Executable reports whether a browser could run script in content of this
// type if it were served inline from our origin: HTML, SVG, any XML (XSLT
// and XHTML run script), JavaScript, and PDF (viewers run embedded script).
// The edge serves these as attachments.
func Executable(contentType string) bool {
	ct := strings.ToLower(strings.TrimSpace(contentType))
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	switch ct {
	case "text/html", "image/svg+xml", "text/xml", "application/xml", "application/xhtml+xml",
		"text/javascript", "application/javascript", "application/x-javascript", "application/ecmascript",
		"text/ecmascript", "text/xsl", "application/xslt+xml", "application/pdf":
		return true
	}
	return strings.HasSuffix(ct, "+xml")
}
