package edge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/chunkstore/embedded"
	"github.com/mediaedge/mediaedge/edge"
	"github.com/mediaedge/mediaedge/edgecache"
	"github.com/mediaedge/mediaedge/hls"
	"github.com/mediaedge/mediaedge/transform"
	"github.com/mediaedge/mediaedge/transform/video"
)

// newMediaEnv is an edge with the real transform pipeline, ffmpeg and HLS.
func newMediaEnv(t *testing.T, tcfg transform.Config) *env {
	t.Helper()
	b, err := embedded.Open(embedded.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := chunkstore.DefaultConfig()
	store, err := chunkstore.New(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cc := edgecache.DefaultConfig()
	cc.Disks = []edgecache.DiskConfig{{Path: t.TempDir(), Budget: 256 << 20}}
	cache, err := edgecache.Open(context.Background(), cc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close() })
	proc, err := transform.NewProcessor(tcfg)
	if err != nil {
		t.Fatal(err)
	}
	vcfg := video.DefaultConfig()
	vcfg.TempDir = t.TempDir()
	conv, err := video.New(vcfg)
	if err != nil {
		t.Fatal(err)
	}
	ecfg := edge.DefaultConfig()
	ecfg.UploadTokens = []string{token}
	srv, err := edge.New(ecfg, edge.Deps{Store: store, Cache: cache, Transformer: proc, Video: conv, HLS: hls.New(hls.DefaultConfig(), store, conv)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &env{srv: srv, store: store, ts: ts}
}

func pngImage(t *testing.T, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

func animGIF(t *testing.T) []byte {
	g := &gif.GIF{}
	pal := color.Palette{color.Black, color.White}
	for i := 0; i < 3; i++ {
		fr := image.NewPaletted(image.Rect(0, 0, 40, 30), pal)
		for p := range fr.Pix {
			fr.Pix[p] = uint8(i % 2)
		}
		g.Image, g.Delay = append(g.Image, fr), append(g.Delay, 10)
	}
	var b bytes.Buffer
	gif.EncodeAll(&b, g)
	return b.Bytes()
}

// TestTransformHTTP is the table of what a client sees for renditions.
func TestTransformHTTP(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	tcfg := transform.DefaultConfig()
	tcfg.SignKeys = [][]byte{key}
	tcfg.Presets = map[string]string{"thumb": "w=50&h=50&fit=crop"}
	e := newMediaEnv(t, tcfg)
	img := e.put(t, pngImage(t, 200, 100))
	text := e.put(t, []byte("just some text, not an image"))
	bomb := e.put(t, pngBombBytes())
	anim := e.put(t, animGIF(t))
	signedPath := "/m/" + img.ID
	sq := url.Values{"w": {"20"}}
	sq.Set("s", transform.Sign(key, signedPath, sq))
	badSig := url.Values{"w": {"20"}, "s": {strings.Repeat("0", 64)}}
	tests := []struct {
		name, path string
		hdr        map[string]string
		status     int
		ctype      string
		param      string
	}{
		{"resize webp", "/m/" + img.ID + "?w=100&fm=webp", nil, 200, "image/webp", ""},
		{"extension", "/m/" + img.ID + ".avif?w=50", nil, 200, "image/avif", ""},
		{"preset", "/m/" + img.ID + "?p=thumb", nil, 200, "image/png", ""},
		{"auto format", "/m/" + img.ID + "?w=10&auto=format", map[string]string{"Accept": "image/webp"}, 200, "image/webp", ""},
		{"bad w", "/m/" + img.ID + "?w=0", nil, 400, "", "w"},
		{"bad fit", "/m/" + img.ID + "?w=10&fit=zoom", nil, 400, "", "fit"},
		{"unknown", "/m/" + img.ID + "?width=10", nil, 400, "", "width"},
		{"not an image", "/m/" + text.ID + "?w=10", nil, 415, "", ""},
		{"bomb", "/m/" + bomb.ID + "?w=10", nil, 422, "", ""},
		{"still as mp4", "/m/" + img.ID + ".mp4", nil, 422, "", ""},
		{"gif as mp4", "/m/" + anim.ID + ".mp4?w=20", nil, 200, "video/mp4", ""},
		{"signed", signedPath + "?" + sq.Encode(), nil, 200, "image/png", ""},
		{"wrong signature", signedPath + "?" + badSig.Encode(), nil, 403, "", "s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, "GET", e.ts.URL+tt.path, tt.hdr, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, tt.status, body)
			}
			if tt.ctype != "" && resp.Header.Get("Content-Type") != tt.ctype {
				t.Errorf("content type %q, want %q", resp.Header.Get("Content-Type"), tt.ctype)
			}
			if tt.status >= 400 {
				var eb struct{ Error struct{ Code, Param string } }
				if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Param != tt.param {
					t.Errorf("error body %s, want param %q", body, tt.param)
				}
			}
		})
	}
	// A rendition is served like an original: strong ETag, 304, Range.
	url := e.ts.URL + "/m/" + img.ID + "?w=100&fm=webp"
	resp, full := do(t, "GET", url, nil, nil)
	etag := resp.Header.Get("ETag")
	if resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || !strings.HasPrefix(etag, `"`) {
		t.Fatalf("headers %v", resp.Header)
	}
	if resp, _ := do(t, "GET", url, map[string]string{"If-None-Match": etag}, nil); resp.StatusCode != 304 {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}
	resp, part := do(t, "GET", url, map[string]string{"Range": "bytes=0-9"}, nil)
	if resp.StatusCode != 206 || !bytes.Equal(part, full[:10]) {
		t.Fatalf("Range: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", e.ts.URL+"/m/"+img.ID+"?w=10&auto=format", nil, nil); resp.Header.Get("Vary") != "Accept" {
		t.Errorf("auto=format without Vary: Accept")
	}
}

func TestHLSAndPosterHTTP(t *testing.T) {
	e := newMediaEnv(t, transform.DefaultConfig())
	dir := t.TempDir()
	clip := filepath.Join(dir, "clip.mp4")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=9",
		"-f", "lavfi", "-i", "sine=duration=9", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
		"-g", "50", "-c:a", "aac", "-shortest", clip).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	raw, _ := readFile(clip)
	v := e.put(t, raw)
	resp, pl := do(t, "GET", e.ts.URL+"/m/"+v.ID+"/hls/index.m3u8", nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.apple.mpegurl" || !bytes.Contains(pl, []byte("#EXTM3U")) {
		t.Fatalf("playlist: %d %q %.100s", resp.StatusCode, resp.Header.Get("Content-Type"), pl)
	}
	resp, b := do(t, "GET", e.ts.URL+"/m/"+v.ID+"/hls/seg_00000.m4s", map[string]string{"Range": "bytes=0-1"}, nil)
	if resp.StatusCode != 206 || len(b) != 2 || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("segment range: %d %d bytes %q", resp.StatusCode, len(b), resp.Header.Get("Content-Type"))
	}
	if resp, _ := do(t, "GET", e.ts.URL+"/m/"+v.ID+"/hls/../../etc/passwd", nil, nil); resp.StatusCode != 404 {
		t.Fatalf("path outside the package: %d", resp.StatusCode)
	}
	resp, jpg := do(t, "GET", e.ts.URL+"/m/"+v.ID+".jpg?w=160&t=2", nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("poster: %d %s", resp.StatusCode, jpg)
	}
	if w, _, _, err := transform.Probe(jpg); err != nil || w != 160 {
		t.Fatalf("poster width %d %v", w, err)
	}
	bad := e.put(t, []byte("\x00\x00\x00\x18ftypmp42 but then nothing"))
	if resp, body := do(t, "GET", e.ts.URL+"/m/"+bad.ID+"/hls/index.m3u8", nil, nil); resp.StatusCode != 422 {
		t.Fatalf("corrupt video: %d %s", resp.StatusCode, body)
	}
	img := e.put(t, pngImage(t, 10, 10))
	if resp, _ := do(t, "GET", e.ts.URL+"/m/"+img.ID+"/hls/index.m3u8", nil, nil); resp.StatusCode != 415 {
		t.Fatalf("HLS of an image: %d", resp.StatusCode)
	}
}

// TestInfoDimensions: /info reads an image's size from its header (EXIF
// orientation applied); a non-image has none.
func TestInfoDimensions(t *testing.T) {
	e := newMediaEnv(t, transform.DefaultConfig())
	for _, tc := range []struct {
		name string
		data []byte
		w, h int
	}{
		{"png", pngImage(t, 200, 100), 200, 100},
		{"animated gif", animGIF(t), 40, 30},
		{"text", []byte("not an image at all"), 0, 0},
	} {
		f := e.put(t, tc.data)
		for range 2 { // the second answer comes from memory
			resp, body := do(t, "GET", e.ts.URL+"/m/"+f.ID+"/info", nil, nil)
			var got struct{ Width, Height int }
			if err := json.Unmarshal(body, &got); resp.StatusCode != 200 || err != nil {
				t.Fatalf("%s: %d %s", tc.name, resp.StatusCode, body)
			}
			if got.Width != tc.w || got.Height != tc.h {
				t.Errorf("%s: %dx%d, want %dx%d", tc.name, got.Width, got.Height, tc.w, tc.h)
			}
		}
	}
	// A photo stored sideways (EXIF orientation 6) is shown upright.
	src, err := os.ReadFile("../transform/testdata/landscape_6.jpg")
	if err != nil {
		t.Fatal(err)
	}
	f := e.put(t, src)
	_, body := do(t, "GET", e.ts.URL+"/m/"+f.ID+"/info", nil, nil)
	var got struct{ Width, Height int }
	_ = json.Unmarshal(body, &got)
	if got.Width == 0 || got.Width <= got.Height {
		t.Errorf("landscape_6.jpg: %dx%d, want landscape (orientation applied)", got.Width, got.Height)
	}
}

// noiseGIF is black-and-white noise: tiny as a GIF (a bit a pixel before
// LZW), large as H.264, like the README's "life" GIF.
func noiseGIF(t *testing.T) []byte {
	g := &gif.GIF{}
	pal := color.Palette{color.Black, color.White}
	seed := uint32(1)
	for i := 0; i < 8; i++ {
		fr := image.NewPaletted(image.Rect(0, 0, 96, 96), pal)
		for p := range fr.Pix {
			seed = seed*1664525 + 1013904223
			fr.Pix[p] = uint8(seed >> 31)
		}
		g.Image, g.Delay = append(g.Image, fr), append(g.Delay, 10)
	}
	var b bytes.Buffer
	gif.EncodeAll(&b, g)
	return b.Bytes()
}

// TestSmallerOriginalHeader: an MP4 larger than its GIF says so, with the
// GIF's size, from the fill, the disk and memory alike; other renditions
// never do.
func TestSmallerOriginalHeader(t *testing.T) {
	e := newMediaEnv(t, transform.DefaultConfig())
	src := noiseGIF(t)
	f := e.put(t, src)
	for i := range 3 { // fill, disk hit, memory hit
		resp, body := do(t, "GET", e.ts.URL+"/m/"+f.ID+".mp4", nil, nil)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/mp4" {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if len(body) <= len(src) {
			t.Fatalf("the noise MP4 (%d bytes) is not larger than its GIF (%d): the test needs another GIF", len(body), len(src))
		}
		if got := resp.Header.Get("X-Mediaedge-Smaller-Original"); got != strconv.Itoa(len(src)) {
			t.Errorf("request %d: X-Mediaedge-Smaller-Original %q, want %d", i, got, len(src))
		}
		if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "X-Mediaedge-Smaller-Original") {
			t.Errorf("request %d: a page's script cannot read the header: %q", i, resp.Header.Get("Access-Control-Expose-Headers"))
		}
	}
	resp, _ := do(t, "GET", e.ts.URL+"/m/"+f.ID+"?w=20&fm=png", nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("X-Mediaedge-Smaller-Original") != "" {
		t.Errorf("a PNG rendition: %d, header %q", resp.StatusCode, resp.Header.Get("X-Mediaedge-Smaller-Original"))
	}
}

// TestSmallestServesTheGIF: with smallest=1 an animated GIF whose MP4 would
// be larger is served as itself (image/gif, its exact bytes, no header),
// from the fill and the cache alike, and under its own key: the plain .mp4
// URL still answers the MP4. A GIF whose MP4 is smaller still gets the MP4.
// smallest without fm=mp4, or with a bad value, is a 400 naming it.
func TestSmallestServesTheGIF(t *testing.T) {
	e := newMediaEnv(t, transform.DefaultConfig())
	src := noiseGIF(t)
	f := e.put(t, src)
	for i := range 3 { // fill, disk hit, memory hit
		resp, body := do(t, "GET", e.ts.URL+"/m/"+f.ID+".mp4?smallest=1", nil, nil)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/gif" || !bytes.Equal(body, src) {
			t.Fatalf("request %d: %d %s, %d bytes; want the %d-byte GIF itself", i, resp.StatusCode,
				resp.Header.Get("Content-Type"), len(body), len(src))
		}
		if h := resp.Header.Get("X-Mediaedge-Smaller-Original"); h != "" {
			t.Errorf("request %d: the GIF itself says a smaller original exists: %q", i, h)
		}
	}
	if resp, _ := do(t, "GET", e.ts.URL+"/m/"+f.ID+".mp4", nil, nil); resp.Header.Get("Content-Type") != "video/mp4" {
		t.Errorf("the plain .mp4 after smallest=1: %s, want video/mp4 (a key of its own)", resp.Header.Get("Content-Type"))
	}

	smooth := smoothGIF()
	g := e.put(t, smooth)
	resp, body := do(t, "GET", e.ts.URL+"/m/"+g.ID+".mp4?smallest=1", nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/mp4" || len(body) >= len(smooth) {
		t.Errorf("a GIF whose MP4 is smaller: %d %s, %d bytes against the GIF's %d; want the MP4",
			resp.StatusCode, resp.Header.Get("Content-Type"), len(body), len(smooth))
	}

	for _, q := range []string{"?smallest=2", "?w=20&fm=png&smallest=1"} {
		resp, body := do(t, "GET", e.ts.URL+"/m/"+f.ID+q, nil, nil)
		if resp.StatusCode != 400 || !strings.Contains(string(body), "smallest") {
			t.Errorf("%s: %d %s; want a 400 naming smallest", q, resp.StatusCode, body)
		}
	}
}

// smoothGIF is a moving grey gradient with dither-like texture: large as a
// GIF, small as H.264.
func smoothGIF() []byte {
	g := &gif.GIF{}
	pal := make(color.Palette, 256)
	for i := range pal {
		pal[i] = color.Gray{Y: uint8(i)}
	}
	for i := 0; i < 12; i++ {
		fr := image.NewPaletted(image.Rect(0, 0, 160, 120), pal)
		for y := 0; y < 120; y++ {
			for x := 0; x < 160; x++ {
				fr.Pix[y*160+x] = uint8(x + 2*y + 8*i + (x*y)%3)
			}
		}
		g.Image, g.Delay = append(g.Image, fr), append(g.Delay, 10)
	}
	var b bytes.Buffer
	gif.EncodeAll(&b, g)
	return b.Bytes()
}
