package main

import (
	"encoding/hex"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/mediaedge/mediaedge/edgecache"
)

// bindLimitFlags binds the limits DESIGN.md calls configurable (transform
// pixels, frames, workers and deadlines; video and HLS caps; cache disk
// health) to flags of the same names as the keys the packages' Validate
// reports, so a bad value is refused at start naming its flag. Each flag
// has its MEDIAEDGE_ environment twin (bindEnv) and a --config key.
func bindLimitFlags(f *pflag.FlagSet, cfg *serveConfig) {
	t := &cfg.Transform
	f.Int64Var(&t.MaxSourcePixels, "max-source-pixels", t.MaxSourcePixels, "largest image transformed, width x height x frames, read from the header (422 beyond)")
	f.IntVar(&t.MaxOutputSide, "max-output-side", t.MaxOutputSide, "largest output width or height after dpr (400 beyond)")
	f.IntVar(&t.MaxFrames, "max-frames", t.MaxFrames, "most frames of an animated image transformed (422 beyond)")
	f.IntVar(&t.Workers, "transform-workers", t.Workers, "image transforms run at once (default 2 x cores)")
	f.IntVar(&t.QueueLen, "transform-queue", t.QueueLen, "image transforms that may wait for a worker (503 + Retry-After beyond)")
	f.DurationVar(&t.Timeout, "transform-timeout", t.Timeout, "one image transform, waiting included (504 beyond; libvips is stopped)")

	v := &cfg.Video
	f.DurationVar(&v.Timeout, "video-timeout", v.Timeout, "one ffmpeg job (504 beyond; the process group is killed)")
	f.IntVar(&v.MaxConcurrent, "video-workers", v.MaxConcurrent, "ffmpeg jobs run at once")
	f.DurationVar(&v.QueueWait, "video-queue-wait", v.QueueWait, "how long an ffmpeg job waits for a slot (503 beyond)")
	f.IntVar(&v.MaxFrames, "gif-max-frames", v.MaxFrames, "most frames of a GIF turned into MP4 (422 beyond)")
	f.Int64Var(&v.MaxPixels, "gif-max-pixels", v.MaxPixels, "largest GIF turned into MP4, width x height x frames (422 beyond)")
	f.IntVar(&v.CRF, "video-crf", v.CRF, "x264 quality of GIF/WebP to MP4, 0..51, lower is better")
	f.IntVar(&v.HLSCRF, "hls-crf", v.HLSCRF, "x264 quality of HLS transcodes, 0..51")
	f.StringVar(&v.Preset, "video-preset", v.Preset, "x264 preset of HLS transcodes")
	f.StringVar(&v.AnimationPreset, "video-animation-preset", v.AnimationPreset, "x264 preset of GIF/WebP to MP4 (always with -tune animation)")
	f.IntVar(&v.HLSMaxSide, "hls-max-side", v.HLSMaxSide, "longer side of an HLS transcode; larger videos are scaled down")

	h := &cfg.HLS
	f.IntVar(&h.SegmentSeconds, "hls-segment-seconds", h.SegmentSeconds, "target HLS segment length, 1..30")
	f.DurationVar(&h.StaleAfter, "hls-stale-after", h.StaleAfter, "an HLS packaging claim older than this is a dead edge's and is taken over")

	c := &cfg.Cache
	f.Var(newPolicyValue(&c.Policy), "cache-policy", "cache eviction: s3fifo or lru")
	f.IntVar(&c.FailThreshold, "cache-fail-threshold", c.FailThreshold, "I/O errors in a row that take a cache disk offline")
	f.DurationVar(&c.ProbeInterval, "cache-probe-interval", c.ProbeInterval, "how often failing and offline cache disks are probed")
	f.DurationVar(&c.WriteDeadline, "cache-write-deadline", c.WriteDeadline, "a cache write slower than this counts as a disk error")
	f.IntVar(&c.OpenFileCache, "cache-open-files", c.OpenFileCache, "open files of hot cache entries kept for reuse (0 disables)")
	f.BoolVar(&c.SyncFills, "cache-sync-fills", c.SyncFills, "fsync each cache entry before serving it")
}

// resolve fills what the flags give indirectly: decoded sign keys and the
// image limits the video converter shares with transforms.
func (c *serveConfig) resolve() error {
	c.Transform.SignKeys = nil
	for i, k := range c.SignKeys {
		b, err := hex.DecodeString(k)
		if err != nil || len(b) < 16 {
			return fmt.Errorf("--sign-key #%d: want at least 32 hex digits", i+1)
		}
		c.Transform.SignKeys = append(c.Transform.SignKeys, b)
	}
	c.Video.Images = c.Transform
	return nil
}

// policyValue is --cache-policy as a pflag.Value over edgecache.Policy.
type policyValue struct{ p *edgecache.Policy }

func newPolicyValue(p *edgecache.Policy) *policyValue { return &policyValue{p} }
func (v *policyValue) String() string                 { return string(*v.p) }
func (v *policyValue) Type() string                   { return "policy" }
func (v *policyValue) Set(s string) error {
	*v.p = edgecache.Policy(s)
	return nil // checked with the rest of the config by edgecache's Validate
}
