package exifstrip

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// blankXMP overwrites with spaces, in place, every element and every
// attribute of the XMP packet p whose local name starts with "GPS" in any
// case: exif:GPSLatitude, exif:GPSLongitude, exif:GPSAltitude, the other
// exif:GPS* properties, and the same names other vendors use
// (drone-dji:GpsLatitude). A blanked element takes its children with it.
// Whitespace is what XML and RDF ignore between elements and between
// attributes, so the packet stays well-formed, keeps its length, and every
// other property (creator, title, rights, ...) is still read.
//
// The packet must be well-formed XML (UTF-8, as JPEG, PNG iTXt, WebP and
// HEIF require): otherwise ErrMalformed and p is untouched. Trailing NULs,
// which some writers pad packets with, are ignored.
func blankXMP(p []byte) error {
	doc := bytes.TrimRight(p, "\x00")
	var cut [][2]int64
	d := xml.NewDecoder(bytes.NewReader(bytes.Clone(doc)))
	depth := 0
	from, fromDepth := int64(-1), 0 // start of the GPS element being skipped
	for {
		start := d.InputOffset()
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("XMP: %w: %v", ErrMalformed, err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			depth++
			if from >= 0 {
				continue
			}
			if isGPSName(tok.Name.Local) {
				from, fromDepth = start, depth
				continue
			}
			for _, a := range gpsAttrs(doc[start:d.InputOffset()]) {
				cut = append(cut, [2]int64{start + int64(a[0]), start + int64(a[1])})
			}
		case xml.EndElement:
			if from >= 0 && depth == fromDepth {
				cut = append(cut, [2]int64{from, d.InputOffset()})
				from = -1
			}
			depth--
		}
	}
	if from >= 0 || depth != 0 {
		return fmt.Errorf("XMP: unclosed element: %w", ErrMalformed)
	}
	for _, c := range cut {
		for i := c[0]; i < c[1]; i++ {
			p[i] = ' '
		}
	}
	return nil
}

func isGPSName(local string) bool {
	return len(local) >= 3 && strings.EqualFold(local[:3], "gps")
}

// gpsAttrs returns the byte ranges, within the start tag tag (from '<' to
// '>', already checked well-formed by the decoder), of the attributes whose
// local name is a GPS name, each from the name to the closing quote.
// Namespace declarations (xmlns:gps="...") are never blanked: elements may
// use the prefix.
func gpsAttrs(tag []byte) [][2]int {
	var out [][2]int
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
	i := 1
	for i < len(tag) && !isSpace(tag[i]) && tag[i] != '/' && tag[i] != '>' {
		i++ // the element name
	}
	for i < len(tag) {
		for i < len(tag) && isSpace(tag[i]) {
			i++
		}
		if i >= len(tag) || tag[i] == '/' || tag[i] == '>' {
			break
		}
		nameStart := i
		for i < len(tag) && tag[i] != '=' && !isSpace(tag[i]) {
			i++
		}
		name := tag[nameStart:i]
		for i < len(tag) && tag[i] != '\'' && tag[i] != '"' {
			i++ // blanks and '='
		}
		if i >= len(tag) {
			break
		}
		end := bytes.IndexByte(tag[i+1:], tag[i])
		if end < 0 {
			break
		}
		i += 1 + end + 1
		local := name
		if c := bytes.LastIndexByte(name, ':'); c >= 0 {
			local = name[c+1:]
		}
		if isGPSName(string(local)) && !bytes.HasPrefix(name, []byte("xmlns")) {
			out = append(out, [2]int{nameStart, i})
		}
	}
	return out
}
