package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/edge"
	"github.com/mediaedge/mediaedge/hls"
	"github.com/mediaedge/mediaedge/transform"
	"github.com/mediaedge/mediaedge/transform/video"
	"github.com/mediaedge/mediaedge/tus"
	"github.com/mediaedge/mediaedge/webapp"
)

// buildEdge creates the edge server with tus, transforms, video and HLS.
// The metrics are made first and shared by the edge and tus. The tus
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
	tcfg.PublicURL = cfg.Edge.PublicURL // empty: Location from the request, as reached directly
	tcfg.Logger = log.With("component", "tus")
	tcfg.BodyReadTimeout = cfg.Edge.BodyReadTimeout
	tcfg.BodyMinRate, tcfg.BodyMinRateWindow = cfg.Edge.BodyMinRate, cfg.Edge.BodyMinRateWindow
	tcfg.Authorize = func(r *http.Request) (string, error) { return srv.Authorize(r) }
	tcfg.Owns = func(stored, requester string) bool { return srv.Owns(stored, requester) }
	tcfg.MediaURL = func(id string) string { return srv.MediaURL(id) }
	tcfg.Metrics = metrics
	tcfg.Quota = func(ctx context.Context, owner string) (int64, error) { return srv.QuotaRoom(ctx, owner) }
	tcfg.ServerMetadata = func(owner string) map[string]string {
		if srv.StripLocation(owner) {
			return map[string]string{chunkstore.MetaStripLocation: "1"}
		}
		return nil
	}
	uploads, err := tus.New(store, tcfg)
	if err != nil {
		return nil, err
	}
	deps.Uploads = uploads

	proc, err := transform.NewProcessor(cfg.Transform)
	if err != nil {
		return nil, fmt.Errorf("transform: %w", err)
	}
	vcfg := cfg.Video
	vcfg.Images = cfg.Transform
	conv, err := video.New(vcfg)
	if err != nil {
		return nil, fmt.Errorf("video (install ffmpeg: scripts/install-deps.sh): %w", err)
	}
	deps.Transformer, deps.Video = proc, conv
	deps.HLS = hls.New(cfg.HLS, store, conv)
	app, err := webapp.New(webapp.Config{RequireSignature: cfg.Transform.RequireSignature,
		PresetsOnly: cfg.Transform.PresetsOnly, Logger: log.With("component", "webapp")})
	if err != nil {
		return nil, err
	}
	if m := app.Missing(); len(m) > 0 {
		log.Warn("web app built without its libraries (run make webapp): uploads and HLS playback in the page will not work", "missing", m)
	}
	deps.App = app
	srv, err = edge.New(cfg.Edge, deps)
	return srv, err
}
