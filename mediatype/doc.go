// Package mediatype names a file's content type from its first bytes, never
// from what a client claims, and says which types a browser could execute.
//
// Sniff starts from net/http.DetectContentType (the WHATWG MIME sniffing
// algorithm: JPEG, PNG, GIF, WebP, BMP, ICO, PDF, HTML, XML, MP3 with ID3,
// Ogg, WAV, AVI, fonts, archives, text) and adds what a media CDN sees that
// it does not know: the ISO base media family by ftyp brand (MP4, MOV, 3GP,
// M4A, AVIF, HEIC/HEIF — major and compatible brands), Matroska/WebM, MP3
// without an ID3 tag, ADTS AAC and SVG. Hand-written only for those; the
// table in net/http stays the reference for the rest.
//
// Executable is the list the edge uses to serve a type as an attachment
// (Content-Disposition: attachment) so that an uploaded HTML or SVG file can
// never run script on the media origin.
package mediatype
