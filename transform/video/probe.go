package video

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
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
	var out bytes.Buffer
	args := []string{"-hide_banner", "-v", "error", "-protocol_whitelist", "file,pipe", "-f", dm,
		"-print_format", "json", "-show_streams", "-show_format", path}
	if err := j.run(c.cfg.FFprobe, args, &out); err != nil {
		return Info{}, err
	}
	return parseProbe(out.Bytes())
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
