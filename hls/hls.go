package hls

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/transform/video"
)

// Store is what packaging needs from the chunk store.
type Store interface {
	Put(ctx context.Context, r io.Reader, opt chunkstore.PutOptions) (chunkstore.FileInfo, error)
	Open(ctx context.Context, id string) (*chunkstore.Reader, error)
	Delete(ctx context.Context, id string) error
	GetDerived(ctx context.Context, sourceID, variant string) (chunkstore.FileInfo, error)
	GetDerivedID(ctx context.Context, sourceID, variant string) (string, error)
	ClaimDerived(ctx context.Context, sourceID, variant, fileID string) (string, bool, error)
	DeleteDerived(ctx context.Context, sourceID, variant string) error
}

// Config tunes packaging.
type Config struct {
	// SegmentSeconds is the target segment length; segments are cut at the
	// first keyframe after it, so 4 gives 4-6 s segments for phone videos.
	SegmentSeconds int
	// StaleAfter: a claim older than this is a dead producer's and is broken.
	// It must exceed the converter's job timeout plus the upload of the files.
	StaleAfter time.Duration
	// PollInterval is how often an edge that lost the claim looks for the
	// manifest.
	PollInterval time.Duration
	// TempDir holds the source copy and the ffmpeg output ("" = os.TempDir()).
	TempDir string
}

// DefaultConfig: 4 s segments, a claim is stale after 5 minutes.
func DefaultConfig() Config {
	return Config{SegmentSeconds: 4, StaleAfter: 5 * time.Minute, PollInterval: 250 * time.Millisecond}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.SegmentSeconds < 1 || c.SegmentSeconds > 30 {
		errs = append(errs, fmt.Errorf("hls-segment-seconds %d: want 1..30", c.SegmentSeconds))
	}
	if c.StaleAfter <= 0 {
		errs = append(errs, fmt.Errorf("hls-stale-after %s: must be positive", c.StaleAfter))
	}
	if c.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("hls-poll-interval %s: must be positive", c.PollInterval))
	}
	return errors.Join(errs...)
}

// Manifest maps each packaged file name (index.m3u8, init.mp4,
// seg_NNNNN.m4s) to its file id in the store.
type Manifest struct {
	Files   map[string]string `json:"files"`
	Remuxed bool              `json:"remuxed"`
}

const (
	variant     = "hls"
	lockVariant = "hls.lock"
)

// ErrNotVideo: the source is not a video ffmpeg can package (415).
var ErrNotVideo = errors.New("hls: not a video")

// Packager produces and finds HLS packages.
type Packager struct {
	cfg   Config
	store Store
	conv  *video.Converter
	group singleflight.Group // one production or wait per source on this edge
}

// New returns a Packager. An invalid cfg falls back to DefaultConfig field by
// field (callers that want the error call cfg.Validate first).
func New(cfg Config, store Store, conv *video.Converter) *Packager {
	d := DefaultConfig()
	if cfg.SegmentSeconds < 1 || cfg.SegmentSeconds > 30 {
		cfg.SegmentSeconds = d.SegmentSeconds
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = d.StaleAfter
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = d.PollInterval
	}
	return &Packager{cfg: cfg, store: store, conv: conv}
}

// Manifest returns the source's package, producing it if no edge has.
func (p *Packager) Manifest(ctx context.Context, src chunkstore.FileInfo) (Manifest, error) {
	if !strings.HasPrefix(src.ContentType, "video/") || video.Demuxer(src.ContentType) == "" {
		return Manifest{}, ErrNotVideo
	}
	if m, err := p.load(ctx, src.ID); err == nil {
		return m, nil
	} else if !errors.Is(err, chunkstore.ErrNotFound) {
		return Manifest{}, err
	}
	ch := p.group.DoChan(src.ID, func() (any, error) { return p.produceOrWait(context.WithoutCancel(ctx), src) })
	select {
	case r := <-ch:
		if r.Err != nil {
			return Manifest{}, r.Err
		}
		return r.Val.(Manifest), nil
	case <-ctx.Done():
		return Manifest{}, ctx.Err()
	}
}

func (p *Packager) load(ctx context.Context, id string) (Manifest, error) {
	f, err := p.store.GetDerived(ctx, id, variant)
	if err != nil {
		return Manifest{}, err
	}
	r, err := p.store.Open(ctx, f.ID)
	if err != nil {
		return Manifest{}, err
	}
	defer r.Close()
	var m Manifest
	if err := json.NewDecoder(r).Decode(&m); err != nil || m.Files[video.HLSPlaylist] == "" {
		return Manifest{}, fmt.Errorf("hls manifest %s of %s: %w", f.ID, id, chunkstore.ErrCorrupt)
	}
	return m, nil
}

func (p *Packager) produceOrWait(ctx context.Context, src chunkstore.FileInfo) (Manifest, error) {
	poll := time.NewTicker(p.cfg.PollInterval)
	defer poll.Stop()
	for {
		if m, err := p.load(ctx, src.ID); err == nil {
			return m, nil
		} else if !errors.Is(err, chunkstore.ErrNotFound) {
			return Manifest{}, err
		}
		// The token names this attempt and when it began, so other edges can
		// tell a live claim from a dead one.
		token := chunkstore.NewID() + "@" + strconv.FormatInt(time.Now().Unix(), 10)
		winner, mine, err := p.store.ClaimDerived(ctx, src.ID, lockVariant, token)
		if err != nil {
			return Manifest{}, fmt.Errorf("claim hls of %s: %w", src.ID, err)
		}
		if mine {
			m, err := p.produce(ctx, src)
			p.release(ctx, src.ID, token)
			return m, err
		}
		if _, ts, ok := strings.Cut(winner, "@"); ok {
			if sec, err := strconv.ParseInt(ts, 10, 64); err == nil && time.Since(time.Unix(sec, 0)) > p.cfg.StaleAfter {
				p.release(ctx, src.ID, winner)
				continue
			}
		}
		<-poll.C
	}
}

// release deletes the claim if it still holds token. The read and the
// delete are two steps (the derived table has no conditional delete), so in
// the rare case that a claim is broken and re-taken between them the new
// producer loses its lock; the worst outcome is a second production whose
// manifest then loses the (source, "hls") claim and is deleted.
func (p *Packager) release(ctx context.Context, sourceID, token string) {
	if cur, err := p.store.GetDerivedID(ctx, sourceID, lockVariant); err == nil && cur == token {
		_ = p.store.DeleteDerived(ctx, sourceID, lockVariant)
	}
}

func (p *Packager) produce(ctx context.Context, src chunkstore.FileInfo) (m Manifest, err error) {
	dir, err := os.MkdirTemp(p.cfg.TempDir, "mediaedge-hls-")
	if err != nil {
		return Manifest{}, fmt.Errorf("hls temp folder: %w", err)
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "source")
	if err := p.copySource(ctx, src.ID, in); err != nil {
		return Manifest{}, err
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		return Manifest{}, fmt.Errorf("hls output folder: %w", err)
	}
	res, err := p.conv.PackageHLS(ctx, in, src.ContentType, out, p.cfg.SegmentSeconds)
	if err != nil {
		return Manifest{}, fmt.Errorf("hls of %s: %w", src.ID, err)
	}
	// Files stored so far are deleted unless the manifest is recorded.
	var stored []string
	defer func() {
		if err != nil {
			for _, id := range stored {
				_ = p.store.Delete(ctx, id)
			}
		}
	}()
	put := func(r io.Reader) (string, error) {
		f, err := p.store.Put(ctx, r, chunkstore.PutOptions{Owner: "hls:" + src.ID})
		if err != nil {
			return "", fmt.Errorf("store hls of %s: %w", src.ID, err)
		}
		stored = append(stored, f.ID)
		return f.ID, nil
	}
	m = Manifest{Files: map[string]string{}, Remuxed: res.Remuxed}
	for _, name := range res.Files {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			return Manifest{}, fmt.Errorf("hls of %s: %w", src.ID, err)
		}
		id, err := put(f)
		f.Close()
		if err != nil {
			return Manifest{}, err
		}
		m.Files[name] = id
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return Manifest{}, err
	}
	mid, err := put(bytes.NewReader(raw))
	if err != nil {
		return Manifest{}, err
	}
	if _, mine, err := p.store.ClaimDerived(ctx, src.ID, variant, mid); err != nil {
		return Manifest{}, fmt.Errorf("record hls of %s: %w", src.ID, err)
	} else if !mine {
		// Another producer recorded its package first (after breaking a
		// claim it took for dead): serve that one, drop ours.
		for _, id := range stored {
			_ = p.store.Delete(ctx, id)
		}
		stored = nil
	}
	return p.load(ctx, src.ID)
}

func (p *Packager) copySource(ctx context.Context, id, path string) error {
	r, err := p.store.Open(ctx, id)
	if err != nil {
		return fmt.Errorf("open source %s: %w", id, err)
	}
	defer r.Close()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("copy source %s: %w", id, err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("copy source %s: %w", id, err)
	}
	return f.Close()
}
