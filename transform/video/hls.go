package video

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// HLS file names, fixed so that playlists, stores and caches agree.
const (
	HLSPlaylist = "index.m3u8"
	HLSInit     = "init.mp4"
	hlsSegments = "seg_%05d.m4s"
)

// HLSResult lists the files PackageHLS wrote into its output folder.
type HLSResult struct {
	Playlist string   // HLSPlaylist
	Init     string   // HLSInit: the fMP4 initialization segment
	Segments []string // seg_00000.m4s, ... in play order
	Files    []string // every file: playlist, init and segments, sorted
	Remuxed  bool     // the video stream was copied, not re-encoded
	Info     Info     // the source, as probed
}

// PackageHLS cuts the video at path (contentType picks the demuxer) into a
// VOD HLS package of fMP4 segments in outDir: index.m3u8, init.mp4 and
// seg_NNNNN.m4s, named relative to the playlist.
//
// H.264 video in 8-bit 4:2:0 is copied (-c copy): no quality loss and only
// I/O, so packaging a phone video takes a fraction of its length. The
// segments are then cut at the source's keyframes, the first at or after
// every segmentSec seconds, so their length follows the source's keyframe
// interval (phones put one every 1-2 s: 4-6 s segments). Anything else
// (HEVC, VP9, MPEG-4, 10-bit) is transcoded to H.264 with a keyframe forced
// every segmentSec, scaled down to HLSMaxSide. Audio is copied when it is
// AAC and transcoded to AAC otherwise; only the first video and audio
// streams are kept (phones add metadata tracks that HLS players refuse).
//
// Frames larger than Images.MaxSourcePixels are transform.ErrTooManyPixels,
// found by the probe before ffmpeg decodes anything.
func (c *Converter) PackageHLS(ctx context.Context, path, contentType, outDir string, segmentSec int) (HLSResult, error) {
	return c.packageHLS(ctx, input{path: path}, contentType, outDir, segmentSec)
}

// PackageHLSFrom is PackageHLS of a video that is not on disk: src is
// copied into the job's folder once the job has its slot (input.local).
func (c *Converter) PackageHLSFrom(ctx context.Context, src Source, contentType, outDir string, segmentSec int) (HLSResult, error) {
	return c.packageHLS(ctx, input{src: src}, contentType, outDir, segmentSec)
}

func (c *Converter) packageHLS(ctx context.Context, in input, contentType, outDir string, segmentSec int) (HLSResult, error) {
	if segmentSec < 1 {
		return HLSResult{}, fmt.Errorf("video: HLS segment length %d s", segmentSec)
	}
	dm := Demuxer(contentType)
	if dm == "" {
		return HLSResult{}, fmt.Errorf("%w: %s is not a video", ErrCorrupt, contentType)
	}
	// One slot from the copy to the last segment: the probe and the
	// packaging are reported as two jobs (next), each with its deadline.
	j, err := c.start(ctx, "probe")
	if err != nil {
		return HLSResult{}, err
	}
	defer j.done()
	path, err := in.local(j)
	if err != nil {
		return HLSResult{}, err
	}
	info, err := j.probe(path, dm)
	if err != nil {
		return HLSResult{}, err
	}
	j.next("hls")
	copyVideo := info.VideoCodec == "h264" && (info.PixFmt == "yuv420p" || info.PixFmt == "yuvj420p")
	// The first video and audio streams only; no subtitles, data tracks,
	// metadata (a phone's GPS location, make, model and capture time are
	// global metadata) or chapters; +bitexact keeps version numbers out of
	// the track's compressor name ("Lavc libx264"). The init segment still
	// names the libavformat version ("Lavf59.27.100"): ffmpeg 5.1's HLS
	// muxer sets its fMP4 sub-muxer's flags itself, and +bitexact cannot
	// reach it.
	out := []string{"-map", "0:v:0", "-map", "0:a:0?", "-sn", "-dn",
		"-map_metadata", "-1", "-map_chapters", "-1", "-fflags", "+bitexact"}
	if copyVideo {
		out = append(out, "-c:v", "copy")
	} else {
		m := c.cfg.HLSMaxSide
		out = append(out, "-c:v", "libx264", "-preset", c.cfg.Preset, "-crf", strconv.Itoa(c.cfg.HLSCRF),
			"-pix_fmt", "yuv420p", "-profile:v", "high",
			"-vf", fmt.Sprintf("scale=w='min(iw,%d)':h='min(ih,%d)':force_original_aspect_ratio=decrease:force_divisible_by=2", m, m),
			// A keyframe every segmentSec: segments come out even, and
			// x264's own scene-cut keyframes are free to add more.
			"-force_key_frames", fmt.Sprintf("expr:gte(t,n_forced*%d)", segmentSec))
	}
	if info.AudioCodec == "aac" {
		out = append(out, "-c:a", "copy")
	} else {
		out = append(out, "-c:a", "aac", "-b:a", "128k", "-ac", "2")
	}
	out = append(out, "-f", "hls", "-hls_time", strconv.Itoa(segmentSec), "-hls_playlist_type", "vod", "-hls_list_size", "0",
		"-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", HLSInit,
		"-hls_segment_filename", filepath.Join(outDir, hlsSegments), "-hls_flags", "independent_segments")
	args := slices.Concat(globalArgs, c.maxPixelsArgs(), safeInput(dm), []string{"-i", path}, out,
		[]string{filepath.Join(outDir, HLSPlaylist)})
	if err := j.run(c.cfg.FFmpeg, args, nil); err != nil {
		return HLSResult{}, fmt.Errorf("package hls: %w", err)
	}
	entries, err := os.ReadDir(outDir)
	if err != nil {
		return HLSResult{}, fmt.Errorf("package hls: %w", err)
	}
	res := HLSResult{Playlist: HLSPlaylist, Init: HLSInit, Remuxed: copyVideo, Info: info}
	for _, e := range entries {
		res.Files = append(res.Files, e.Name())
		if strings.HasSuffix(e.Name(), ".m4s") {
			res.Segments = append(res.Segments, e.Name())
		}
	}
	sort.Strings(res.Files)
	sort.Strings(res.Segments) // zero-padded numbers: name order is play order
	if len(res.Segments) == 0 {
		return res, fmt.Errorf("%w: ffmpeg wrote no HLS segment", ErrCorrupt)
	}
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
