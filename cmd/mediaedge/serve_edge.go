package main

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/edge"
	"github.com/mediaedge/mediaedge/hls"
	"github.com/mediaedge/mediaedge/transform"
	"github.com/mediaedge/mediaedge/transform/video"
	"github.com/mediaedge/mediaedge/tus"
)

// buildEdge creates the edge server and mounts tus and the transform
// renderer on it. The metrics are made first and shared by both. The tus
// handler needs the server's token check and the server needs the handler,
// so the check reaches the server through a variable set before the first
// request can arrive (the listener opens after build returns).
func buildEdge(cfg serveConfig, deps edge.Deps, store *chunkstore.Store, log *slog.Logger) (*edge.Server, error) {
	var srv *edge.Server
	metrics, err := edge.NewMetrics(deps.Registry)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	deps.Metrics = metrics
	tcfg := tus.DefaultConfig()
	tcfg.MaxSize = cfg.Edge.MaxUploadSize
	tcfg.Logger = log.With("component", "tus")
	tcfg.BodyReadTimeout = cfg.Edge.BodyReadTimeout
	tcfg.Authorize = func(r *http.Request) (string, error) { return srv.Authorize(r) }
	tcfg.MediaURL = func(id string) string { return srv.MediaURL(id) }
	tcfg.Metrics = metrics
	uploads, err := tus.New(store, tcfg)
	if err != nil {
		return nil, err
	}
	deps.Uploads = uploads

	xcfg := transform.DefaultConfig()
	xcfg.Presets = cfg.Presets
	xcfg.PresetsOnly = cfg.PresetsOnly
	xcfg.RequireSignature = cfg.RequireSignature
	for i, k := range cfg.SignKeys {
		b, err := hex.DecodeString(k)
		if err != nil || len(b) < 16 {
			return nil, fmt.Errorf("--sign-key #%d: want at least 32 hex digits", i+1)
		}
		xcfg.SignKeys = append(xcfg.SignKeys, b)
	}
	proc, err := transform.NewProcessor(xcfg)
	if err != nil {
		return nil, fmt.Errorf("transform: %w", err)
	}
	vcfg := video.DefaultConfig()
	vcfg.Images = xcfg
	conv, err := video.New(vcfg)
	if err != nil {
		return nil, fmt.Errorf("video (install ffmpeg: scripts/install-deps.sh): %w", err)
	}
	deps.HLS = hls.New(hls.DefaultConfig(), store, conv)
	media := &lateMedia{}
	deps.Media = media
	srv, err = edge.New(cfg.Edge, deps)
	if err != nil {
		return nil, err
	}
	media.h = edge.NewRenderer(srv, proc, conv)
	return srv, nil
}

// lateMedia forwards to the renderer, which needs the server to exist.
type lateMedia struct{ h edge.MediaHandler }

func (m *lateMedia) ServeMedia(w http.ResponseWriter, r *http.Request, info chunkstore.FileInfo, ext string) bool {
	return m.h.ServeMedia(w, r, info, ext)
}
