package video

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mediaedge/mediaedge/internal/testmedia"
	"github.com/mediaedge/mediaedge/transform"
)

// mp4Tags reads the container (format) tags and every stream's tags of an
// MP4 with ffprobe, as a player or a metadata scraper would see them.
func mp4Tags(t *testing.T, path string) (format map[string]string, streams []map[string]string) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format_tags:stream_tags", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p struct {
		Format  struct{ Tags map[string]string }
		Streams []struct{ Tags map[string]string }
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Streams {
		streams = append(streams, s.Tags)
	}
	return p.Format.Tags, streams
}

// checkNoTags fails on any container tag but the MP4 brand ones, any
// stream tag but the track's handler, vendor, language and compressor name
// (which ffmpeg sets to the codec, "Lavc libx264": no version, nothing of
// the source), and any of secrets in the bytes. lavfOK allows the
// container's "encoder" tag (the libavformat version), which ffmpeg 5.1's
// HLS muxer writes into its init segment whatever -fflags +bitexact says:
// it sets its fMP4 sub-muxer's flags itself.
func checkNoTags(t *testing.T, path string, lavfOK bool, secrets ...string) {
	t.Helper()
	format, streams := mp4Tags(t, path)
	for k, v := range format {
		if !slices.Contains([]string{"major_brand", "minor_version", "compatible_brands"}, k) &&
			!(lavfOK && k == "encoder" && strings.HasPrefix(v, "Lavf")) {
			t.Errorf("%s: container tag %s=%q", filepath.Base(path), k, v)
		}
	}
	for i, tags := range streams {
		for k, v := range tags {
			if !slices.Contains([]string{"handler_name", "vendor_id", "language"}, k) && !(k == "encoder" && v == "Lavc libx264") {
				t.Errorf("%s: stream %d tag %s=%q", filepath.Base(path), i, k, v)
			}
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !lavfOK {
		secrets = append(secrets, "Lavf")
	}
	for _, s := range secrets {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("%s contains %q", filepath.Base(path), s)
		}
	}
}

// webpWithMetadata renders the metadata GIF as an animated WebP and adds
// metadata chunks to it as a phone app would: the EXIF of the GPS test
// photo (location, camera, capture time) and an XMP chunk with GIFSecret.
func webpWithMetadata(t *testing.T) []byte {
	t.Helper()
	p, err := transform.NewProcessor(transform.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	spec, err := transform.Parse(p.Config(), "", url.Values{"fm": {"webp"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Process(context.Background(), testmedia.AnimatedGIFWithMetadata(), "image/gif", spec)
	if err != nil || r.Frames != 4 {
		t.Fatalf("animated webp: %d frames, %v", r.Frames, err)
	}
	exif := riffChunk(t, testmedia.GPSWebP(), "EXIF")
	chunk := func(typ string, data []byte) []byte {
		c := binary.LittleEndian.AppendUint32([]byte(typ), uint32(len(data)))
		c = append(c, data...)
		if len(data)%2 == 1 {
			c = append(c, 0)
		}
		return c
	}
	b := append([]byte{}, r.Data...)
	if string(b[12:16]) != "VP8X" {
		t.Fatal("animated WebP without VP8X")
	}
	b[20] |= 0x08 | 0x04 // EXIF and XMP flags
	b = append(b, chunk("EXIF", exif)...)
	b = append(b, chunk("XMP ", []byte(`<x:xmpmeta xmlns:x="adobe:ns:meta/">`+testmedia.GIFSecret+`</x:xmpmeta>`))...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

// riffChunk returns the payload of the first chunk typ of a WebP file.
func riffChunk(t *testing.T, b []byte, typ string) []byte {
	t.Helper()
	for i := 12; i+8 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[i+4:]))
		if string(b[i:i+4]) == typ {
			return b[i+8 : i+8+n]
		}
		i += 8 + n + n%2
	}
	t.Fatalf("no %s chunk", typ)
	return nil
}

// TestMP4CarriesNoMetadata: an animation's MP4 has none of the source's
// metadata (a GIF comment, which ffmpeg's GIF demuxer reads as the file's
// comment; XMP; a WebP's EXIF with GPS, camera and capture time) and no
// encoder (libavformat version) tag, by both routes (GIF through ffmpeg,
// WebP through libvips).
func TestMP4CarriesNoMetadata(t *testing.T) {
	c := newConv(t)
	webp := webpWithMetadata(t)
	for _, tc := range []struct {
		name string
		src  []byte
	}{
		{"gif", testmedia.AnimatedGIFWithMetadata()},
		{"webp", webp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The source does carry metadata, as ffmpeg or libvips read it.
			if tc.name == "gif" {
				p := filepath.Join(t.TempDir(), "in.gif")
				if err := os.WriteFile(p, tc.src, 0o644); err != nil {
					t.Fatal(err)
				}
				if tags, _ := mp4Tags(t, p); tags["comment"] != testmedia.GIFSecret {
					t.Fatalf("ffmpeg reads no comment from the GIF: %v", tags)
				}
			} else if !bytes.Contains(tc.src, []byte("iPhone")) {
				t.Fatal("the WebP carries no EXIF")
			}
			mp4, info, err := c.AnimatedToMP4(context.Background(), tc.src, MP4Options{})
			if err != nil || info.Frames != 4 {
				t.Fatalf("%d frames, %v", info.Frames, err)
			}
			p := filepath.Join(t.TempDir(), "out.mp4")
			if err := os.WriteFile(p, mp4, 0o644); err != nil {
				t.Fatal(err)
			}
			checkNoTags(t, p, false, testmedia.GIFSecret, "mediaedge-secret", "Apple", "iPhone", "xmpmeta")
		})
	}
}

// TestHLSCarriesNoMetadata: a phone video's location, make, model, title
// and capture time do not reach its HLS package, remuxed or transcoded.
func TestHLSCarriesNoMetadata(t *testing.T) {
	c := newConv(t)
	meta := []string{"-metadata", "title=mediaedge-secret title", "-metadata", "location=+15.8355-048.0158/",
		"-metadata", "make=Apple", "-metadata", "model=iPhone XS", "-metadata", "creation_time=2021-06-12T10:30:00Z",
		"-metadata:s:v", "title=mediaedge-secret track"}
	for _, tc := range []struct {
		name, codec string
		remuxed     bool
	}{
		{"remux", "libx264", true},
		{"transcode", "mpeg4", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=3", "-f", "lavfi", "-i", "sine=duration=3",
				"-c:v", tc.codec, "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"}, meta...)
			src := makeVideo(t, "phone.mp4", args...)
			if tags, _ := mp4Tags(t, src); tags["location"] == "" || tags["title"] == "" {
				t.Fatalf("the source carries no metadata: %v", tags)
			}
			out := t.TempDir()
			res, err := c.PackageHLS(context.Background(), src, "video/mp4", out, 1)
			if err != nil || res.Remuxed != tc.remuxed {
				t.Fatalf("remuxed %v, %v", res.Remuxed, err)
			}
			checkNoTags(t, filepath.Join(out, res.Init), true, "mediaedge-secret", "15.8355", "Apple", "iPhone")
			for _, f := range res.Files {
				b, err := os.ReadFile(filepath.Join(out, f))
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range []string{"mediaedge-secret", "15.8355", "Apple", "iPhone"} {
					if bytes.Contains(b, []byte(s)) {
						t.Errorf("%s contains %q", f, s)
					}
				}
			}
		})
	}
}

// TestAlreadyVideo: MP4 asked of a video is ErrAlreadyVideo, not "not
// animated" nor "corrupt", and nothing runs (no temp files).
func TestAlreadyVideo(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TempDir = t.TempDir()
	c := newConvWith(t, cfg)
	for _, name := range []string{"clip.mp4", "clip.mov", "clip.webm", "clip.avi", "clip.ts", "clip.mkv"} {
		args := []string{"-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1"}
		if strings.HasSuffix(name, ".webm") {
			args = append(args, "-c:v", "libvpx")
		}
		src, err := os.ReadFile(makeVideo(t, name, args...))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = c.AnimatedToMP4(context.Background(), src, MP4Options{})
		if !errors.Is(err, ErrAlreadyVideo) || errors.Is(err, ErrNotAnimated) || errors.Is(err, transform.ErrCorruptImage) {
			t.Errorf("%s: %v, want ErrAlreadyVideo", name, err)
		}
	}
	if left, _ := os.ReadDir(cfg.TempDir); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
	// Images in ISO-BMFF (AVIF) are not videos.
	if kind := videoContainer([]byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf")); kind != "" {
		t.Errorf("AVIF taken for %s", kind)
	}
}
