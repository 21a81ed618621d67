// Package exifstrip removes location and maker notes from image files
// without moving a byte: Find returns patches, each the same length as what
// it replaces, and Apply (or ApplyTo, one stored chunk at a time) writes
// them. The file keeps its size and every offset in it, so an upload stored
// as fixed-size chunks is fixed by rewriting only the chunks the patches
// touch and re-hashing, and the image decodes exactly as before: pixels,
// ICC profile and orientation are untouched.
//
// # What is removed
//
//   - EXIF (JPEG APP1, PNG eXIf, WebP EXIF, HEIF/AVIF Exif items, JPEG XL
//     Exif boxes, the EXIF of a JPEG's thumbnail and of the further images
//     of a multi-picture JPEG): the GPS IFD and the maker note. Their
//     entries are taken out of the directory that holds them (IFD0, the
//     Exif IFD; the entries behind move up, the count drops) and their
//     bytes are zeroed. Orientation, the
//     dates, camera make and model, the thumbnail and every other tag stay.
//     Maker notes go because they are opaque: several vendors' carry a
//     location or a serial number, and we cannot tell which.
//   - XMP (JPEG APP1 and extended XMP, PNG iTXt/tEXt/zTXt, WebP "XMP ", HEIF
//     mime items, JPEG XL "xml " boxes): every element and attribute named
//     GPS* (exif:GPSLatitude, drone-dji:GpsLongitude, ...) is overwritten
//     with spaces.
//   - ImageMagick's "Raw profile type exif/APP1/xmp" PNG text chunks: the
//     same, through their hex.
//
// Textual places (IPTC City, photoshop:State, Iptc4xmpExt:LocationShown)
// are kept: the photographer typed them to be published.
//
// Not handled, Find returns nil for them: video (MP4 and QuickTime keep
// location in moov/udta and mdta keys), TIFF and camera raw files (the
// whole file is the EXIF structure, values anywhere in it), GIF (no EXIF).
// Not looked at: JPEG segments after the first scan (no reader we know
// reads them) and the copies of EXIF and XMP a Photoshop APP13 resource
// block may hold. A Brotli-compressed JPEG XL Exif or XMP box, and a HEIF
// item built from other items, are ErrUnsupported.
//
// # Why these choices
//
// Removing the entry rather than keeping the pointer to a zeroed GPS IFD
// (entry count 0): a GPS IFD without entries is not well-formed (TIFF 6.0:
// an IFD has at least one entry; `exiftool -validate` reports the missing
// GPSVersionID). Rather than renaming the 0x8825 tag to a harmless one: the
// directory is then out of order and the new tag sits in the wrong IFD,
// four more warnings. Moving the entries up inside the directory's own
// table is invisible to readers: on the test photos `exiftool -validate`
// reports exactly what it reported for the original, ExifTool and libvips
// read the rest of the EXIF as before, and libvips, FFmpeg and Chromium
// decode the images.
//
// Blanking the GPS properties of XMP rather than the whole packet: a packet
// of spaces is not XMP (`exiftool -validate`: "Invalid XMP"), and the rest
// of it (creator, rights, title, edit history, Lightroom settings) is what
// photographers care about. Whitespace between XML elements and attributes
// is insignificant, so the packet keeps its length and stays well-formed.
// An XMP packet that is not well-formed is ErrMalformed, not skipped: we
// cannot tell where its GPS properties are.
//
// A compressed PNG text chunk cannot be edited in place. An iTXt is
// deflated again with the edit, and the bytes it saves are given to its
// translated-keyword field as spaces; when that is impossible (zTXt has no
// such field, or the new stream is longer) the chunk is voided: renamed to
// the unknown ancillary type "stRP", which readers skip, and its data
// zeroed. PNG chunk CRCs are recomputed; they sit inside the chunk.
//
// # Hostile input
//
// Find reads block headers and metadata segments only, each bounded by
// Config.MaxSegment (1 MiB) and the number of blocks by Config.MaxBlocks;
// every offset from the file is checked in 64-bit arithmetic before use;
// IFD chains are followed once each (a loop ends the walk) and at most 16
// IFDs are read; embedded images (thumbnail, MPF images) are followed one
// level deep. Structures Find cannot read to the end, where location might
// hide, make it return ErrMalformed and no patches, never a partial result:
// the caller cannot then promise the file is clean and should refuse it.
// FuzzFind checks that no input panics and that Find on its own output finds
// nothing more.
//
// # Dependencies
//
// None beyond the standard library: encoding/xml gives the byte offsets of
// XML tokens (Decoder.InputOffset) the XMP edit needs, compress/zlib and
// hash/crc32 cover PNG. The EXIF libraries for Go (rwcarlsen/goexif,
// dsoprea/go-exif) parse into values and re-serialise, which moves offsets;
// none edits in place, and their walkers are larger than the one here.
package exifstrip
