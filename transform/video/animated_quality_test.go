package video

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediaedge/mediaedge/internal/testenv"
)

// lineArtGIF makes a GIF the way line art and UI animations are made: sharp
// edges, text (testsrc's digits and bars) and 16 flat colours without
// dithering, through ffmpeg's palettegen/paletteuse.
func lineArtGIF(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "lineart.gif")
	out, err := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i",
		"testsrc=size=320x240:rate=10:duration=3,split[a][b];[a]palettegen=max_colors=16:stats_mode=full[p];[b][p]paletteuse=dither=none",
		p).CombinedOutput()
	if err != nil {
		testenv.Missing(t, fmt.Sprintf("ffmpeg lavfi: %v %s", err, out))
	}
	return p
}

// ssimAgainstGIF is the mean SSIM (ffmpeg's "All") of an MP4 against the
// GIF's frames composited onto white, as the converter composites them:
// one comparison per GIF frame, both clocks rounded to the GIF's
// centiseconds (bench/video.go gifSSIM explains why).
func ssimAgainstGIF(t *testing.T, gif, mp4 string, w, h int) float64 {
	t.Helper()
	pre := fmt.Sprintf("format=rgba,split=2[bg][fg];[bg]lutrgb=r=255:g=255:b=255:a=255[base];"+
		"[base][fg]overlay=eof_action=pass:format=auto,crop=%d:%d:0:0,format=yuv420p", w&^1, h&^1)
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-f", "gif", "-i", gif, "-i", mp4, "-lavfi",
		"[0:v]"+pre+",settb=1/100[ref];[1:v]format=yuv420p,settb=1/100[enc];[ref][enc]ssim", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ssim: %v %s", err, out)
	}
	_, all, ok := strings.Cut(string(out), " All:")
	var v float64
	if _, err := fmt.Sscan(all, &v); !ok || err != nil {
		t.Fatalf("no SSIM in %s", out)
	}
	return v
}

// TestAnimatedLineArtSSIMAtLeastPlain: a line-art GIF converts at an SSIM
// at least that of the plain `ffmpeg -i in.gif -pix_fmt yuv420p out.mp4`
// (given the same composited frames). Bytes are logged, not asserted: they
// are the benchmark's to compare, over a set of GIFs. SSIM is quality,
// not timing: x264 is deterministic for given options and input, so this
// asserts no machine-dependent number. The tolerance covers x264 builds
// other than Debian 12's (0.0005 is far below the 0.84 to 0.99 the old CRF
// 25, one-keyframe, veryfast settings lost on such GIFs).
func TestAnimatedLineArtSSIMAtLeastPlain(t *testing.T) {
	c := newConv(t)
	dir := t.TempDir()
	gifPath := lineArtGIF(t, dir)
	src, err := os.ReadFile(gifPath)
	if err != nil {
		t.Fatal(err)
	}
	mp4, info, err := c.AnimatedToMP4(context.Background(), src, MP4Options{})
	if err != nil {
		t.Fatal(err)
	}
	ours := filepath.Join(dir, "ours.mp4")
	if err := os.WriteFile(ours, mp4, 0o600); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain.mp4")
	pre := "format=rgba,split=2[bg][fg];[bg]lutrgb=r=255:g=255:b=255:a=255[base];[base][fg]overlay=eof_action=pass:format=auto"
	if out, err := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "gif", "-i", gifPath,
		"-vf", pre, "-pix_fmt", "yuv420p", plain).CombinedOutput(); err != nil {
		t.Fatalf("plain ffmpeg: %v %s", err, out)
	}
	st, err := os.Stat(plain)
	if err != nil {
		t.Fatal(err)
	}
	so, sp := ssimAgainstGIF(t, gifPath, ours, info.Width, info.Height), ssimAgainstGIF(t, gifPath, plain, info.Width, info.Height)
	t.Logf("line art %dx%d, %d frames: ours %d bytes SSIM %.5f; plain %d bytes SSIM %.5f; GIF %d bytes",
		info.Width, info.Height, info.Frames, len(mp4), so, st.Size(), sp, len(src))
	const tolerance = 0.0005
	if so < sp-tolerance {
		t.Errorf("SSIM %.5f, below the plain command's %.5f", so, sp)
	}
}

// TestGIFSmaller: the GIF may stand in for its MP4 only when it is the same
// picture (no resize, no background asked) and no larger.
func TestGIFSmaller(t *testing.T) {
	c := newConv(t)
	// Flat colours that change every frame: LZW's best case, x264's
	// overhead (headers, index) dominates.
	src := gifWith(t, 17, 9, []int{10, 10, 10}, false)
	mp4, _, err := c.AnimatedToMP4(context.Background(), src, MP4Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(mp4) <= len(src) {
		t.Fatalf("test GIF of %d bytes made a smaller MP4 (%d)", len(src), len(mp4))
	}
	for _, tc := range []struct {
		name string
		src  []byte
		opt  MP4Options
		want bool
	}{
		{"same picture, GIF smaller", src, MP4Options{}, true},
		{"bounds that do not shrink it", src, MP4Options{Width: 100, Height: 100}, true},
		{"resized", src, MP4Options{Width: 8}, false},
		{"background asked", src, MP4Options{Background: "ff0000"}, false},
		{"not a GIF", append([]byte("RIFF"), src[4:]...), MP4Options{}, false},
		{"GIF larger", append(bytes.Clone(src[:len(src)-1]), bytes.Repeat([]byte{0}, len(mp4))...), MP4Options{}, false},
	} {
		if got := GIFSmaller(tc.src, mp4, tc.opt); got != tc.want {
			t.Errorf("%s: GIFSmaller = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestAnimationPresetValidated: a bad preset of either kind is named.
func TestAnimationPresetValidated(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Preset, cfg.AnimationPreset = "fastest", "slowest"
	err := cfg.Validate()
	for _, want := range []string{`video-preset "fastest"`, `video-animation-preset "slowest"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
}
