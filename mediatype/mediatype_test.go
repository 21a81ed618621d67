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
		{"gif", "GIF89a\x01\x00", "image/gif"},
		{"webp", "RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"},
		{"avif", "\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", "image/avif"},
		{"heic", "\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "image/heic"},
		{"mp4", "\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "video/mp4"},
		{"mov", "\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "video/quicktime"},
		{"webm", "\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm", "video/webm"},
		{"pdf", "%PDF-1.7\n", "application/pdf"},
		{"svg", `<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>`, "image/svg+xml"},
		{"bare svg", `<svg xmlns="http://www.w3.org/2000/svg"></svg>`, "image/svg+xml"},
		{"html", "<!DOCTYPE html><html></html>", "text/html; charset=utf-8"},
		{"text", "hello world", "text/plain; charset=utf-8"},
		{"binary", "\x00\x01\x02\x03\xfe", "application/octet-stream"},
		{"empty", "", "text/plain; charset=utf-8"},
	}
	for _, tt := range tests {
		if got := Sniff([]byte(tt.data)); got != tt.want {
			t.Errorf("%s: Sniff = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestExecutable(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/html; charset=utf-8": true, "image/svg+xml": true, "text/xml; charset=utf-8": true,
		"application/xhtml+xml": true, "application/rss+xml": true, "application/pdf": true,
		"image/png": false, "video/mp4": false, "text/plain; charset=utf-8": false, "application/json": false,
	} {
		if Executable(ct) != want {
			t.Errorf("Executable(%q) != %v", ct, want)
		}
	}
}
