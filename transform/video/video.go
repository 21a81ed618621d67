package video

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	ffmpeg "github.com/u2takey/ffmpeg-go"

	"github.com/mediaedge/mediaedge/transform"
)

// Errors the edge maps to statuses.
var (
	ErrNotAnimated = transform.ErrNotAnimated                     // 422
	ErrCorrupt     = errors.New("video: input cannot be decoded") // 422
	ErrTimeout     = errors.New("video: deadline exceeded")       // 504
	ErrBusy        = errors.New("video: too many jobs running")   // 503
)

// Config configures the converter.
type Config struct {
	FFmpeg, FFprobe string        // binaries; default from PATH
	Timeout         time.Duration // per job; the process is killed at the deadline
	MaxConcurrent   int           // ffmpeg processes at once
	QueueWait       time.Duration // how long a job waits for a slot before ErrBusy
	TempDir         string        // parent of per-job temp folders; "" = os.TempDir()
	Images          transform.Config
	CRF             int    // x264 quality, lower is better (default 23)
	Preset          string // x264 preset (default veryfast)
}

// DefaultConfig follows DESIGN.md "Limits".
func DefaultConfig() Config {
	return Config{FFmpeg: "ffmpeg", FFprobe: "ffprobe", Timeout: 120 * time.Second, MaxConcurrent: 2,
		QueueWait: 5 * time.Second, Images: transform.DefaultConfig(), CRF: 23, Preset: "veryfast"}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Timeout <= 0 || c.MaxConcurrent <= 0 || c.QueueWait < 0 {
		errs = append(errs, errors.New("video: timeout and max concurrent must be positive"))
	}
	if c.CRF < 0 || c.CRF > 51 {
		errs = append(errs, fmt.Errorf("video: crf %d not in 0..51", c.CRF))
	}
	if _, err := exec.LookPath(c.FFmpeg); err != nil {
		errs = append(errs, fmt.Errorf("video: ffmpeg: %w", err))
	}
	if _, err := exec.LookPath(c.FFprobe); err != nil {
		errs = append(errs, fmt.Errorf("video: ffprobe: %w", err))
	}
	return errors.Join(errs...)
}

// Converter runs ffmpeg jobs.
type Converter struct {
	cfg   Config
	slots chan struct{}
}

// New validates cfg.
func New(cfg Config) (*Converter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Converter{cfg: cfg, slots: make(chan struct{}, cfg.MaxConcurrent)}, nil
}

// job is one ffmpeg run's slot, deadline and temp folder.
type job struct {
	ctx    context.Context
	cancel context.CancelFunc
	dir    string
	c      *Converter
}

// start takes a slot and makes the temp folder; done releases both.
func (c *Converter) start(ctx context.Context) (*job, error) {
	wait := time.NewTimer(c.cfg.QueueWait)
	defer wait.Stop()
	select {
	case c.slots <- struct{}{}:
	case <-wait.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ErrTimeout
	}
	dir, err := os.MkdirTemp(c.cfg.TempDir, "mediaedge-video-")
	if err != nil {
		<-c.slots
		return nil, err
	}
	jctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	return &job{ctx: jctx, cancel: cancel, dir: dir, c: c}, nil
}

func (j *job) done() {
	j.cancel()
	os.RemoveAll(j.dir)
	<-j.c.slots
}

// tail keeps the last n bytes written to it (ffmpeg's stderr).
type tail struct {
	buf []byte
	n   int
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.n {
		t.buf = t.buf[len(t.buf)-t.n:]
	}
	return len(p), nil
}

// run executes ffmpeg with args built by ffmpeg-go, killing its whole process
// group at the deadline.
func (j *job) run(bin string, args []string, stdout *bytes.Buffer) error {
	cmd := exec.Command(bin, args...)
	errTail := &tail{n: 4096}
	cmd.Stderr = errTail
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()
	select {
	case err := <-waitc:
		if err != nil {
			return fmt.Errorf("%w: %s: %v: %s", ErrCorrupt, filepath.Base(bin), err, strings.TrimSpace(string(errTail.buf)))
		}
		return nil
	case <-j.ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-waitc
		return ErrTimeout
	}
}

// safeInput is what every ffmpeg input gets: no network protocols, a named
// demuxer.
func safeInput(format string) ffmpeg.KwArgs {
	return ffmpeg.KwArgs{"protocol_whitelist": "file,pipe", "f": format}
}

// MP4Options shape an animation's MP4.
type MP4Options struct {
	Width, Height int    // fit inside, never enlarge; 0 = source size
	Background    string // "rrggbbaa" (transform.Spec.BG); "" = white
}

// AnimatedToMP4 converts an animated GIF or WebP to H.264 MP4.
func (c *Converter) AnimatedToMP4(ctx context.Context, src []byte, opt MP4Options) ([]byte, transform.AnimationInfo, error) {
	j, err := c.start(ctx)
	if err != nil {
		return nil, transform.AnimationInfo{}, err
	}
	defer j.done()
	var list strings.Builder
	list.WriteString("ffconcat version 1.0\n")
	i := 0
	last := ""
	info, err := transform.Frames(j.ctx, c.cfg.Images, src, opt.Width, opt.Height, opt.Background, func(f transform.Frame) error {
		name := fmt.Sprintf("f%05d.png", i)
		i++
		if err := os.WriteFile(filepath.Join(j.dir, name), f.PNG, 0o600); err != nil {
			return err
		}
		// framerate 1000 gives the image demuxer a millisecond clock; at its
		// default 25 fps every timestamp would round to 40 ms steps.
		fmt.Fprintf(&list, "file '%s'\noption framerate 1000\nduration %.3f\n", name, float64(f.DelayMS)/1000)
		last = name
		return nil
	})
	if err != nil {
		if errors.Is(err, transform.ErrTimeout) || j.ctx.Err() != nil {
			return nil, info, ErrTimeout
		}
		return nil, info, err
	}
	// The last entry's duration only sets where a next frame would start, so
	// the last frame is listed once more: the MP4 then has one extra (identical)
	// frame and its total duration is the animation's exactly.
	fmt.Fprintf(&list, "file '%s'\noption framerate 1000\n", last)
	listPath := filepath.Join(j.dir, "frames.txt")
	if err := os.WriteFile(listPath, []byte(list.String()), 0o600); err != nil {
		return nil, info, err
	}
	out := filepath.Join(j.dir, "out.mp4")
	in := safeInput("concat")
	in["safe"] = "0"
	args := ffmpeg.Input(listPath, in).Output(out, ffmpeg.KwArgs{
		"c:v": "libx264", "pix_fmt": "yuv420p", "preset": c.cfg.Preset, "crf": c.cfg.CRF,
		"movflags": "+faststart", "an": "", "fps_mode": "vfr", "f": "mp4", "video_track_timescale": 1000,
	}).OverWriteOutput().GlobalArgs("-hide_banner", "-loglevel", "error", "-nostdin").GetArgs()
	if err := j.run(c.cfg.FFmpeg, args, nil); err != nil {
		return nil, info, err
	}
	b, err := os.ReadFile(out)
	return b, info, err
}

// Demuxer names ffmpeg's demuxer for a video content type ("" if none).
func Demuxer(contentType string) string {
	switch contentType {
	case "video/mp4", "video/quicktime", "audio/mp4":
		return "mov,mp4,m4a,3gp,3g2,mj2"
	case "video/webm", "video/x-matroska":
		return "matroska,webm"
	case "image/gif":
		return "gif"
	}
	return ""
}

// Poster returns the frame at atSeconds of the video in path, as PNG.
func (c *Converter) Poster(ctx context.Context, path, contentType string, atSeconds float64) ([]byte, error) {
	dm := Demuxer(contentType)
	if dm == "" {
		return nil, fmt.Errorf("%w: %s is not a video", ErrCorrupt, contentType)
	}
	j, err := c.start(ctx)
	if err != nil {
		return nil, err
	}
	defer j.done()
	in := safeInput(dm)
	in["ss"] = fmt.Sprintf("%.3f", atSeconds)
	var out bytes.Buffer
	args := ffmpeg.Input(path, in).Output("pipe:1", ffmpeg.KwArgs{"frames:v": 1, "f": "image2", "c:v": "png"}).
		GlobalArgs("-hide_banner", "-loglevel", "error", "-nostdin").GetArgs()
	if err := j.run(c.cfg.FFmpeg, args, &out); err != nil {
		return nil, err
	}
	if out.Len() == 0 {
		return nil, fmt.Errorf("%w: no frame at %.3f s", ErrCorrupt, atSeconds)
	}
	return out.Bytes(), nil
}
