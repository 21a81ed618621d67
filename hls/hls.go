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
	// TempDir holds ffmpeg's output until it is stored ("" =
	// os.TempDir()). The source copy is the converter's, in its job folder
	// (video.Config.TempDir), made once the job has a slot.
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
	// ID is the manifest's own file id, the one the (source, "hls") record
	// names (not stored in the file; Forget compares it).
	ID string `json:"-"`
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

const tempPrefix = "mediaedge-hls-"

// New returns a Packager. An invalid cfg falls back to DefaultConfig field by
// field (callers that want the error call cfg.Validate first). It removes
// the output folders a killed server left in cfg.TempDir: a producer that
// has held one longer than StaleAfter has lost its claim anyway.
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
	// Best effort: an unreadable folder fails the first production instead.
	_ = video.RemoveStale(cfg.TempDir, cfg.StaleAfter, tempPrefix)
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

// danglingError: the (source, "hls") record names a manifest that is no
// longer in the store. Nothing will ever serve it; the record is dropped and
// the package produced again (produceOrWait). It matches
// chunkstore.ErrNotFound.
type danglingError struct{ sourceID, manifestID string }

func (e *danglingError) Error() string {
	return fmt.Sprintf("hls manifest %s of %s: gone from the store", e.manifestID, e.sourceID)
}

func (e *danglingError) Unwrap() error { return chunkstore.ErrNotFound }

func (p *Packager) load(ctx context.Context, id string) (Manifest, error) {
	mid, err := p.store.GetDerivedID(ctx, id, variant)
	if err != nil {
		return Manifest{}, err
	}
	r, err := p.store.Open(ctx, mid)
	if errors.Is(err, chunkstore.ErrNotFound) {
		return Manifest{}, &danglingError{sourceID: id, manifestID: mid}
	} else if err != nil {
		return Manifest{}, err
	}
	defer r.Close()
	var m Manifest
	if err := json.NewDecoder(r).Decode(&m); err != nil || m.Files[video.HLSPlaylist] == "" {
		return Manifest{}, fmt.Errorf("hls manifest %s of %s: %w", mid, id, chunkstore.ErrCorrupt)
	}
	m.ID = mid
	return m, nil
}

// Forget drops the source's package record if it still names m, so that the
// next Manifest produces the package again: the edge calls it when a file m
// names is gone from the store, which no later request could ever serve.
func (p *Packager) Forget(ctx context.Context, sourceID string, m Manifest) error {
	return p.dropIf(ctx, sourceID, variant, m.ID)
}

// dropIf deletes the (sourceID, v) record if it still names fileID. The read
// and the delete are two steps (the derived table has no conditional
// delete): see release for what a record replaced between them costs.
func (p *Packager) dropIf(ctx context.Context, sourceID, v, fileID string) error {
	cur, err := p.store.GetDerivedID(ctx, sourceID, v)
	if errors.Is(err, chunkstore.ErrNotFound) || (err == nil && cur != fileID) {
		return nil
	} else if err != nil {
		return fmt.Errorf("drop %s of %s: %w", v, sourceID, err)
	}
	return p.store.DeleteDerived(ctx, sourceID, v)
}

func (p *Packager) produceOrWait(ctx context.Context, src chunkstore.FileInfo) (Manifest, error) {
	poll := time.NewTicker(p.cfg.PollInterval)
	defer poll.Stop()
	for {
		m, err := p.load(ctx, src.ID)
		var gone *danglingError
		switch {
		case err == nil:
			return m, nil
		case errors.As(err, &gone):
			// Produce anew rather than answer 404 for ever. A failed drop
			// shows again below: our record loses its claim to the old one.
			_ = p.dropIf(ctx, src.ID, variant, gone.manifestID)
		case !errors.Is(err, chunkstore.ErrNotFound):
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
	_ = p.dropIf(ctx, sourceID, lockVariant, token)
}

func (p *Packager) produce(ctx context.Context, src chunkstore.FileInfo) (m Manifest, err error) {
	out, err := os.MkdirTemp(p.cfg.TempDir, tempPrefix)
	if err != nil {
		return Manifest{}, fmt.Errorf("hls temp folder: %w", err)
	}
	defer os.RemoveAll(out)
	// The converter copies the source once its job has a slot: copying here
	// first let every waiting production hold a full copy on disk.
	open := func(ctx context.Context) (io.ReadCloser, error) {
		r, err := p.store.Open(ctx, src.ID)
		if err != nil {
			return nil, fmt.Errorf("open source %s: %w", src.ID, err)
		}
		return r, nil
	}
	res, err := p.conv.PackageHLSFrom(ctx, open, src.ContentType, out, p.cfg.SegmentSeconds)
	if err != nil {
		return Manifest{}, fmt.Errorf("hls of %s: %w", src.ID, err)
	}
	// Files stored so far are deleted on failure unless the record may name
	// them: deleting what the record names would leave it dangling.
	var stored []string
	keep := false
	defer func() {
		if err != nil && !keep {
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
	if m.ID, err = put(bytes.NewReader(raw)); err != nil {
		return Manifest{}, err
	}
	_, mine, err := p.store.ClaimDerived(ctx, src.ID, variant, m.ID)
	if err != nil {
		// The write may have landed all the same (a timeout on an LWT):
		// read the record back, and keep the files unless it is known not
		// to name them. A leaked package is disk; a record naming deleted
		// files is a video that no longer plays.
		cur, gerr := p.store.GetDerivedID(ctx, src.ID, variant)
		switch {
		case gerr == nil && cur == m.ID:
			return m, nil
		case gerr != nil && !errors.Is(gerr, chunkstore.ErrNotFound):
			keep = true
		}
		return Manifest{}, fmt.Errorf("record hls of %s: %w", src.ID, err)
	}
	if mine {
		return m, nil // recorded: this is the package, no need to read it back
	}
	// Another producer recorded its package first (after breaking a claim
	// it took for dead): serve that one, drop ours.
	for _, id := range stored {
		_ = p.store.Delete(ctx, id)
	}
	stored = nil
	return p.load(ctx, src.ID)
}
