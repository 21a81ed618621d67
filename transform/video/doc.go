// Package video runs mediaedge's ffmpeg work: animated GIF and WebP to MP4,
// posters (the frame of a video at a time), probing, and cutting a video into
// HLS segments (package hls adds the fleet-wide produce-once and storage).
//
// # Safety
//
// Every job goes through Converter.start and job.run: at most MaxConcurrent
// jobs at once (ErrBusy after QueueWait), a deadline per job (Timeout) at
// which the whole process group is killed and reaped before ErrTimeout is
// returned, a private temp folder removed when the job ends whatever
// happened, `-protocol_whitelist file,pipe` and a forced demuxer on every
// input (no URLs, no format guessing on untrusted bytes), and stderr kept
// (the last 4 KB) in the returned error for the log. A failed decode is
// ErrCorrupt (422).
//
// A video from the store (PosterFrom, PackageHLSFrom) is copied into the
// job's folder only once the job holds its slot, under its deadline: the
// disk holds at most MaxConcurrent copies, and requests waiting for a slot
// hold nothing. Before any ffmpeg decodes a video, ffprobe checks its frame
// size against the image limit (Images.MaxSourcePixels: ErrTooManyPixels,
// 422), and every decoder, ffprobe's included, runs with -max_pixels, so no
// header can make one allocate a larger frame. A GIF's frames are listed
// only up to MaxFrames+1.
//
// A server killed outright cannot kill its children: each runs with
// Pdeathsig, so the kernel kills it when the server dies, and New removes
// the job folders such a server left behind.
//
// Argument lists are plain []string in ffmpeg's own order (global options,
// input options and -i, output options, output), and the process is started
// here. github.com/u2takey/ffmpeg-go was used to build the lists and is
// gone: its Run kills neither a process group nor bounds stderr, its Compile
// logs every command through the global log, it sorts options
// alphabetically and puts global options after the output, and its
// filter-graph DSL hides the graph a reviewer must read to know what ffmpeg
// will do with untrusted input. A literal list is shorter and says exactly
// what runs.
//
// # Metadata
//
// Nothing of the source's metadata reaches an output: MP4s and HLS packages
// are written with -map_metadata -1 (global, stream and chapter metadata:
// a phone video's GPS location, make, model and capture time),
// -map_chapters -1 and -fflags +bitexact (no libavformat version tag in an
// MP4, no version in the track's compressor name; ffmpeg 5.1's HLS muxer
// does not pass it on, so an HLS init segment still says "Lavf59.27.100").
// Posters are PNGs that the image pipeline strips like any image, and
// animated WebP frames come from transform.Frames stripped.
//
// # Animations
//
// GIF goes to ffmpeg directly. Its GIF demuxer gives each frame its own
// delay as a timestamp (delays of 10 ms or less become 100 ms, as browsers
// show them), handles disposal and transparency, and streams: memory holds
// one frame however long the GIF, which is why GIFs have their own limits
// (MaxFrames, MaxPixels) above the image limits. ffprobe first lists the
// packets (no decoding) for the frame count, size and delays.
//
// Animated WebP cannot be decoded by Debian 12's ffmpeg 5.1, so libvips
// decodes its frames (transform.Frames: fit, flatten onto the background,
// even sides, with each frame's delay) and ffmpeg reads them as
// PNG files through the concat demuxer, whose per-file `duration` places
// every frame on a millisecond clock. A rawvideo pipe was the alternative:
// it has one constant rate, so variable delays would need frames duplicated
// at their least common rate, bigger and still inexact.
//
// Output: H.264 (libx264, CRF 23, -tune animation, preset medium, one
// keyframe), yuv420p, even sides (an odd last row or column is cropped, not
// resampled), +faststart, no audio, no
// metadata, frames passed through with their timestamps (-fps_mode
// passthrough) and the last frame lasting its own delay (see mp4Args), so
// the MP4 has the source's frames and lasts exactly the sum of its delays.
// Transparency is composited onto MP4Options.Background before scaling.
// A still image is ErrNotAnimated; a video (MP4, WebM, ...) is
// ErrAlreadyVideo, a different answer from "not animated"; a GIF without its
// trailer is truncated and ErrCorrupt (ffmpeg would quietly convert the
// frames it has).
//
// # HLS
//
// PackageHLS copies H.264 8-bit 4:2:0 video (-c copy) into fMP4 segments
// cut at the source's keyframes, and transcodes anything else to H.264
// (keyframe every segment length, at most 1080p) and non-AAC audio to AAC.
// ContentType names the types of the files it writes, explicitly, since the
// OS mime table is wrong for .ts and .m3u8.
package video
