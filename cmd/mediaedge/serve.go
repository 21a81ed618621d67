package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/chunkstore/cassandra"
	"github.com/mediaedge/mediaedge/chunkstore/embedded"
	"github.com/mediaedge/mediaedge/edge"
	"github.com/mediaedge/mediaedge/edgecache"
	"github.com/mediaedge/mediaedge/fleet"
	"github.com/mediaedge/mediaedge/hls"
	"github.com/mediaedge/mediaedge/schema"
	"github.com/mediaedge/mediaedge/social/chat"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/transform"
	"github.com/mediaedge/mediaedge/transform/video"
)

func init() { subcommands = append(subcommands, newServeCmd) }

// serveConfig is the root configuration of `mediaedge serve`: the packages'
// configs nested, plus the choices only the composition root makes.
type serveConfig struct {
	Data        string
	Store       string // embedded | cassandra
	Cassandra   cassandra.Config
	ApplySchema bool
	Chunks      chunkstore.Config
	Edge        edge.Config
	Transform   transform.Config
	Video       video.Config // Video.Images is Transform
	HLS         hls.Config
	Cache       edgecache.Config // Cache.Disks from CacheDirs
	CacheDirs   []string
	LogLevel    string
	SignKeys    []string // hex HMAC keys, decoded into Transform.SignKeys
	// NodeID numbers this process among the fleet's for the social tier's
	// time-ordered ids (0..1023, unique per edge).
	NodeID int64
	// Events is the event backbone (JetStream); its Dir is DATA/nats.
	Events events.Config
	// PushKey is the hex HMAC key of socket tickets ("" = DATA/push-key).
	PushKey string
	// PushWebhook receives updates for users with no live socket.
	PushWebhook string
	// ChatSendRate is the messages a second one user may send (sustained;
	// bursts of three seconds' worth); ChatMaxMembers caps a group.
	ChatSendRate   float64
	ChatMaxMembers int
	// ChatMaxBacklog bounds the messages waiting for live delivery,
	// fleet-wide (503 overloaded beyond); 0 is no bound.
	ChatMaxBacklog int64
	// StoryTTL is how long a story lives (24h).
	StoryTTL time.Duration
	// Fleet joins this edge to others (--fleet-bind); empty Bind: alone.
	Fleet fleetOptions
}

func newServeCmd() *cobra.Command {
	cfg := serveConfig{
		Data:      "./data",
		Store:     "embedded",
		Cassandra: cassandra.DefaultConfig(),
		Chunks:    chunkstore.DefaultConfig(),
		Edge:      edge.DefaultConfig(),
		Transform: transform.DefaultConfig(),
		Video:     video.DefaultConfig(),
		HLS:       hls.DefaultConfig(),
		Cache:     edgecache.DefaultConfig(),
		Events:    events.DefaultConfig(),
		LogLevel:  "info",
	}
	var maxUpload, cacheMaxOrig, maxTransformSource, transformSourceMemory, userQuota, cacheRAM, cacheRAMMaxEntry string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve media, uploads and transforms",
		Long: `Serve runs the edge HTTP server. With no flags it listens on 127.0.0.1:8080, keeps
the embedded store in ./data and one cache folder in ./data/cache, and prints a
generated upload token (kept in ./data/upload-token for the next start).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := edgecache.ParseSize(maxUpload)
			if err != nil {
				return fmt.Errorf("--max-upload-size: %w", err)
			}
			cfg.Edge.MaxUploadSize, cfg.Chunks.MaxFileSize = n, n
			if cfg.Edge.CacheMaxOriginal, err = edgecache.ParseSize(cacheMaxOrig); err != nil {
				return fmt.Errorf("--cache-max-original: %w", err)
			}
			if cfg.Edge.CacheRAM, err = edgecache.ParseSize(cacheRAM); err != nil {
				return fmt.Errorf("--cache-ram: %w", err)
			}
			if cfg.Edge.CacheRAMMaxEntry, err = edgecache.ParseSize(cacheRAMMaxEntry); err != nil {
				return fmt.Errorf("--cache-ram-max-entry: %w", err)
			}
			if cfg.Edge.MaxTransformSource, err = edgecache.ParseSize(maxTransformSource); err != nil {
				return fmt.Errorf("--max-transform-source: %w", err)
			}
			if cfg.Edge.TransformSourceMemory, err = edgecache.ParseSize(transformSourceMemory); err != nil {
				return fmt.Errorf("--transform-source-memory: %w", err)
			}
			if cfg.Edge.UserQuota, err = edgecache.ParseSize(userQuota); err != nil {
				return fmt.Errorf("--user-quota: %w", err)
			}
			if err := cfg.resolve(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				// The first signal starts a graceful shutdown; restoring the
				// default handling lets a second one end the process at once.
				<-ctx.Done()
				stop()
			}()
			return runServe(ctx, cfg, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.String("config", "", "YAML file whose keys are these flags' names")
	f.StringVar(&cfg.Edge.Listen, "listen", cfg.Edge.Listen, "address to serve on")
	f.StringVar(&cfg.Edge.MetricsListen, "metrics-listen", "", "serve /metrics on this address instead of --listen")
	f.BoolVar(&cfg.Edge.Pprof, "pprof", false, "serve Go profiles at /debug/pprof/ on --metrics-listen")
	f.StringVar(&cfg.Edge.PublicURL, "public-url", "", "URL prefix of returned media URLs, as clients reach this server (default http://LISTEN; required when --listen binds every interface, e.g. 0.0.0.0)")
	f.StringVar(&cfg.Data, "data", cfg.Data, "folder for the embedded store and the default cache")
	f.StringVar(&cfg.Store, "store", cfg.Store, "chunk store: embedded or cassandra")
	f.StringSliceVar(&cfg.Cassandra.Hosts, "cassandra-hosts", cfg.Cassandra.Hosts, "Cassandra contact points")
	f.StringVar(&cfg.Cassandra.Keyspace, "cassandra-keyspace", cfg.Cassandra.Keyspace, "Cassandra keyspace")
	f.StringVar(&cfg.Cassandra.Consistency, "cassandra-consistency", cfg.Cassandra.Consistency, "consistency level")
	f.StringVar(&cfg.Cassandra.LocalDC, "cassandra-local-dc", "", "keep queries in this data centre")
	f.StringVar(&cfg.Cassandra.Username, "cassandra-username", "", "Cassandra user")
	f.StringVar(&cfg.Cassandra.Password, "cassandra-password", "", "Cassandra password")
	// Off by default: in production the schema (its replication above all)
	// is an operator's decision, made once with `mediaedge schema apply --rf N`;
	// a fleet of edges racing to create it at start would be wrong there.
	f.BoolVar(&cfg.ApplySchema, "cassandra-apply-schema", false, "apply the schema (RF 1) at start; for development")
	f.StringSliceVar(&cfg.CacheDirs, "cache-dir", nil, "cache folder PATH[:SIZE], repeatable (default DATA/cache:10GiB)")
	f.StringSliceVar(&cfg.Edge.UploadTokens, "upload-token", nil, "bearer token accepted for uploads, repeatable (none: one is generated once and kept in DATA/upload-token)")
	f.StringVar(&maxUpload, "max-upload-size", "5GiB", "largest upload")
	f.StringVar(&cacheMaxOrig, "cache-max-original", "64MiB", "largest original kept in the edge cache (0: stream every original from the store)")
	f.StringVar(&cacheRAM, "cache-ram", "128MiB", "memory for cache entries hit twice, served without touching a disk (0 disables)")
	f.StringVar(&cacheRAMMaxEntry, "cache-ram-max-entry", "256KiB", "largest cache entry kept in memory")
	f.BoolVar(&cfg.Edge.CacheRAMLoop, "cache-ram-loop", cfg.Edge.CacheRAMLoop, "answer repeated GETs of in-memory entries on each connection's own loop before net/http (false: net/http answers every request)")
	f.IntVar(&cfg.Chunks.ChunkSize, "chunk-size", cfg.Chunks.ChunkSize, "chunk size in bytes (256KiB..4MiB)")
	f.DurationVar(&cfg.Chunks.UploadTTL, "upload-ttl", cfg.Chunks.UploadTTL, "an unfinished upload expires after this long idle")
	f.DurationVar(&cfg.Edge.StatCacheTTL, "stat-cache-ttl", cfg.Edge.StatCacheTTL, "keep file metadata in memory this long (a delete on another edge shows within it; 0 disables)")
	f.DurationVar(&cfg.Edge.ShutdownTimeout, "shutdown-timeout", cfg.Edge.ShutdownTimeout, "graceful shutdown wait")
	f.DurationVar(&cfg.Edge.ReadHeaderTimeout, "read-header-timeout", cfg.Edge.ReadHeaderTimeout, "cut clients that take longer to send their request headers")
	f.DurationVar(&cfg.Edge.BodyReadTimeout, "body-read-timeout", cfg.Edge.BodyReadTimeout, "cut uploads whose body stalls this long between two reads")
	f.Int64Var(&cfg.Edge.BodyMinRate, "body-min-rate", cfg.Edge.BodyMinRate, "cut upload bodies slower than this many bytes a second over --body-min-rate-window (0 disables)")
	f.DurationVar(&cfg.Edge.BodyMinRateWindow, "body-min-rate-window", cfg.Edge.BodyMinRateWindow, "span the upload minimum rate is averaged over")
	f.DurationVar(&cfg.Edge.SendTimeout, "send-timeout", cfg.Edge.SendTimeout, "cut responses whose client takes no bytes this long (0 disables)")
	f.DurationVar(&cfg.Edge.IdleTimeout, "idle-timeout", cfg.Edge.IdleTimeout, "close keep-alive connections idle this long")
	f.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	f.StringSliceVar(&cfg.SignKeys, "sign-key", nil, "hex HMAC-SHA256 key for URL signatures (s=), repeatable for rotation")
	f.BoolVar(&cfg.Transform.RequireSignature, "require-signature", false, "refuse transform URLs without a valid s=")
	f.StringToStringVar(&cfg.Transform.Presets, "preset", nil, "named transform, NAME=QUERY (w=200&h=200&fit=crop), repeatable")
	f.BoolVar(&cfg.Transform.PresetsOnly, "presets-only", false, "allow only p=NAME transforms")
	f.StringVar(&userQuota, "user-quota", "10GiB", "bytes of media a user (session uploads) may keep; 0 disables (upload tokens have none)")
	f.StringVar(&maxTransformSource, "max-transform-source", "100MiB", "largest original an image transform reads into memory (422 beyond)")
	f.StringVar(&transformSourceMemory, "transform-source-memory", "512MiB", "bytes of originals all renders may hold at once; past it renders queue, then 503")
	f.StringVar(&cfg.Edge.StripLocation, "strip-location", cfg.Edge.StripLocation, "remove GPS and maker notes from image uploads before storing them: sessions (users' uploads), always or never")
	f.Int64Var(&cfg.NodeID, "node-id", 0, "this edge's number for social ids, 0..1023, unique in a fleet")
	f.StringVar(&cfg.Events.URL, "nats-url", "", "external NATS (JetStream) cluster for social events; none = embedded in DATA/nats")
	f.IntVar(&cfg.Events.Replicas, "nats-replicas", 0, "replicas of the social streams on --nats-url (0: 3; 1 for a single nats-server)")
	f.StringVar(&cfg.PushKey, "push-key", "", "hex HMAC key (64+ digits) of WebSocket tickets, the same on every edge (default: generated into DATA/push-key)")
	f.StringVar(&cfg.PushWebhook, "push-webhook", "", "URL that receives updates for users with no live socket (APNs/FCM relay)")
	f.Float64Var(&cfg.ChatSendRate, "chat-send-rate", 20, "chat actions a second one user may take (messages, edits, pins, conversation changes), all conversations together (429 beyond)")
	f.IntVar(&cfg.ChatMaxMembers, "chat-max-members", 1000, "most members a group conversation may have")
	f.Int64Var(&cfg.ChatMaxBacklog, "chat-max-backlog", chat.DefaultConfig().MaxBacklog, "chat messages waiting for live delivery, fleet-wide, past which a send is answered 503 overloaded (0: no bound)")
	f.DurationVar(&cfg.StoryTTL, "story-ttl", 24*time.Hour, "how long a story lives; then it, its views and likes are deleted")
	bindLimitFlags(f, &cfg)
	bindFleetFlags(f, &cfg)
	return cmd
}

// Validate checks the whole configuration before anything is opened, and
// reports every problem at once.
func (c serveConfig) Validate() error {
	var errs []error
	switch c.Store {
	case "embedded":
	case "cassandra":
		if err := c.Cassandra.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("cassandra: %w", err))
		}
	default:
		errs = append(errs, fmt.Errorf("--store %q: want embedded or cassandra", c.Store))
	}
	if !(c.ChatSendRate > 0 && c.ChatSendRate <= 1e6) {
		errs = append(errs, fmt.Errorf("--chat-send-rate %v: want more than 0, at most 1000000", c.ChatSendRate))
	}
	if c.StoryTTL < time.Second {
		errs = append(errs, fmt.Errorf("--story-ttl %v: want at least 1s", c.StoryTTL))
	}
	if c.ChatMaxBacklog < 0 {
		errs = append(errs, fmt.Errorf("--chat-max-backlog %d: want 0 (no bound) or more", c.ChatMaxBacklog))
	}
	if c.ChatMaxMembers < 2 {
		errs = append(errs, fmt.Errorf("--chat-max-members %d: a group has at least 2 members", c.ChatMaxMembers))
	}
	if c.NodeID < 0 || c.NodeID > 1023 {
		errs = append(errs, fmt.Errorf("--node-id %d: want 0..1023", c.NodeID))
	}
	if c.Data == "" {
		errs = append(errs, errors.New("--data: must name a folder"))
	}
	if c.PushWebhook != "" {
		// Checked here, not at the first push: a typo would otherwise show
		// only as pushes failing, one log line each, long after the start.
		if u, err := url.Parse(c.PushWebhook); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--push-webhook %q: want an absolute http(s)://HOST/... URL", c.PushWebhook))
		}
	}
	errs = append(errs, c.Fleet.validate(c.Edge.Listen)...)
	if err := c.Chunks.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("chunks: %w", err))
	}
	if err := c.Edge.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Transform.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Video.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.HLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	cache := c.Cache
	cache.Disks = nil
	for _, d := range c.cacheDirs() {
		dc, err := edgecache.ParseDisk(d)
		if err != nil {
			errs = append(errs, fmt.Errorf("--cache-dir: %w", err))
			continue
		}
		// A folder named on the command line must exist: it is a disk's
		// mount point, and creating it would fill the root disk in place of
		// one that failed to mount. (The default folder under --data is ours
		// and is created.)
		if len(c.CacheDirs) > 0 {
			if fi, err := os.Stat(dc.Path); err != nil || !fi.IsDir() {
				errs = append(errs, fmt.Errorf("--cache-dir %s: not a folder (mount the disk or create the folder first)", dc.Path))
			}
		}
		cache.Disks = append(cache.Disks, dc)
	}
	if err := cache.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// cacheDirs is --cache-dir, or the default folder under --data.
func (c serveConfig) cacheDirs() []string {
	if len(c.CacheDirs) == 0 {
		return []string{filepath.Join(c.Data, "cache") + ":10GiB"}
	}
	return c.CacheDirs
}

// app is everything runServe builds; close releases it in reverse order.
type app struct {
	server  *edge.Server
	store   *chunkstore.Store
	cache   *edgecache.Cache
	fleet   *fleet.Fleet // nil: a lone edge
	closers []func() error
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		_ = a.closers[i]()
	}
}

// build is the one composition root: every component from the config, the
// first error returned. httpAddr is the bound listener's URL, which the fleet
// advertises unless --fleet-http names another.
func build(ctx context.Context, cfg serveConfig, log *slog.Logger, httpAddr string) (*app, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &app{}
	var backend chunkstore.Backend
	switch cfg.Store {
	case "embedded":
		b, err := embedded.Open(embedded.Config{Dir: filepath.Join(cfg.Data, "store"), Sync: true, ChunkSize: cfg.Chunks.ChunkSize})
		if err != nil {
			return nil, err
		}
		if direct, why := b.DirectWrites(); direct {
			log.Info("embedded store: chunk bytes are written with O_DIRECT")
		} else {
			log.Info("embedded store: chunk bytes are written through the page cache", "why", why)
		}
		backend = b
	case "cassandra":
		if cfg.ApplySchema {
			c := cfg.Cassandra
			c.Keyspace = ""
			s, err := cassandra.NewSession(c)
			if err != nil {
				return nil, err
			}
			sc := schema.DefaultConfig()
			sc.Keyspace = cfg.Cassandra.Keyspace
			applied, err := schema.Apply(ctx, s, sc)
			s.Close()
			if err != nil {
				return nil, err
			}
			log.Info("schema", "keyspace", sc.Keyspace, "applied", applied)
		}
		b, err := cassandra.Open(ctx, cfg.Cassandra)
		if err != nil {
			return nil, err
		}
		backend = b
	default:
		return nil, fmt.Errorf("--store %q: want embedded or cassandra", cfg.Store)
	}
	store, err := chunkstore.New(backend, cfg.Chunks)
	if err != nil {
		_ = backend.Close()
		return nil, err
	}
	a.store = store
	a.closers = append(a.closers, store.Close)

	ccfg := cfg.Cache
	ccfg.Disks = nil
	if len(cfg.CacheDirs) == 0 {
		ccfg.CreateDirs = true // our own default folder, not a disk that failed to mount
	}
	for _, d := range cfg.cacheDirs() {
		dc, err := edgecache.ParseDisk(d)
		if err != nil {
			a.close()
			return nil, fmt.Errorf("--cache-dir: %w", err)
		}
		ccfg.Disks = append(ccfg.Disks, dc)
	}
	cache, err := edgecache.Open(ctx, ccfg, log.With("component", "edgecache"))
	if err != nil {
		a.close()
		return nil, err
	}
	a.cache = cache
	a.closers = append(a.closers, cache.Close)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	deps := edge.Deps{
		Store:    store,
		Cache:    cache,
		Logger:   log,
		Registry: reg,
		Ready: []edge.Readiness{func(context.Context) error {
			if !cache.Usable() {
				return errors.New("no cache disk online")
			}
			return nil
		}},
	}
	if cfg.Fleet.Bind != "" {
		f, err := joinFleet(ctx, cfg.Fleet, httpAddr, reg, log)
		if err != nil {
			a.close()
			return nil, err
		}
		a.fleet = f
		a.closers = append(a.closers, f.Close)
		deps.Fleet = f
	}
	so, err := buildSocial(cfg, backend, store, log)
	if err != nil {
		a.close()
		return nil, err
	}
	a.closers = append(a.closers, so.close)
	deps.Sessions, deps.Social = so.users, so.handler
	srv, err := buildEdge(cfg, deps, store, log)
	if err != nil {
		a.close()
		return nil, err
	}
	a.server = srv
	return a, nil
}

func runServe(ctx context.Context, cfg serveConfig, out io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	tokenFile := ""
	if len(cfg.Edge.UploadTokens) == 0 {
		// Checked first, so a bad flag does not leave a token file behind.
		probe := cfg
		probe.Edge.UploadTokens = []string{strings.Repeat("x", 16)}
		if err := probe.Validate(); err != nil {
			return err
		}
		tok, path, err := defaultToken(cfg.Data)
		if err != nil {
			return err
		}
		cfg.Edge.UploadTokens, tokenFile = []string{tok}, path
	}
	// Every problem is reported before anything is opened, the listener too.
	if err := cfg.Validate(); err != nil {
		return err
	}
	// Listen first: the fleet advertises the bound address (--listen
	// 127.0.0.1:0 names its port only now). Connections wait in the backlog
	// until Run serves them.
	ln, err := net.Listen("tcp", cfg.Edge.Listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", cfg.Edge.Listen, err)
	}
	a, err := build(ctx, cfg, log, "http://"+ln.Addr().String())
	if err != nil {
		ln.Close()
		return err
	}
	defer a.close()
	if a.fleet != nil {
		// Leave as the shutdown starts, so the others stop sending this
		// edge requests while it drains; Close (in a.close) ends gossip.
		stopped, left := make(chan struct{}), make(chan struct{})
		defer func() { close(stopped); <-left }()
		go func() {
			defer close(left)
			select {
			case <-stopped:
			case <-ctx.Done():
				if err := a.fleet.Leave(context.Background()); err != nil {
					log.Warn("leave the fleet", "err", err)
				}
			}
		}()
	}

	// The sweeper stops, and is waited for, before the store closes.
	sweepCtx, stopSweep := context.WithCancel(context.WithoutCancel(ctx))
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		a.store.RunSweeperWith(sweepCtx, log, func(st chunkstore.SweepStats) {
			if st.ExpiredUploads > 0 {
				a.server.Metrics().UploadsExpired(st.ExpiredUploads)
			}
		})
	}()
	defer func() { stopSweep(); <-swept }()

	return a.server.Run(ctx, ln, func(addr string) {
		fmt.Fprintf(out, "mediaedge %s serving on http://%s (store: %s)\n", version, addr, cfg.Store)
		// The links use the public URL: the bound address may be 0.0.0.0,
		// which no browser or client can open.
		base := a.server.PublicURL()
		if cfg.Edge.MetricsListen != "" {
			fmt.Fprintf(out, "metrics on http://%s/metrics\n", cfg.Edge.MetricsListen)
		}
		if tokenFile != "" {
			tok := cfg.Edge.UploadTokens[0]
			fmt.Fprintf(out, "upload token: %s\n", tok)
			fmt.Fprintf(out, "  (generated and kept in %s; pass --upload-token to choose your own)\n", tokenFile)
			fmt.Fprintf(out, "try: curl -H 'Authorization: Bearer %s' --data-binary @photo.jpg %s/upload\n", tok, base)
			fmt.Fprintf(out, " or: mediaedge upload --server %s --token %s photo.jpg\n", base, tok)
			// A fragment: browsers never send it, so the token stays out of
			// access logs; the page keeps it and clears the address bar.
			fmt.Fprintf(out, "open: %s/#token=%s\n", base, tok)
		}
	})
}

// defaultToken is the upload token of a server started without one: read
// from DATA/upload-token, or generated and written there (0600) on the first
// start. Keeping it means a restart does not invalidate the token a user
// already pasted into a script, nor strand an upload in progress.
func defaultToken(data string) (tok, path string, err error) {
	path = filepath.Join(data, "upload-token")
	if b, err := os.ReadFile(path); err == nil {
		if tok = strings.TrimSpace(string(b)); len(tok) >= 16 {
			return tok, path, nil
		}
		return "", "", fmt.Errorf("%s: the token in it is shorter than 16 characters; fix or delete the file", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("read upload token: %w", err)
	}
	if err := os.MkdirAll(data, 0o755); err != nil {
		return "", "", fmt.Errorf("create %s: %w", data, err)
	}
	tok = newToken()
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("write upload token: %w", err)
	}
	return tok, path, nil
}

func newToken() string {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}
