package edge

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/httperr"
)

// Store is what the edge needs from the chunk store.
type Store interface {
	Put(ctx context.Context, r io.Reader, opt chunkstore.PutOptions) (chunkstore.FileInfo, error)
	Stat(ctx context.Context, id string) (chunkstore.FileInfo, error)
	Open(ctx context.Context, id string) (*chunkstore.Reader, error)
	Delete(ctx context.Context, id string) error
	Ping(ctx context.Context) error
	// Usage is the bytes of an owner's complete files (user quotas).
	Usage(ctx context.Context, owner string) (int64, error)
}

// Sessions checks a user's session token (a *users.Handler is one).
type Sessions interface {
	Authenticate(ctx context.Context, r *http.Request) (userID int64, err error)
}

// Readiness is an extra check for /readyz (for example: a cache disk online).
type Readiness func(ctx context.Context) error

// Deps are the components the edge is built from.
type Deps struct {
	Store Store
	// Uploads is the tus handler, mounted at /files/; nil disables tus.
	Uploads http.Handler
	// Transformer, when set, renders images from URL parameters; New
	// builds the Renderer over it (and Video), so that /m/{id} requests with
	// parameters or a format extension are transformed. Nil serves
	// originals only.
	Transformer Transformer
	// Video converts animations to MP4 and takes posters; nil refuses them
	// (501).
	Video Video
	// Sessions, when set, lets users upload with their session token
	// (social/users); static upload tokens keep working beside it.
	Sessions Sessions
	// Social, when set, serves the social API under /v1/.
	Social http.Handler
	// App, when set, serves the web app: GET / (the exact root) and
	// GET /app/ (its assets). Every other unknown path keeps the JSON 404,
	// so API clients never get HTML by mistake.
	App http.Handler
	// Media, when set, answers /m/{id} requests with parameters instead of
	// the Renderer (tests plug a fake here).
	Media MediaHandler
	// HLS, when set, serves /m/{id}/hls/{name}.
	HLS HLS
	// Cache, when set, holds hot originals (and, through Media, results).
	Cache Cache
	// Fleet, when set, routes every cache key to its owning edge (see the
	// Fleet interface); nil serves everything here.
	Fleet Fleet
	// Ready are further /readyz checks.
	Ready  []Readiness
	Logger *slog.Logger
	// Registry is served at /metrics; nil means a fresh one.
	Registry *prometheus.Registry
	// Metrics, when set, are collectors already made with NewMetrics on
	// Registry (shared with the tus handler); nil means New makes them.
	Metrics *Metrics
}

// MediaHandler serves a derived rendition of a stored original (a transform,
// a cached result). It returns handled=false when the request asks for the
// original itself.
type MediaHandler interface {
	ServeMedia(w http.ResponseWriter, r *http.Request, info chunkstore.FileInfo, ext string) (handled bool)
}

// Server is the edge HTTP server.
type Server struct {
	cfg     Config
	store   Store
	deps    Deps
	log     *slog.Logger
	metrics *Metrics
	mux     *http.ServeMux
	handler http.Handler
	// autoURL: PublicURL was derived from Listen, so Run sets it from the
	// bound address (--listen 127.0.0.1:0 names its port only then).
	autoURL bool
	dims    *lru.Cache[string, dims] // images' sizes for /info (dims.go)
	hot     *hotCache                // small hot entries in memory (hot.go); nil when off
	hotReqs prometheus.Counter       // the media route's 200s, bound once for hits before the routes
	hotLat  prometheus.Observer      // the media route's latency, likewise
}

// New builds the server; it does not listen until Run.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil {
		return nil, errors.New("edge: a store is required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	m := deps.Metrics
	if m == nil {
		var err error
		if m, err = NewMetrics(deps.Registry); err != nil {
			return nil, fmt.Errorf("edge: metrics: %w", err)
		}
	}
	autoURL := cfg.PublicURL == ""
	if autoURL {
		cfg.PublicURL = "http://" + cfg.Listen
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	var store Store = observedStore{deps.Store, m}
	if cfg.StatCacheTTL > 0 {
		store = newStatCache(store, 100_000, cfg.StatCacheTTL)
	}
	s := &Server{cfg: cfg, store: store, deps: deps, log: deps.Logger, metrics: m, mux: http.NewServeMux(), autoURL: autoURL, dims: newDimsCache()}
	if deps.Cache != nil {
		s.hot = newHotCache(cfg.CacheRAM, cfg.CacheRAMMaxEntry)
		s.hotReqs, s.hotLat = m.requests.WithLabelValues(mediaRoute, "200"), m.latency.WithLabelValues(mediaRoute)
	}
	if cs := s.cacheStats(); cs != nil {
		if err := deps.Registry.Register(newCacheCollector(cs, s.hot)); err != nil {
			return nil, fmt.Errorf("edge: cache metrics: %w", err)
		}
	}
	if tl, ok := deps.Transformer.(TransformLoad); ok {
		if err := registerTransformLoad(deps.Registry, deps.Transformer, tl); err != nil {
			return nil, fmt.Errorf("edge: transform metrics: %w", err)
		}
	}
	if vo, ok := deps.Video.(videoObservable); ok {
		vo.SetObserver(m)
	}
	if s.deps.Media == nil && deps.Transformer != nil {
		s.deps.Media = newRenderer(s, deps.Transformer, deps.Video)
	}
	s.routes()
	s.handler = s.hotFirst(s.instrument(s.mux))
	return s, nil
}

// Metrics returns the server's collectors.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Handler is the public handler (routes, metrics instrumentation).
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() {
	s.mux.HandleFunc(mediaRoute, s.serveMedia)
	s.mux.HandleFunc("HEAD /m/{id}", s.serveMedia)
	s.mux.HandleFunc("GET /m/{id}/info", s.serveInfo)
	s.mux.HandleFunc("DELETE /m/{id}", s.deleteMedia)
	s.mux.HandleFunc("GET /m/{id}/hls/{name}", s.serveHLS)
	s.mux.HandleFunc("HEAD /m/{id}/hls/{name}", s.serveHLS)
	s.mux.HandleFunc("POST /upload", s.upload)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	s.mux.HandleFunc("GET /readyz", s.ready)
	if s.deps.Social != nil {
		s.mux.Handle("/v1/", s.deps.Social)
	}
	if s.deps.App != nil {
		s.mux.Handle("GET /{$}", s.deps.App)
		s.mux.Handle("GET /app/", s.deps.App)
	}
	if s.deps.Uploads != nil {
		s.mux.Handle("/files/", s.deps.Uploads)
		s.mux.Handle("/files", s.deps.Uploads)
	}
	if s.cfg.MetricsListen == "" {
		s.mux.Handle("GET /metrics", s.metricsHandler())
		s.mux.HandleFunc("GET /admin/cache", s.adminCache)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httperr.Write(w, r, s.log, httperr.NotFound("no such route"))
	})
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.deps.Registry, promhttp.HandlerOpts{})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		httperr.Write(w, r, s.log, httperr.Wrap(http.StatusServiceUnavailable, "not_ready", "store unreachable", err))
		return
	}
	for _, check := range s.deps.Ready {
		if err := check(ctx); err != nil {
			httperr.Write(w, r, s.log, httperr.Wrap(http.StatusServiceUnavailable, "not_ready", "not ready", err))
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ready\n")
}

// Authorize checks the bearer token and returns the owner (TokenOwner of a
// static token, UserOwner of a session). The tus handler calls it too.
func (s *Server) Authorize(r *http.Request) (string, error) {
	unauthorized := &httperr.Error{Status: http.StatusUnauthorized, Code: "unauthorized",
		Message: "a valid Authorization: Bearer token is required",
		Header:  http.Header{"Www-Authenticate": {`Bearer realm="mediaedge"`}}}
	if len(s.cfg.UploadTokens) == 0 && s.deps.Sessions == nil {
		unauthorized.Message = "uploads are disabled: the server has no upload token"
		return "", unauthorized
	}
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", unauthorized
	}
	// A token was presented and refused: say so, as RFC 6750 asks, so a
	// client can tell "log in" from "your token is wrong".
	unauthorized.Header = http.Header{"Www-Authenticate": {`Bearer realm="mediaedge", error="invalid_token"`}}
	tok = strings.TrimSpace(tok)
	owner := ""
	for _, want := range s.cfg.UploadTokens {
		// Compare against every token, without an early exit, so timing says
		// nothing about which prefix matched.
		if subtle.ConstantTimeCompare([]byte(tok), []byte(want)) == 1 && owner == "" {
			owner = TokenOwner(want)
		}
	}
	if owner == "" && s.deps.Sessions != nil {
		// Not a service token: a user's session, checked by the users
		// service (hashed, expiring, revocable).
		uid, err := s.deps.Sessions.Authenticate(r.Context(), r)
		if err != nil {
			return "", err
		}
		return UserOwner(uid), nil
	}
	if owner == "" {
		return "", unauthorized
	}
	return owner, nil
}

// QuotaRoom is how many more bytes owner may store: a user's UserQuota
// less their usage, or -1 when no quota applies (a service token, or
// UserQuota 0).
func (s *Server) QuotaRoom(ctx context.Context, owner string) (int64, error) {
	if !isUser(owner) || s.cfg.UserQuota <= 0 {
		return -1, nil
	}
	used, err := s.store.Usage(ctx, owner)
	if err != nil {
		return 0, err
	}
	return s.cfg.UserQuota - used, nil
}

// TokenOwner is the owner recorded on uploads made with a static upload
// token: "token:" and the first 16 hex digits of the token's SHA-256. It is
// derived from the token's value, not its position in --upload-token, so
// reordering the list, or adding and removing tokens around it, leaves the
// owner of every upload in progress unchanged (a position would hand an
// upload to whichever token took that slot, and 403 its own). It is a hash,
// never the token: owners are stored in upload and file rows, which whoever
// reads the store sees, and a generated token (160 random bits) cannot be
// recovered from 64 bits of its hash. Two configured tokens colliding in
// those 64 bits is not a practical risk. Replacing a token's value gives
// its uploads in progress a new owner: rotate by adding the new token
// beside the old one and removing the old one once they are done.
func TokenOwner(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return "token:" + hex.EncodeToString(sum[:8])
}

// Owns says whether an upload stored with owner stored belongs to
// requester (as Authorize names it): the same owner, or, for an upload
// begun before owners were hashes of the token, the token's position in
// --upload-token ("token1"), which that version recorded. Those uploads
// stay resumable across the upgrade; the alias can go once no upload that
// old is left (UploadTTL, 24 h by default).
func (s *Server) Owns(stored, requester string) bool {
	if stored == requester {
		return true
	}
	for i, tok := range s.cfg.UploadTokens {
		if TokenOwner(tok) == requester {
			return stored == "token"+strconv.Itoa(i+1)
		}
	}
	return false
}

// UserOwner is the owner recorded on media a user uploaded with a session.
func UserOwner(uid int64) string { return "user:" + strconv.FormatInt(uid, 10) }

// isUser reports whether owner is a user's (not a service token's).
func isUser(owner string) bool { return strings.HasPrefix(owner, "user:") }

// StripLocation reports whether owner's image uploads lose their location
// (GPS, maker notes) before they are stored, per Config.StripLocation.
func (s *Server) StripLocation(owner string) bool {
	switch s.cfg.StripLocation {
	case StripAlways:
		return true
	case StripSessions:
		return isUser(owner)
	}
	return false
}

// PublicURL is the prefix of the media URLs this server returns (no
// trailing slash): Config.PublicURL, or, without one, http:// and the
// bound address once Run has started.
func (s *Server) PublicURL() string { return s.cfg.PublicURL }

// MediaURL is the public URL of a media id.
func (s *Server) MediaURL(id string) string { return s.cfg.PublicURL + "/m/" + id }

// Run listens and serves until ctx is cancelled, then shuts down gracefully:
// new connections stop, in-flight requests get ShutdownTimeout to finish.
// An upload cut by the shutdown keeps the bytes it received (the store makes
// them durable), so the client resumes from there.
func (s *Server) Run(ctx context.Context, ln net.Listener, onReady func(addr string)) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	var hl *hotListener
	if s.hot != nil && s.cfg.CacheRAMLoop {
		hl = s.newHotListener(ln)
		ln = hl
	}
	if s.autoURL {
		// Before Serve: no request reads it yet.
		s.cfg.PublicURL = "http://" + ln.Addr().String()
	}
	var msrv *http.Server
	errc := make(chan error, 2)
	if s.cfg.MetricsListen != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.metricsHandler())
		mux.HandleFunc("GET /admin/cache", s.adminCache)
		if s.cfg.Pprof {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		msrv = &http.Server{Addr: s.cfg.MetricsListen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		mln, err := net.Listen("tcp", s.cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("edge: metrics listener: %w", err)
		}
		go func() { errc <- msrv.Serve(mln) }()
	}
	go func() { errc <- srv.Serve(ln) }()
	if onReady != nil {
		onReady(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down: uploads in progress keep their bytes, other requests get a grace period",
		"grace", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if msrv != nil {
		_ = msrv.Shutdown(sctx)
	}
	// End hanging upload bodies first (their bytes are kept), so that they do
	// not hold the shutdown for its whole timeout.
	if sd, ok := s.deps.Uploads.(interface{ Shutdown(context.Context) error }); ok {
		_ = sd.Shutdown(sctx)
	}
	err := srv.Shutdown(sctx)
	if hl != nil {
		hl.wait(sctx) // answers the hot loop was writing (Shutdown closed the listener)
	}
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("edge: shutdown: %w", err)
	}
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, chunkstore.ErrNotFound) }
