// Package video runs mediaedge's ffmpeg work: animated GIF/WebP to MP4,
// posters (a frame of a video at a time), probing, and HLS packaging (package
// hls builds on it).
//
// Every ffmpeg run goes through run(): a deadline (Config.Timeout) after which
// the whole process group is killed, at most MaxConcurrent runs at once
// (ErrBusy after a short wait), `-protocol_whitelist file,pipe` and a forced
// demuxer so a crafted input cannot make ffmpeg open URLs or guess formats,
// stderr kept (the last 4 KB) for the error log, and a private temp folder
// removed whatever happens. Arguments are built with ffmpeg-go; the process
// itself is started here, because ffmpeg-go's Run neither kills the process
// group nor bounds stderr.
//
// Animations: frames and their delays come from libvips (transform.Frames):
// Debian 12's ffmpeg 5.1 cannot decode animated WebP, and one path for GIF and
// WebP keeps them identical. Frames go to ffmpeg as PNG files through the
// concat demuxer, whose per-file `duration` carries each frame's delay exactly
// (a rawvideo pipe has one constant rate and would need frame duplication to
// approximate variable delays). Output: H.264 (libx264), yuv420p, even
// dimensions, +faststart, no audio, variable frame rate.
package video
