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
// ErrCorrupt (422). ffmpeg-go builds the argument lists; the process is
// started here, because ffmpeg-go's Run kills neither a process group nor
// bounds stderr, and its Compile logs every command through the global log.
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
// even sides; bimg has no API for pages or delays) and ffmpeg reads them as
// PNG files through the concat demuxer, whose per-file `duration` places
// every frame on a millisecond clock. A rawvideo pipe was the alternative:
// it has one constant rate, so variable delays would need frames duplicated
// at their least common rate, bigger and still inexact.
//
// Output: H.264 (libx264, CRF 25, one keyframe), yuv420p, even sides (an odd
// last row or column is cropped, not resampled), +faststart, no audio, no
// metadata, frames passed through with their timestamps (-fps_mode
// passthrough) and the last frame lasting its own delay (see mp4Args), so
// the MP4 has the source's frames and lasts exactly the sum of its delays.
// Transparency is composited onto MP4Options.Background before scaling.
// A still image is ErrNotAnimated; a GIF without its trailer is truncated
// and ErrCorrupt (ffmpeg would quietly convert the frames it has).
//
// # HLS
//
// PackageHLS copies H.264 8-bit 4:2:0 video (-c copy) into fMP4 segments
// cut at the source's keyframes, and transcodes anything else to H.264
// (keyframe every segment length, at most 1080p) and non-AAC audio to AAC.
// ContentType names the types of the files it writes, explicitly, since the
// OS mime table is wrong for .ts and .m3u8.
package video
