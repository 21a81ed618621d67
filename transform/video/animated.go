package video

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mediaedge/mediaedge/transform"
)

// MP4Options shape an animation's MP4.
type MP4Options struct {
	// Width and Height bound the output: the animation is fitted inside,
	// never enlarged; 0 = no bound.
	Width, Height int
	// Background is what transparent pixels are composited onto, as
	// "rrggbb" or "rrggbbaa" (transform.Spec.BG; its alpha is ignored, since
	// H.264 has none); "" = white.
	Background string
}

// browserMinDelayMS: browsers show GIF and WebP frames with a delay of 10 ms
// or less for 100 ms (an old convention that most such files rely on);
// ffmpeg's GIF demuxer does the same (min_delay 2 cs, default_delay 10 cs).
const browserMinDelayMS = 10

// AnimatedToMP4 converts an animated GIF or WebP to an H.264 MP4 (yuv420p,
// even dimensions, +faststart, no audio, no metadata) whose frames keep
// their own display times. A still image is ErrNotAnimated; a video is
// ErrAlreadyVideo; a corrupt or truncated image is ErrCorrupt (and
// transform.ErrCorruptImage); too many frames or pixels are
// transform.ErrTooManyFrames / ErrTooManyPixels.
func (c *Converter) AnimatedToMP4(ctx context.Context, src []byte, opt MP4Options) ([]byte, transform.AnimationInfo, error) {
	if kind := videoContainer(src); kind != "" {
		return nil, transform.AnimationInfo{}, fmt.Errorf("%w (%s)", ErrAlreadyVideo, kind)
	}
	bg, err := parseBG(opt.Background)
	if err != nil {
		return nil, transform.AnimationInfo{}, err
	}
	if opt.Width < 0 || opt.Height < 0 {
		return nil, transform.AnimationInfo{}, fmt.Errorf("video: negative size %dx%d", opt.Width, opt.Height)
	}
	j, err := c.start(ctx, "mp4")
	if err != nil {
		return nil, transform.AnimationInfo{}, err
	}
	defer j.done()
	out := filepath.Join(j.dir, "out.mp4")
	var info transform.AnimationInfo
	if isGIF(src) {
		info, err = c.gifToMP4(j, src, out, opt, bg)
	} else {
		opt.Background = fmt.Sprintf("%02x%02x%02xff", bg[0], bg[1], bg[2]) // transform wants rrggbbaa
		info, err = c.framesToMP4(j, src, out, opt)
	}
	if err != nil {
		return nil, info, err
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, info, fmt.Errorf("video: read mp4: %w", err)
	}
	return b, info, nil
}

// GIFSmaller reports whether the GIF src may be served in place of mp4, the
// MP4 AnimatedToMP4 made of it with opt: src is a GIF no larger than mp4, and
// it is the same picture, because opt neither shrinks it (fitting inside
// larger bounds, or cropping an odd last row or column, keeps it) nor asks
// for a background (a GIF keeps its transparency). Real GIFs whose MP4 is
// larger are few but exist: noise-like content (cellular automata, dithered
// film at small sizes), where LZW beats x264 at the quality we keep.
//
// The edge decides what to serve and says so in a response header; this
// only compares.
func GIFSmaller(src, mp4 []byte, opt MP4Options) bool {
	if !isGIF(src) || len(src) < 10 || len(src) > len(mp4) || opt.Background != "" {
		return false
	}
	// The logical screen size follows the signature, little-endian.
	w, h := int(src[6])|int(src[7])<<8, int(src[8])|int(src[9])<<8
	_, _, resize := fitEven(w, h, opt.Width, opt.Height)
	return !resize
}

// videoContainer names the video container b starts with, "" for anything
// else (animations included: an ISO-BMFF file whose brand is an image one,
// AVIF or HEIF, is not a video here).
func videoContainer(b []byte) string {
	switch {
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		switch string(b[8:12]) {
		case "avif", "avis", "heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1":
			return ""
		}
		return "MP4/QuickTime"
	case len(b) >= 8 && (string(b[4:8]) == "moov" || string(b[4:8]) == "mdat" || string(b[4:8]) == "wide"):
		return "QuickTime"
	case bytes.HasPrefix(b, []byte("\x1a\x45\xdf\xa3")):
		return "WebM/Matroska"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "AVI ":
		return "AVI"
	case bytes.HasPrefix(b, []byte("OggS")):
		return "Ogg"
	case bytes.HasPrefix(b, []byte("FLV\x01")):
		return "FLV"
	case bytes.HasPrefix(b, []byte("\x00\x00\x01\xba")):
		return "MPEG-PS"
	case len(b) >= 189 && b[0] == 0x47 && b[188] == 0x47:
		return "MPEG-TS"
	}
	return ""
}

func isGIF(b []byte) bool {
	return bytes.HasPrefix(b, []byte("GIF87a")) || bytes.HasPrefix(b, []byte("GIF89a"))
}

// corrupt marks an animation error as both ours and transform's, so the
// edge's image error mapping (corrupt_image, 422) applies.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrCorrupt, transform.ErrCorruptImage, fmt.Sprintf(format, args...))
}

// gifToMP4 feeds the GIF to ffmpeg directly: its GIF demuxer streams frames
// with their own delays (as pts) and handles disposal and transparency, so
// memory holds one frame whatever the length; libvips would decode every
// frame at once (see Config.MaxPixels).
func (c *Converter) gifToMP4(j *job, src []byte, out string, opt MP4Options, bg [3]int) (transform.AnimationInfo, error) {
	var info transform.AnimationInfo
	// A complete GIF ends with the trailer byte 0x3B. ffmpeg (like
	// browsers) shows a truncated GIF's frames as far as they go; we refuse
	// it, since a cut upload made into an MP4 would be cached for a year.
	if t := bytes.TrimRight(src, "\x00"); len(t) == 0 || t[len(t)-1] != 0x3B {
		return info, corrupt("GIF is truncated (no trailer)")
	}
	in := filepath.Join(j.dir, "in.gif")
	if err := os.WriteFile(in, src, 0o600); err != nil {
		return info, fmt.Errorf("video: write gif: %w", err)
	}
	g, err := c.probeGIF(j, in)
	if err != nil {
		return info, err
	}
	n := len(g.delaysMS)
	switch {
	case n < 2:
		return info, ErrNotAnimated
	case n > c.cfg.MaxFrames:
		return info, fmt.Errorf("video: %d frames, at most %d: %w", n, c.cfg.MaxFrames, transform.ErrTooManyFrames)
	case int64(g.w)*int64(g.h) > c.cfg.Images.MaxSourcePixels || int64(g.w)*int64(g.h)*int64(n) > c.cfg.MaxPixels:
		return info, fmt.Errorf("video: %dx%d x %d frames: %w", g.w, g.h, n, transform.ErrTooManyPixels)
	}
	w, h, resize := fitEven(g.w, g.h, opt.Width, opt.Height)
	if w == 0 || h == 0 {
		return info, corrupt("frames of %dx%d are too small for video", g.w, g.h)
	}
	info = transform.AnimationInfo{Width: w, Height: h, Frames: n}
	for _, d := range g.delaysMS {
		info.DurationMS += d
	}
	// Composite first, then scale: scaling straight RGBA would bleed the
	// colour of transparent pixels into the edges. The background is a
	// lutrgb of the frame itself (every pixel set to bg, opaque), so the
	// overlay pairs frames of equal timestamps and the GIF's own timing
	// passes through; a color source would impose its constant rate. An odd
	// last row or column is cropped rather than resampled.
	fit := fmt.Sprintf("crop=%d:%d:0:0", w, h)
	if resize {
		fit = fmt.Sprintf("scale=%d:%d:flags=lanczos", w, h)
	}
	graph := fmt.Sprintf("[0:v]format=rgba,split=2[bg][fg];[bg]lutrgb=r=%d:g=%d:b=%d:a=255[base];"+
		"[base][fg]overlay=eof_action=pass:format=auto,%s,format=yuv420p[v]", bg[0], bg[1], bg[2], fit)
	args := slices.Concat(globalArgs, c.maxPixelsArgs(), safeInput("gif"), []string{"-i", in, "-filter_complex", graph, "-map", "[v]"},
		c.mp4Args(n, g.delaysMS[n-1]), []string{out})
	if err := j.run(c.cfg.FFmpeg, args, nil); err != nil {
		return info, markCorrupt(err)
	}
	return info, nil
}

// markCorrupt adds transform.ErrCorruptImage to a decode failure.
func markCorrupt(err error) error {
	if errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("%w: %w", transform.ErrCorruptImage, err)
	}
	return err
}

// mp4Args are the output options of an animation: frames pass through with
// their own timestamps on a millisecond clock (-fps_mode passthrough,
// -enc_time_base 1/1000). -r is there for the last frame only: ffmpeg 5.1
// gives every encoded packet the duration of one frame at the output rate,
// and MP4 takes the last sample's duration from its packet, so a rate of
// 1000/lastDelay makes the file last exactly the sum of the delays without
// a duplicated frame (earlier packets' durations come from the timestamps).
// One keyframe for the whole animation (-g above the frame count; x264
// still cuts at scene changes): a short loop is never seeked, and screen
// recordings measured a third smaller for it (against -g 250 with the
// settings below: 0.68-0.72x on the four terminal recordings of the bench).
//
// x264 runs with Config.AnimationPreset and -tune animation, at Config.CRF
// (see there for the measurements): GIFs are flat colours, sharp edges and
// still backgrounds, which the tune's extra reference frames and B-frames,
// stronger deblocking and milder psy-rd/AQ serve: on every GIF of `bench
// video` the SSIM is at least that of the plain ffmpeg command, at a median
// 0.77x its bytes.
//
// No metadata of the source reaches the MP4 (-map_metadata -1, which also
// stops the per-stream copy, and -map_chapters -1: a GIF's comment
// extension would otherwise become the MP4's comment), and -fflags +bitexact
// leaves out the muxer's "encoder" tag and creation time.
func (c *Converter) mp4Args(frames, lastDelayMS int) []string {
	return []string{
		"-c:v", "libx264", "-preset", c.cfg.AnimationPreset, "-tune", "animation", "-crf", strconv.Itoa(c.cfg.CRF),
		"-g", strconv.Itoa(frames + 1),
		"-pix_fmt", "yuv420p", "-fps_mode", "passthrough", "-enc_time_base", "1/1000",
		"-r", fmt.Sprintf("1000/%d", max(1, lastDelayMS)), "-video_track_timescale", "1000",
		"-an", "-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1", "-fflags", "+bitexact",
		"-movflags", "+faststart", "-f", "mp4",
	}
}

type gifProbe struct {
	w, h     int
	delaysMS []int
}

// probeGIF reads the GIF's size and each frame's delay from ffprobe's packet
// list: the demuxer only, no decoding, so it is quick on long GIFs. It lists
// at most MaxFrames+1 packets (-read_intervals), enough to refuse a GIF with
// too many: a 100 MiB GIF of 1x1 frames has millions, and their listing
// would be hundreds of MB of JSON. The output is also capped (capped), in
// case ffprobe ever prints more than asked.
func (c *Converter) probeGIF(j *job, path string) (gifProbe, error) {
	out := capped{max: 64<<10 + 128*(c.cfg.MaxFrames+1)}
	args := slices.Concat(globalArgs[:3:3], c.maxPixelsArgs(), safeInput("gif"), []string{
		"-read_intervals", "%+#" + strconv.Itoa(c.cfg.MaxFrames+1),
		"-show_entries", "stream=width,height,time_base:packet=pts,duration", "-of", "json", path})
	if err := j.run(c.cfg.FFprobe, args, &out.buf); err != nil {
		if out.over {
			return gifProbe{}, fmt.Errorf("video: ffprobe of the GIF printed over %d bytes: %w", out.max, transform.ErrTooManyFrames)
		}
		return gifProbe{}, markCorrupt(err)
	}
	var p struct {
		Streams []struct {
			Width, Height int
			TimeBase      string `json:"time_base"`
		}
		Packets []struct {
			PTS      int64 `json:"pts"`
			Duration int64 `json:"duration"`
		}
	}
	if err := json.Unmarshal(out.buf.Bytes(), &p); err != nil || len(p.Streams) != 1 {
		return gifProbe{}, corrupt("ffprobe of the GIF: %v", err)
	}
	num, den, ok := strings.Cut(p.Streams[0].TimeBase, "/")
	tn, _ := strconv.ParseInt(num, 10, 64)
	td, _ := strconv.ParseInt(den, 10, 64)
	if !ok || tn <= 0 || td <= 0 {
		return gifProbe{}, corrupt("GIF time base %q", p.Streams[0].TimeBase)
	}
	g := gifProbe{w: p.Streams[0].Width, h: p.Streams[0].Height}
	for _, pk := range p.Packets {
		g.delaysMS = append(g.delaysMS, int(pk.Duration*1000*tn/td))
	}
	return g, nil
}

// capped keeps what a process prints up to max bytes; a write past it fails,
// which closes the pipe, and the process dies of it at its next write.
type capped struct {
	buf  bytes.Buffer
	max  int
	over bool // a write was refused
}

func (c *capped) Write(p []byte) (int, error) {
	if c.buf.Len()+len(p) > c.max {
		c.over = true
		return 0, fmt.Errorf("video: output over %d bytes", c.max)
	}
	return c.buf.Write(p)
}

// framesToMP4 takes the frames of an animated WebP (or anything else
// libvips reads as animated) from libvips: Debian 12's ffmpeg 5.1 cannot
// decode animated WebP. transform.Frames decodes them through transform's
// libvips layer and hands over each frame as PNG with its delay. ffmpeg reads them through the concat demuxer, whose
// per-file `duration` places each frame exactly; a rawvideo pipe has one
// constant rate and could only approximate variable delays by duplicating
// frames at their least common rate.
func (c *Converter) framesToMP4(j *job, src []byte, out string, opt MP4Options) (transform.AnimationInfo, error) {
	var list strings.Builder
	list.WriteString("ffconcat version 1.0\n")
	i, last, total := 0, 0, 0
	info, err := transform.Frames(j.ctx, c.cfg.Images, src, opt.Width, opt.Height, opt.Background, func(f transform.Frame) error {
		name := fmt.Sprintf("f%05d.png", i)
		i++
		if err := os.WriteFile(filepath.Join(j.dir, name), f.PNG, 0o600); err != nil {
			return fmt.Errorf("video: write frame: %w", err)
		}
		last = f.DelayMS
		if last <= browserMinDelayMS {
			last = transform.DefaultDelayMS
		}
		total += last
		// framerate 1000 gives the image demuxer a millisecond clock; at its
		// default 25 fps every timestamp would round to 40 ms steps.
		fmt.Fprintf(&list, "file %s\noption framerate 1000\nduration %d.%03d\n", name, last/1000, last%1000)
		return nil
	})
	if err != nil {
		if errors.Is(err, transform.ErrTimeout) || j.ctx.Err() != nil {
			return info, fmt.Errorf("video: frames: %w", ctxErr(j.ctx))
		}
		if errors.Is(err, transform.ErrCorruptImage) {
			return info, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return info, err
	}
	info.DurationMS = total // with the browser minimum applied, as ffmpeg gets it
	listPath := filepath.Join(j.dir, "frames.ffconcat")
	if err := os.WriteFile(listPath, []byte(list.String()), 0o600); err != nil {
		return info, fmt.Errorf("video: write frame list: %w", err)
	}
	// The list is ours and names only files beside it, but `option` lines
	// are refused in safe mode (-safe 0); the protocol whitelist still
	// confines ffmpeg to local files.
	args := slices.Concat(globalArgs, safeInput("concat"), []string{"-safe", "0", "-i", listPath},
		c.mp4Args(info.Frames, last), []string{out})
	if err := j.run(c.cfg.FFmpeg, args, nil); err != nil {
		return info, markCorrupt(err)
	}
	return info, nil
}

// fitEven fits w x h inside maxW x maxH (0 = unbounded), never enlarging,
// and rounds down to even sides (yuv420p needs them). resize is false when
// only cropping the odd last row/column is needed: cropping one pixel keeps
// the image sharp where resampling would blur every pixel.
func fitEven(w, h, maxW, maxH int) (int, int, bool) {
	s := 1.0
	if maxW > 0 && w > maxW {
		s = float64(maxW) / float64(w)
	}
	if maxH > 0 && h > maxH {
		s = min(s, float64(maxH)/float64(h))
	}
	if s == 1 {
		return w &^ 1, h &^ 1, false
	}
	return max(2, int(math.Round(float64(w)*s))&^1), max(2, int(math.Round(float64(h)*s))&^1), true
}

// parseBG reads "rrggbb" or "rrggbbaa" (alpha ignored); "" is white.
func parseBG(s string) ([3]int, error) {
	if s == "" {
		return [3]int{255, 255, 255}, nil
	}
	if len(s) != 6 && len(s) != 8 {
		return [3]int{}, fmt.Errorf("video: background %q: want rrggbb or rrggbbaa", s)
	}
	var rgb [3]int
	for i := range rgb {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return [3]int{}, fmt.Errorf("video: background %q: %w", s, err)
		}
		rgb[i] = int(v)
	}
	return rgb, nil
}

// safeInput is what every ffmpeg input gets, before its -i: no network
// protocols, a named demuxer (no format guessing on untrusted bytes).
func safeInput(format string) []string {
	return []string{"-protocol_whitelist", "file,pipe", "-f", format}
}
