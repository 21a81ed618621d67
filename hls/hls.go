// Package hls packages an uploaded video as HLS once for the whole fleet and
// finds the packaged files again.
//
// On the first request for a video's playlist, one edge claims the work in
// the derived table (a lightweight transaction on Cassandra: exactly one
// claimant wins), copies the source from the chunk store to a temp file,
// runs ffmpeg (remux H.264/AAC with -c copy, transcode anything else), stores
// every output file in the chunk store, then a JSON manifest naming them, and
// records the manifest as the (source, "hls") variant. Every edge then serves
// the same files, through its own disk cache. Edges that lose the claim wait
// for the manifest. A claim older than StaleAfter is taken to be a dead
// producer's and is broken.
package hls

import (
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
	Stat(ctx context.Context, id string) (chunkstore.FileInfo, error)
	GetDerived(ctx context.Context, sourceID, variant string) (chunkstore.FileInfo, error)
	GetDerivedID(ctx context.Context, sourceID, variant string) (string, error)
	ClaimDerived(ctx context.Context, sourceID, variant, fileID string) (string, bool, error)
	DeleteDerived(ctx context.Context, sourceID, variant string) error
}

// Config tunes packaging.
type Config struct {
	SegmentSeconds int           // target segment length (4-6 s)
	StaleAfter     time.Duration // a claim older than this is broken
	PollInterval   time.Duration // how often a waiting edge looks for the manifest
	TempDir        string
}

// DefaultConfig: 4 s segments (cut at keyframes, so 4-6 s in practice).
func DefaultConfig() Config {
	return Config{SegmentSeconds: 4, StaleAfter: 5 * time.Minute, PollInterval: 250 * time.Millisecond}
}

// Manifest maps each packaged file name to its file id in the store.
type Manifest struct {
	Files   map[string]string `json:"files"`
	Remuxed bool              `json:"remuxed"`
}

const (
	variant     = "hls"
	lockVariant = "hls.lock"
)

// ErrNotVideo: the source is not a video ffmpeg can package.
var ErrNotVideo = errors.New("hls: not a video")

// Packager produces and finds HLS packages.
type Packager struct {
	cfg   Config
	store Store
	conv  *video.Converter
	group singleflight.Group
}

// New returns a Packager.
func New(cfg Config, store Store, conv *video.Converter) *Packager {
	return &Packager{cfg: cfg, store: store, conv: conv}
}

// Manifest returns the source's package, producing it if no edge has.
func (p *Packager) Manifest(ctx context.Context, src chunkstore.FileInfo) (Manifest, error) {
	if video.Demuxer(src.ContentType) == "" || strings.HasPrefix(src.ContentType, "image/") {
		return Manifest{}, ErrNotVideo
	}
	if m, err := p.load(ctx, src.ID); err == nil {
		return m, nil
	} else if !errors.Is(err, chunkstore.ErrNotFound) {
		return Manifest{}, err
	}
	v, err, _ := p.group.Do(src.ID, func() (any, error) { return p.produceOrWait(context.WithoutCancel(ctx), src) })
	if err != nil {
		return Manifest{}, err
	}
	return v.(Manifest), nil
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
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("hls manifest of %s: %w", id, chunkstore.ErrCorrupt)
	}
	return m, nil
}

func (p *Packager) produceOrWait(ctx context.Context, src chunkstore.FileInfo) (Manifest, error) {
	for {
		if m, err := p.load(ctx, src.ID); err == nil {
			return m, nil
		}
		token := chunkstore.NewID() + "@" + strconv.FormatInt(time.Now().Unix(), 10)
		winner, mine, err := p.store.ClaimDerived(ctx, src.ID, lockVariant, token)
		if err != nil {
			return Manifest{}, err
		}
		if mine {
			m, err := p.produce(ctx, src)
			_ = p.store.DeleteDerived(ctx, src.ID, lockVariant)
			return m, err
		}
		// Another edge is producing: wait for its manifest, or break its
		// claim once it is older than StaleAfter.
		if _, ts, ok := strings.Cut(winner, "@"); ok {
			if sec, err := strconv.ParseInt(ts, 10, 64); err == nil && time.Since(time.Unix(sec, 0)) > p.cfg.StaleAfter {
				_ = p.store.DeleteDerived(ctx, src.ID, lockVariant)
				continue
			}
		}
		select {
		case <-ctx.Done():
			return Manifest{}, ctx.Err()
		case <-time.After(p.cfg.PollInterval):
		}
	}
}

func (p *Packager) produce(ctx context.Context, src chunkstore.FileInfo) (Manifest, error) {
	dir, err := os.MkdirTemp(p.cfg.TempDir, "mediaedge-hls-")
	if err != nil {
		return Manifest{}, err
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "source")
	if err := p.copySource(ctx, src.ID, in); err != nil {
		return Manifest{}, err
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		return Manifest{}, err
	}
	res, err := p.conv.PackageHLS(ctx, in, src.ContentType, out, p.cfg.SegmentSeconds)
	if err != nil {
		return Manifest{}, err
	}
	m := Manifest{Files: map[string]string{}, Remuxed: res.Remuxed}
	for _, name := range res.Files {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			return Manifest{}, err
		}
		info, err := p.store.Put(ctx, f, chunkstore.PutOptions{Owner: "hls:" + src.ID})
		f.Close()
		if err != nil {
			return Manifest{}, err
		}
		m.Files[name] = info.ID
	}
	raw, _ := json.Marshal(m)
	mf, err := p.store.Put(ctx, strings.NewReader(string(raw)), chunkstore.PutOptions{Owner: "hls:" + src.ID})
	if err != nil {
		return Manifest{}, err
	}
	if _, _, err := p.store.ClaimDerived(ctx, src.ID, variant, mf.ID); err != nil {
		return Manifest{}, err
	}
	return p.load(ctx, src.ID)
}

func (p *Packager) copySource(ctx context.Context, id, path string) error {
	r, err := p.store.Open(ctx, id)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
