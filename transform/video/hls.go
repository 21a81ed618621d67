package video

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	ffmpeg "github.com/u2takey/ffmpeg-go"
)

// HLSResult lists the files PackageHLS wrote into its output folder.
type HLSResult struct {
	Playlist string   // "index.m3u8"
	Files    []string // every file: playlist, init.mp4, segments
	Remuxed  bool     // true when the streams were copied, not re-encoded
}

// PackageHLS cuts the video at path into fMP4 HLS segments of about
// segmentSec seconds (cut at keyframes) in outDir. H.264 video with AAC (or
// no) audio is remuxed with -c copy: no quality loss, and fast; anything else
// is transcoded to H.264/AAC with a keyframe every segmentSec so that
// segments come out even.
func (c *Converter) PackageHLS(ctx context.Context, path, contentType, outDir string, segmentSec int) (HLSResult, error) {
	info, err := c.Probe(ctx, path, contentType)
	if err != nil {
		return HLSResult{}, err
	}
	j, err := c.start(ctx)
	if err != nil {
		return HLSResult{}, err
	}
	defer j.done()
	remux := info.VideoCodec == "h264" && (info.AudioCodec == "" || info.AudioCodec == "aac") &&
		(info.PixFmt == "yuv420p" || info.PixFmt == "yuvj420p")
	out := ffmpeg.KwArgs{
		"f": "hls", "hls_time": segmentSec, "hls_playlist_type": "vod", "hls_segment_type": "fmp4",
		"hls_fmp4_init_filename": "init.mp4", "hls_segment_filename": filepath.Join(outDir, "seg_%05d.m4s"),
		"hls_flags": "independent_segments",
	}
	if remux {
		out["c"] = "copy"
	} else {
		out["c:v"], out["preset"], out["crf"], out["pix_fmt"] = "libx264", c.cfg.Preset, c.cfg.CRF, "yuv420p"
		out["force_key_frames"] = fmt.Sprintf("expr:gte(t,n_forced*%d)", segmentSec)
		out["c:a"], out["b:a"] = "aac", "128k"
	}
	args := ffmpeg.Input(path, safeInput(Demuxer(contentType))).
		Output(filepath.Join(outDir, "index.m3u8"), out).
		GlobalArgs("-hide_banner", "-loglevel", "error", "-nostdin").GetArgs()
	if err := j.run(c.cfg.FFmpeg, args, nil); err != nil {
		return HLSResult{}, err
	}
	entries, err := os.ReadDir(outDir)
	if err != nil {
		return HLSResult{}, err
	}
	res := HLSResult{Playlist: "index.m3u8", Remuxed: remux}
	for _, e := range entries {
		res.Files = append(res.Files, e.Name())
	}
	sort.Strings(res.Files)
	return res, nil
}

// ContentType of an HLS file, set explicitly: the OS mime table maps .ts to
// Qt Linguist and knows nothing of .m3u8 or .m4s.
func ContentType(name string) string {
	switch filepath.Ext(name) {
	case ".m3u8":
		return "application/vnd.apple.mpegurl"
	case ".m4s", ".mp4":
		return "video/mp4"
	case ".ts":
		return "video/mp2t"
	case ".aac":
		return "audio/aac"
	}
	return "application/octet-stream"
}
