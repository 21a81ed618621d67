package exifstrip

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
)

const pngSignature = "\x89PNG\r\n\x1a\n"

// pngVoid is the chunk type a text chunk becomes when its compressed
// location cannot be edited in place: ancillary (readers skip what they do
// not know), private, and unsafe to copy (editors drop it).
const pngVoid = "stRP"

// png walks the chunks up to IEND and edits, recomputing each changed
// chunk's CRC (4 bytes inside the chunk, so lengths do not change):
//
//   - eXIf: the TIFF structure, see stripTIFF;
//   - XMP (iTXt, tEXt or zTXt "XML:com.adobe.xmp") and ImageMagick's raw
//     profiles (keyword "Raw profile type exif", "... APP1", "... xmp": hex
//     text of an EXIF or XMP block): edited in place when stored
//     uncompressed. Compressed, the edited text is deflated again; for iTXt
//     it is put back if it fits, the spare bytes going into the translated
//     keyword as spaces. Otherwise the chunk is voided: renamed pngVoid,
//     data zeroed (its other text is lost, its location too).
func (f *finder) png() error {
	for pos := int64(len(pngSignature)); pos < f.size; {
		if err := f.block(); err != nil {
			return err
		}
		hdr, err := f.readAt(pos, min(8, f.size-pos))
		if err != nil {
			return err
		}
		if len(hdr) < 8 {
			return fmt.Errorf("PNG: chunk header at %d cut off: %w", pos, ErrMalformed)
		}
		n := int64(binary.BigEndian.Uint32(hdr))
		typ := string(hdr[4:8])
		if n > 1<<31-1 || n+12 > f.size-pos {
			return fmt.Errorf("PNG: %s chunk at %d runs past the end: %w", typ, pos, ErrMalformed)
		}
		switch typ {
		case "IEND":
			return nil
		case "eXIf":
			g, err := f.segment(pos, n+12, "PNG eXIf")
			if err != nil {
				return err
			}
			if err := f.stripTIFF(g.buf[8:8+n], 0); err != nil {
				return fmt.Errorf("PNG eXIf at %d: %w", pos, err)
			}
			f.pngCommit(g)
		case "tEXt", "zTXt", "iTXt":
			kw, err := f.readAt(pos+8, min(n, 80))
			if err != nil {
				return err
			}
			if i := bytes.IndexByte(kw, 0); i < 0 || pngTextKind(string(kw[:i])) == "" {
				break
			}
			g, err := f.segment(pos, n+12, "PNG "+typ)
			if err != nil {
				return err
			}
			if err := f.pngText(g); err != nil {
				return fmt.Errorf("PNG %s at %d: %w", typ, pos, err)
			}
			f.pngCommit(g)
		}
		pos += n + 12
	}
	return nil
}

// pngCommit recomputes the CRC of the chunk in g, if it changed, and
// commits it.
func (f *finder) pngCommit(g *region) {
	if !bytes.Equal(g.buf, g.orig) {
		n := len(g.buf) - 12
		binary.BigEndian.PutUint32(g.buf[8+n:], crc32.ChecksumIEEE(g.buf[4:8+n]))
	}
	f.commit(g)
}

// pngTextKind says what a text chunk keyword holds: "xmp", "exif" or "".
func pngTextKind(keyword string) string {
	switch keyword {
	case "XML:com.adobe.xmp", "Raw profile type xmp":
		return "xmp"
	case "Raw profile type exif", "Raw profile type APP1":
		return "exif"
	}
	return ""
}

// pngText edits the text chunk in g (whole chunk: length, type, data, CRC).
func (f *finder) pngText(g *region) error {
	typ := string(g.buf[4:8])
	data := g.buf[8 : len(g.buf)-4]
	i := bytes.IndexByte(data, 0)
	keyword := string(data[:i])
	rest := data[i+1:]
	compressed := false
	var transEnd int // iTXt: index in rest just past the translated keyword's NUL
	switch typ {
	case "zTXt":
		if len(rest) < 1 || rest[0] != 0 {
			return fmt.Errorf("compression method: %w", ErrMalformed)
		}
		rest, compressed = rest[1:], true
	case "iTXt":
		if len(rest) < 2 || rest[0] > 1 || rest[1] != 0 {
			return fmt.Errorf("compression flag or method: %w", ErrMalformed)
		}
		compressed = rest[0] == 1
		lang := bytes.IndexByte(rest[2:], 0)
		if lang < 0 {
			return fmt.Errorf("language tag: %w", ErrMalformed)
		}
		trans := bytes.IndexByte(rest[2+lang+1:], 0)
		if trans < 0 {
			return fmt.Errorf("translated keyword: %w", ErrMalformed)
		}
		transEnd = 2 + lang + 1 + trans + 1
		rest = rest[transEnd:]
	}
	text := rest
	if compressed {
		var err error
		if text, err = f.inflate(rest); err != nil {
			return err
		}
	}
	edited := bytes.Clone(text)
	var err error
	if keyword == "XML:com.adobe.xmp" {
		err = blankXMP(edited)
	} else {
		err = f.rawProfile(edited, pngTextKind(keyword))
	}
	if err != nil {
		return err
	}
	if bytes.Equal(edited, text) {
		return nil
	}
	if !compressed {
		copy(rest, edited)
		return nil
	}
	if typ == "iTXt" {
		var z bytes.Buffer
		zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
		_, _ = zw.Write(edited)
		_ = zw.Close()
		if pad := len(rest) - z.Len(); pad >= 0 {
			// rest starts after the translated keyword's NUL: move the NUL
			// right by pad, spaces before it, the new stream after it.
			body := data[i+1:]
			for k := transEnd - 1; k < transEnd-1+pad; k++ {
				body[k] = ' '
			}
			body[transEnd-1+pad] = 0
			copy(body[transEnd+pad:], z.Bytes())
			return nil
		}
	}
	copy(g.buf[4:8], pngVoid)
	clear(data)
	return nil
}

// inflate decompresses a zlib stream of at most MaxSegment bytes out.
func (f *finder) inflate(b []byte) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("zlib: %w: %v", ErrMalformed, err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, f.cfg.MaxSegment+1))
	if err != nil {
		return nil, fmt.Errorf("zlib: %w: %v", ErrMalformed, err)
	}
	if int64(len(out)) > f.cfg.MaxSegment {
		return nil, fmt.Errorf("text inflates past %d bytes: %w", f.cfg.MaxSegment, ErrTooLarge)
	}
	return out, nil
}

// rawProfile edits, in place, an ImageMagick raw profile: "\n", the
// profile name, "\n", the decoded length in decimal, "\n", then the bytes
// as hex digits broken by newlines. Changed bytes are written back as hex
// in the same places, so the text keeps its length.
func (f *finder) rawProfile(text []byte, kind string) error {
	p := 0
	field := func() []byte {
		for p < len(text) && (text[p] == '\n' || text[p] == ' ') {
			p++
		}
		s := p
		for p < len(text) && text[p] != '\n' {
			p++
		}
		return bytes.TrimSpace(text[s:p])
	}
	_ = field() // the profile name
	n, err := strconv.Atoi(string(field()))
	if err != nil || n < 0 || int64(n) > f.cfg.MaxSegment || n > len(text) {
		return fmt.Errorf("raw profile length: %w", ErrMalformed)
	}
	bin := make([]byte, n)
	at := make([]int, n) // where the hex of each byte starts
	for k := 0; k < n; k++ {
		for p < len(text) && (text[p] == '\n' || text[p] == ' ' || text[p] == '\r') {
			p++
		}
		if p+1 >= len(text) {
			return fmt.Errorf("raw profile cut off at byte %d of %d: %w", k, n, ErrMalformed)
		}
		hi, ok1 := unhex(text[p])
		lo, ok2 := unhex(text[p+1])
		if !ok1 || !ok2 {
			return fmt.Errorf("raw profile: not hex at %d: %w", p, ErrMalformed)
		}
		bin[k], at[k] = hi<<4|lo, p
		p += 2
	}
	edited := bytes.Clone(bin)
	switch {
	case kind == "xmp":
		err = blankXMP(edited)
	case bytes.HasPrefix(edited, []byte(sigXMP)): // an APP1 profile can be XMP too
		err = blankXMP(edited[len(sigXMP):])
	case bytes.HasPrefix(edited, []byte(sigExif)) && len(edited) > len(sigExif):
		err = f.stripTIFF(edited[len(sigExif)+1:], 0)
	default:
		err = f.stripTIFF(edited, 0)
	}
	if err != nil {
		return err
	}
	const digits = "0123456789abcdef"
	for k := range edited {
		if edited[k] != bin[k] {
			text[at[k]], text[at[k]+1] = digits[edited[k]>>4], digits[edited[k]&15]
		}
	}
	return nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
