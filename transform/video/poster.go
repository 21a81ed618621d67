package video

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Demuxer names ffmpeg's demuxer for a content type as the chunk store
// sniffed it ("" when ffmpeg is not to read it). Forcing the demuxer keeps
// ffmpeg from guessing a format (and its attack surface) from the bytes.
func Demuxer(contentType string) string {
	switch contentType {
	case "video/mp4", "video/quicktime", "video/3gpp", "audio/mp4":
		return "mov,mp4,m4a,3gp,3g2,mj2"
	case "video/webm", "video/x-matroska":
		return "matroska,webm"
	case "video/x-msvideo", "video/avi":
		return "avi"
	case "video/mpeg":
		return "mpeg"
	case "video/mp2t":
		return "mpegts"
	case "video/ogg":
		return "ogg"
	case "image/gif":
		return "gif"
	}
	return ""
}

// Poster returns the frame shown at atSeconds of the video in path, as PNG
// at the video's display size (rotation applied). A time past the end gives
// the last frame, as a player paused at the end shows. contentType picks
// the demuxer (Demuxer); one ffmpeg decodes from the keyframe before t.
// Frames larger than Images.MaxSourcePixels are transform.ErrTooManyPixels,
// found by ffprobe before ffmpeg decodes anything.
func (c *Converter) Poster(ctx context.Context, path, contentType string, atSeconds float64) ([]byte, error) {
	return c.poster(ctx, input{path: path}, contentType, atSeconds)
}

// PosterFrom is Poster of a video that is not on disk: src is copied into
// the job's folder once the job has its slot (see input.local).
func (c *Converter) PosterFrom(ctx context.Context, src Source, contentType string, atSeconds float64) ([]byte, error) {
	return c.poster(ctx, input{src: src}, contentType, atSeconds)
}

func (c *Converter) poster(ctx context.Context, in input, contentType string, atSeconds float64) ([]byte, error) {
	dm := Demuxer(contentType)
	if dm == "" {
		return nil, fmt.Errorf("%w: %s is not a video", ErrCorrupt, contentType)
	}
	if atSeconds < 0 || atSeconds != atSeconds {
		return nil, fmt.Errorf("video: poster time %v must be >= 0", atSeconds)
	}
	j, err := c.start(ctx, "poster")
	if err != nil {
		return nil, err
	}
	defer j.done()
	path, err := in.local(j)
	if err != nil {
		return nil, err
	}
	if _, err := j.probe(path, dm); err != nil {
		return nil, fmt.Errorf("poster: %w", err)
	}
	// compression_level 1: the PNG is an intermediate that the image
	// pipeline decodes at once (and strips of any metadata); fast beats
	// small here.
	png := []string{"-an", "-sn", "-dn", "-map_metadata", "-1", "-c:v", "png", "-compression_level", "1", "-f", "image2"}
	at := strconv.FormatFloat(atSeconds, 'f', 3, 64)
	var out bytes.Buffer
	args := slices.Concat(globalArgs, c.maxPixelsArgs(), safeInput(dm), []string{"-ss", at, "-i", path}, png, []string{"-frames:v", "1", "pipe:1"})
	if err := j.run(c.cfg.FFmpeg, args, &out); err != nil {
		return nil, fmt.Errorf("poster at %.3f s: %w", atSeconds, err)
	}
	if out.Len() > 0 {
		return out.Bytes(), nil
	}
	// Nothing decoded at or after t: t is past the end. Decode the last
	// seconds and keep overwriting one file, which ends as the last frame.
	last := filepath.Join(j.dir, "last.png")
	args = slices.Concat(globalArgs, c.maxPixelsArgs(), safeInput(dm), []string{"-sseof", "-3", "-i", path}, png, []string{"-update", "1", last})
	if err := j.run(c.cfg.FFmpeg, args, nil); err != nil {
		return nil, fmt.Errorf("poster at the end: %w", err)
	}
	b, err := os.ReadFile(last)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%w: no video frame in %s", ErrCorrupt, filepath.Base(path))
	}
	return b, nil
}
