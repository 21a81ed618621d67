package video

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/mediaedge/mediaedge/transform"
)

// Info is what ffprobe says of a media file.
type Info struct {
	DurationSec   float64
	Width, Height int
	VideoCodec    string
	PixFmt        string
	AudioCodec    string // "" when there is no audio
	Frames        int
}

// Probe runs ffprobe on the file at path (a forced demuxer for contentType).
// A video whose frames exceed Images.MaxSourcePixels is
// transform.ErrTooManyPixels (422), as an image would be.
func (c *Converter) Probe(ctx context.Context, path, contentType string) (Info, error) {
	dm := Demuxer(contentType)
	if dm == "" {
		return Info{}, fmt.Errorf("%w: %s is not a video", ErrCorrupt, contentType)
	}
	j, err := c.start(ctx, "probe")
	if err != nil {
		return Info{}, err
	}
	defer j.done()
	return j.probe(path, dm)
}

// probe reads the video at path and refuses one whose frames are larger
// than images may be (Images.MaxSourcePixels) before anything decodes it:
// a video of a few KB can declare 16000x16000 frames, and every decoder
// allocates what the header says. ffprobe decodes a few frames itself (to
// learn the pixel format), so it runs with -max_pixels (maxPixelsArgs):
// the decoder refuses a larger frame before allocating it, and ffprobe
// fails. Only then a second ffprobe, told to decode nothing (-skip_frame
// all, which also hides the pixel format), reads the declared size, to
// answer "too many pixels" rather than "corrupt".
func (j *job) probe(path, dm string) (Info, error) {
	var out bytes.Buffer
	args := slices.Concat([]string{"-hide_banner", "-v", "error"}, j.c.maxPixelsArgs(), safeInput(dm),
		[]string{"-print_format", "json", "-show_streams", "-show_format", path})
	if err := j.run(j.c.cfg.FFprobe, args, &out); err != nil {
		if errors.Is(err, ErrCorrupt) {
			if big := j.declaredTooBig(path, dm); big != nil {
				return Info{}, big
			}
		}
		return Info{}, err
	}
	info, err := parseProbe(out.Bytes())
	if err != nil {
		return info, err
	}
	if err := j.c.checkPixels(info.Width, info.Height); err != nil {
		return Info{}, err
	}
	return info, nil
}

// declaredTooBig is the ErrTooManyPixels of a video any of whose video
// streams declares frames above the limit, read without decoding; nil
// otherwise (the failure was something else).
func (j *job) declaredTooBig(path, dm string) error {
	var out bytes.Buffer
	args := slices.Concat([]string{"-hide_banner", "-v", "error", "-skip_frame", "all"}, safeInput(dm),
		[]string{"-select_streams", "v", "-show_entries", "stream=width,height", "-of", "json", path})
	if j.run(j.c.cfg.FFprobe, args, &out) != nil {
		return nil
	}
	var p struct {
		Streams []struct{ Width, Height int }
	}
	if json.Unmarshal(out.Bytes(), &p) != nil {
		return nil
	}
	for _, s := range p.Streams {
		if err := j.c.checkPixels(s.Width, s.Height); err != nil {
			return err
		}
	}
	return nil
}

// checkPixels refuses a frame of w x h above Images.MaxSourcePixels.
func (c *Converter) checkPixels(w, h int) error {
	if int64(w)*int64(h) > c.cfg.Images.MaxSourcePixels {
		return fmt.Errorf("video: %dx%d frames, at most %d pixels: %w", w, h, c.cfg.Images.MaxSourcePixels, transform.ErrTooManyPixels)
	}
	return nil
}

// maxPixelsArgs go before an input's -i (or ffprobe's file): libavcodec's
// decoders refuse to allocate a frame much above Images.MaxSourcePixels,
// whatever the header said when it was probed (a stream may change size
// midway). Not exactly at it: a decoder checks its aligned size (the width
// rounded up to its stride alignment, up to 64, the height to its block
// rows), so a 100x60 clip is checked as 128x60, and a video within the
// limit would fail to decode, as corrupt rather than 422. checkPixels is
// the exact gate, on the declared size; this one has room for the
// alignment: at most 64 more columns and rows of at most 16384 pixels
// each (libavcodec's own bound on a side) is 2 Mi pixels, taken twice.
func (c *Converter) maxPixelsArgs() []string {
	const alignSlack = 4 << 20
	return []string{"-max_pixels", strconv.FormatInt(min(c.cfg.Images.MaxSourcePixels+alignSlack, math.MaxInt32), 10)}
}

func parseProbe(b []byte) (Info, error) {
	var p struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
			CodecName string `json:"codec_name"`
			Width     int    `json:"width"`
			Height    int    `json:"height"`
			PixFmt    string `json:"pix_fmt"`
			NbFrames  string `json:"nb_frames"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return Info{}, fmt.Errorf("%w: ffprobe output: %v", ErrCorrupt, err)
	}
	var info Info
	info.DurationSec, _ = strconv.ParseFloat(p.Format.Duration, 64)
	for _, s := range p.Streams {
		switch s.CodecType {
		case "video":
			if info.VideoCodec == "" {
				info.VideoCodec, info.Width, info.Height, info.PixFmt = s.CodecName, s.Width, s.Height, s.PixFmt
				info.Frames, _ = strconv.Atoi(s.NbFrames)
			}
		case "audio":
			if info.AudioCodec == "" {
				info.AudioCodec = s.CodecName
			}
		}
	}
	if info.VideoCodec == "" {
		return info, fmt.Errorf("%w: no video stream", ErrCorrupt)
	}
	return info, nil
}
