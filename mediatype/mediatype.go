// Package mediatype names a file's content type from its first bytes, never
// from what a client claims: net/http.DetectContentType (the WHATWG sniffing
// algorithm) plus the media formats it does not know (AVIF, HEIC, MP4/MOV,
// Matroska, SVG), and says which types a browser could execute.
package mediatype

import (
	"bytes"
	"net/http"
	"strings"
)

// SniffLen is how many leading bytes Sniff looks at.
const SniffLen = 512

// Sniff returns the content type of data's first bytes (without parameters
// for binary types; text types keep their charset).
func Sniff(b []byte) string {
	if len(b) > SniffLen {
		b = b[:SniffLen]
	}
	if len(b) >= 12 && string(b[4:8]) == "ftyp" {
		brand := string(b[8:12])
		switch brand {
		case "avif", "avis":
			return "image/avif"
		case "heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1":
			return "image/heic"
		case "qt  ":
			return "video/quicktime"
		case "M4A ", "M4B ":
			return "audio/mp4"
		}
		return "video/mp4"
	}
	if len(b) >= 4 && bytes.Equal(b[:4], []byte{0x1a, 0x45, 0xdf, 0xa3}) {
		if bytes.Contains(b, []byte("webm")) {
			return "video/webm"
		}
		return "video/x-matroska"
	}
	ct := http.DetectContentType(b)
	if strings.HasPrefix(ct, "text/xml") || strings.HasPrefix(ct, "text/plain") {
		trimmed := bytes.TrimSpace(bytes.ToLower(b))
		if bytes.Contains(trimmed, []byte("<svg")) {
			return "image/svg+xml"
		}
	}
	switch ct {
	case "application/ogg":
		return "audio/ogg"
	case "audio/wave":
		return "audio/wav"
	}
	return ct
}

// Executable reports whether a browser could run script in content of this
// type if it were served inline from our origin.
func Executable(contentType string) bool {
	ct := strings.ToLower(strings.TrimSpace(contentType))
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	switch ct {
	case "text/html", "image/svg+xml", "text/xml", "application/xml", "application/xhtml+xml",
		"text/javascript", "application/javascript", "application/x-javascript", "text/xsl", "application/pdf":
		return true
	}
	return strings.HasSuffix(ct, "+xml")
}
