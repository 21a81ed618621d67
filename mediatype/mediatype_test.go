package mediatype

import "testing"

func TestSniff(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string
	}{
		{"jpeg", "\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"},
		{"png", "\x89PNG\r\n\x1a\n\x00\x00", "image/png"},
		{"gif87", "GIF87a\x01\x00", "image/gif"},
		{"gif89", "GIF89a\x01\x00", "image/gif"},
		{"webp", "RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"},
		{"avif", "\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "image/avif"},
		{"avif sequence", "\x00\x00\x00\x1cftypavis\x00\x00\x00\x00avismif1miaf", "image/avif"},
		{"avif with mif1 major brand", "\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf", "image/avif"},
		{"heic", "\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "image/heic"},
		{"heic with mif1 major brand", "\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic", "image/heic"},
		{"heif", "\x00\x00\x00\x14ftypmif1\x00\x00\x00\x00mif1", "image/heif"},
		{"mp4 isom", "\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41", "video/mp4"},
		{"mp4 mp42", "\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", "video/mp4"},
		{"mov", "\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ", "video/quicktime"},
		{"m4a", "\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A mp42", "audio/mp4"},
		{"3gp", "\x00\x00\x00\x14ftyp3gp4\x00\x00\x00\x003gp4", "video/3gpp"},
		{"webm", "\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video/webm"},
		{"mkv", "\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska", "video/x-matroska"},
		{"mp3 id3", "ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"},
		{"mp3 frame", "\xff\xfb\x90\x64\x00\x00\x00\x00", "audio/mpeg"},
		{"mp3 mpeg2 frame", "\xff\xf3\x40\xc4\x00\x00\x00\x00", "audio/mpeg"},
		{"aac adts", "\xff\xf1\x50\x80\x02\x1f\xfc", "audio/aac"},
		{"ogg", "OggS\x00\x02\x00\x00\x00\x00", "audio/ogg"},
		{"wav", "RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"},
		{"pdf", "%PDF-1.7\n", "application/pdf"},
		{"svg", `<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>`, "image/svg+xml"},
		{"tiff little-endian", "II*\x00\x08\x00\x00\x00", "image/tiff"},
		{"tiff big-endian", "MM\x00*\x00\x00\x00\x08", "image/tiff"},
		{"bare svg", `<svg xmlns="http://www.w3.org/2000/svg"></svg>`, "image/svg+xml"},
		{"svg after doctype", "<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\">\n<svg></svg>", "image/svg+xml"},
		{"html", "<!DOCTYPE html><html></html>", "text/html; charset=utf-8"},
		{"html with inline svg", "<html><body><svg></svg></body></html>", "text/html; charset=utf-8"},
		{"xml", `<?xml version="1.0"?><rss></rss>`, "text/xml; charset=utf-8"},
		{"text", "hello world", "text/plain; charset=utf-8"},
		{"binary", "\x00\x01\x02\x03\xfe", "application/octet-stream"},
		{"empty", "", "application/octet-stream"},
		{"short ftyp", "\x00\x00\x00\x08ftyp", "application/octet-stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sniff([]byte(tt.data)); got != tt.want {
				t.Errorf("Sniff(%q) = %q, want %q", tt.data, got, tt.want)
			}
		})
	}
}

// TestSniffLooksOnlyAtHead checks that bytes past SniffLen do not change the
// answer (the store sniffs only the first chunk's head).
func TestSniffLooksOnlyAtHead(t *testing.T) {
	b := make([]byte, SniffLen+100)
	copy(b, "\x89PNG\r\n\x1a\n")
	copy(b[SniffLen:], "<svg")
	if got := Sniff(b); got != "image/png" {
		t.Fatalf("Sniff = %q", got)
	}
}

func TestExecutable(t *testing.T) {
	tests := []struct {
		ct   string
		want bool
	}{
		{"text/html; charset=utf-8", true},
		{"TEXT/HTML", true},
		{"image/svg+xml", true},
		{"text/xml; charset=utf-8", true},
		{"application/xml", true},
		{"application/xhtml+xml", true},
		{"application/rss+xml", true},
		{"text/javascript", true},
		{"application/javascript", true},
		{"application/pdf", true},
		{"image/png", false},
		{"image/avif", false},
		{"video/mp4", false},
		{"audio/mpeg", false},
		{"text/plain; charset=utf-8", false},
		{"application/json", false},
		{"application/octet-stream", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := Executable(tt.ct); got != tt.want {
			t.Errorf("Executable(%q) = %v, want %v", tt.ct, got, tt.want)
		}
	}
}
