package video

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"time"

	"github.com/mediaedge/mediaedge/transform"
)

// Errors the edge maps to statuses. Corrupt animations also match
// transform.ErrCorruptImage, and animation limits are transform's
// ErrTooManyFrames / ErrTooManyPixels, so the edge's image error mapping
// answers them the same way as for images.
var (
	ErrNotAnimated = transform.ErrNotAnimated                     // 422: a still image asked for as MP4
	ErrCorrupt     = errors.New("video: input cannot be decoded") // 422: ffmpeg/ffprobe failed on the input
	ErrTimeout     = errors.New("video: deadline exceeded")       // 504: the job ran past Config.Timeout and was killed
	ErrBusy        = errors.New("video: too many jobs running")   // 503: no slot within Config.QueueWait

	// ErrAlreadyVideo: MP4 was asked of a video (MP4, MOV, WebM, AVI, ...),
	// which is not an animation to convert; "not animated" would be wrong.
	// 422 (code "already_video"): the client should fetch the video itself
	// or its HLS package. AnimatedToMP4 returns it for video bytes; the
	// edge, which knows the stored content type, can return it before
	// reading the source.
	ErrAlreadyVideo = errors.New("video: the source is already a video, not an animation")
)

// Config configures the Converter.
type Config struct {
	// FFmpeg and FFprobe are the binaries, by path or looked up in PATH.
	FFmpeg, FFprobe string
	// Timeout bounds one job (the copy of its source from the store and
	// every ffmpeg/ffprobe run in it); at the deadline the process group is
	// killed and the job returns ErrTimeout (504).
	Timeout time.Duration
	// MaxConcurrent is how many jobs run at once: ffmpeg uses every core it
	// gets, so a few at once saturate a machine.
	MaxConcurrent int
	// QueueWait is how long a job waits for a slot before ErrBusy (503).
	QueueWait time.Duration
	// TempDir is the parent of the per-job temp folders ("" = os.TempDir()),
	// where sources from the store are copied. Each job's folder is removed
	// when the job ends, killed or not; New removes those of a server that
	// was itself killed.
	TempDir string
	// Images holds the libvips limits (MaxFrames, MaxSourcePixels) used for
	// animated WebP, whose frames libvips decodes all at once.
	// MaxSourcePixels also bounds one frame of a video or GIF (422 beyond).
	Images transform.Config
	// MaxFrames bounds an animated GIF's frames (422 beyond).
	MaxFrames int
	// MaxPixels bounds width x height x frames of an animated GIF (422
	// beyond). It is larger than the image limit (Images.MaxSourcePixels)
	// because ffmpeg streams a GIF one frame at a time: memory holds one
	// frame, and Timeout bounds the time. A screen recording of 800 frames
	// at 640x420 is 215 megapixels, the very kind of GIF worth converting.
	// One frame must still fit Images.MaxSourcePixels.
	MaxPixels int64
	// CRF is the x264 quality of animations (GIF/WebP to MP4), lower is
	// better. 23 with AnimationPreset medium and -tune animation is the
	// highest CRF at which every GIF of `mediaedge bench video` keeps an
	// SSIM at least that of the plain `ffmpeg -i in.gif -pix_fmt yuv420p
	// out.mp4` (CRF 23, medium, no tune), at a median 0.77x its bytes. The
	// earlier 25 (web.dev's "replace animated GIFs with video" figure) with
	// veryfast was 0.56x the bytes but lower in SSIM on every GIF; at 24 one
	// GIF (dithered camera footage) falls just below. A CRF chosen by content
	// was weighed and left out: at 24 every GIF's margin is under 0.001,
	// and no cheap feature of the GIF (bytes per pixel and frame) told the
	// one below from the rest without fitting this set of 11.
	CRF int
	// HLSCRF is the x264 quality of HLS transcodes (remuxes keep the source).
	HLSCRF int
	// Preset is the x264 speed/size trade-off of HLS transcodes, where the
	// first segment is made while a player waits.
	Preset string
	// AnimationPreset is the x264 preset of animations, always encoded with
	// -tune animation (more reference frames and B-frames, a milder psy-rd
	// and AQ, which suit flat colours and sharp edges). medium measured
	// 0.95x the bytes of fast at SSIM at least the plain command's; faster
	// (CRF 22) and veryfast (CRF 18 untuned, CRF 20 with the tune) stayed
	// below it on screen recordings, and slow
	// at CRF 24 stayed below it on two GIFs for 1.3x the CPU. medium costs
	// 1.7-1.9x veryfast's CPU, about the plain command's. Fewer reference
	// frames (ref=3) saved 16% of the CPU for 7% more bytes.
	AnimationPreset string
	// HLSMaxSide bounds the longer side of an HLS transcode (1920: 1080p);
	// larger sources are scaled down, remuxes keep their size.
	HLSMaxSide int
}

// DefaultConfig follows DESIGN.md "Limits".
func DefaultConfig() Config {
	return Config{
		FFmpeg: "ffmpeg", FFprobe: "ffprobe",
		Timeout: 120 * time.Second, MaxConcurrent: 2, QueueWait: 5 * time.Second,
		Images:    transform.DefaultConfig(),
		MaxFrames: 1000, MaxPixels: 500_000_000,
		CRF: 23, HLSCRF: 23, Preset: "veryfast", AnimationPreset: "medium", HLSMaxSide: 1920,
	}
}

var presets = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("video-timeout %s: must be positive", c.Timeout))
	}
	if c.MaxConcurrent <= 0 {
		errs = append(errs, fmt.Errorf("video-workers %d: must be positive", c.MaxConcurrent))
	}
	if c.QueueWait < 0 {
		errs = append(errs, fmt.Errorf("video-queue-wait %s: must not be negative", c.QueueWait))
	}
	if c.MaxFrames <= 0 {
		errs = append(errs, fmt.Errorf("gif-max-frames %d: must be positive", c.MaxFrames))
	}
	if c.MaxPixels <= 0 {
		errs = append(errs, fmt.Errorf("gif-max-pixels %d: must be positive", c.MaxPixels))
	}
	for _, crf := range []struct {
		name string
		v    int
	}{{"video-crf", c.CRF}, {"hls-crf", c.HLSCRF}} {
		if crf.v < 0 || crf.v > 51 {
			errs = append(errs, fmt.Errorf("%s %d: want 0..51", crf.name, crf.v))
		}
	}
	for _, p := range []struct{ name, v string }{{"video-preset", c.Preset}, {"video-animation-preset", c.AnimationPreset}} {
		if !slices.Contains(presets, p.v) {
			errs = append(errs, fmt.Errorf("%s %q: not an x264 preset", p.name, p.v))
		}
	}
	if c.HLSMaxSide < 16 {
		errs = append(errs, fmt.Errorf("hls-max-side %d: must be at least 16", c.HLSMaxSide))
	}
	if err := c.Images.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("video: images: %w", err))
	}
	if _, err := exec.LookPath(c.FFmpeg); err != nil {
		errs = append(errs, fmt.Errorf("video: ffmpeg: %w", err))
	}
	if _, err := exec.LookPath(c.FFprobe); err != nil {
		errs = append(errs, fmt.Errorf("video: ffprobe: %w", err))
	}
	return errors.Join(errs...)
}
