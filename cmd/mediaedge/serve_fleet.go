package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/mediaedge/mediaedge/edge"
	"github.com/mediaedge/mediaedge/fleet"
	"github.com/mediaedge/mediaedge/transform"
	"github.com/mediaedge/mediaedge/transform/video"
)

// *fleet.Fleet is what the edge routes with.
var _ edge.Fleet = (*fleet.Fleet)(nil)

// fleetOptions are serve's fleet flags; Bind empty runs a lone edge.
type fleetOptions struct {
	Bind       string
	Peers      []string
	HTTP       string // this edge's URL for the other edges; default http://LISTEN
	Name       string
	Key        string // hex gossip key
	Insecure   bool   // --fleet-insecure: no key on a non-loopback bind
	Upgrading  bool   // --fleet-upgrading: accept unsigned forwards and unencrypted gossip from older edges
	LoadFactor float64

	// transform and video are the render limits the forward wait is
	// derived from (forwardWait). The flags that set them are parsed after
	// bindFleetFlags runs, so they are read through pointers into the root
	// config when the fleet is joined; nil (options built by hand) keeps
	// fleet's default. Passing them to joinFleet from serve.go would do
	// without the pointers.
	transform *transform.Config
	video     *video.Config
}

func bindFleetFlags(f *pflag.FlagSet, cfg *serveConfig) {
	o := &cfg.Fleet
	o.LoadFactor = fleet.DefaultConfig().LoadFactor
	f.StringVar(&o.Bind, "fleet-bind", "", "gossip address HOST:PORT (memberlist, UDP and TCP) to join a fleet of edges on; empty: a lone edge")
	f.StringSliceVar(&o.Peers, "peers", nil, "gossip addresses HOST:PORT of fleet members to join through, comma-separated or repeated (any one live is enough)")
	f.StringVar(&o.HTTP, "fleet-http", "", "this edge's HTTP URL as the other edges reach it (default http://LISTEN)")
	f.StringVar(&o.Name, "fleet-name", "", "this edge's unique, stable name in the fleet (default HOSTNAME-FLEET_BIND)")
	f.StringVar(&o.Key, "fleet-key", "", "hex key (16, 24 or 32 bytes) that encrypts and authenticates gossip and signs forwards, the same on every edge (required unless --fleet-bind is a loopback address or --fleet-insecure is set)")
	f.BoolVar(&o.Upgrading, "fleet-upgrading", false, "during a rolling upgrade from a version that did not sign forwards, or while --fleet-key is rolled out: accept unsigned forwards and unencrypted gossip from edges not yet upgraded (clients can forge forwards meanwhile: turn it off once every edge is upgraded)")
	f.BoolVar(&o.Insecure, "fleet-insecure", false, "run a fleet without --fleet-key on a non-loopback --fleet-bind: anyone who can reach the gossip port can join and serve its own bytes to the other edges")
	o.transform, o.video = &cfg.Transform, &cfg.Video
	f.Float64Var(&o.LoadFactor, "fleet-load-factor", o.LoadFactor, "bounded loads: an owner above this times the mean in-flight load spills to the key's next edge (> 1)")
	f.DurationVar(&cfg.Edge.FleetHandoff, "fleet-handoff", cfg.Edge.FleetHandoff, "for this long after an edge joins, a miss first asks the key's previous owner for a cached copy (0: never)")
}

// validate reports every problem with the fleet flags, each naming its flag.
func (o fleetOptions) validate(listen string) []error {
	var errs []error
	if o.Bind == "" {
		for _, name := range []struct {
			flag string
			set  bool
		}{{"--peers", len(o.Peers) > 0}, {"--fleet-http", o.HTTP != ""}, {"--fleet-name", o.Name != ""}, {"--fleet-key", o.Key != ""}, {"--fleet-insecure", o.Insecure}, {"--fleet-upgrading", o.Upgrading}} {
			if name.set {
				errs = append(errs, fmt.Errorf("%s: needs --fleet-bind (no fleet without a gossip address)", name.flag))
			}
		}
		return errs
	}
	if err := ipPort(o.Bind); err != nil {
		errs = append(errs, fmt.Errorf("--fleet-bind %q: %w", o.Bind, err))
	}
	for _, p := range o.Peers {
		if _, _, err := net.SplitHostPort(p); err != nil {
			errs = append(errs, fmt.Errorf("--peers %q: want HOST:PORT: %w", p, err))
		}
	}
	if o.HTTP != "" {
		if u, err := url.Parse(o.HTTP); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--fleet-http %q: want an http(s)://HOST:PORT URL", o.HTTP))
		}
	} else if host, _, err := net.SplitHostPort(listen); err == nil {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			errs = append(errs, fmt.Errorf("--fleet-http: required when --listen %s binds every interface (the other edges need an address they can reach)", listen))
		}
	}
	if k, err := o.key(); err != nil {
		errs = append(errs, err)
	} else if k == nil && !o.Insecure && !loopbackAddr(o.Bind) {
		errs = append(errs, fmt.Errorf("--fleet-key: required when --fleet-bind %s is reachable from other hosts (anyone who can reach it could join and serve its own bytes); --fleet-insecure runs without one", o.Bind))
	}
	if !(o.LoadFactor > 1) {
		errs = append(errs, fmt.Errorf("--fleet-load-factor %v: want more than 1", o.LoadFactor))
	}
	return errs
}

func (o fleetOptions) key() ([]byte, error) {
	if o.Key == "" {
		return nil, nil
	}
	k, err := hex.DecodeString(o.Key)
	if err != nil {
		return nil, fmt.Errorf("--fleet-key: not hex: %w", err)
	}
	if n := len(k); n != 16 && n != 24 && n != 32 {
		return nil, fmt.Errorf("--fleet-key: %d bytes, want 16, 24 or 32", n)
	}
	return k, nil
}

// loopbackAddr reports whether addr ("ip:port") is on a loopback address,
// reachable from this host only: a fleet there may run without a key, as
// fleet.Config.Validate allows (tests, development).
func loopbackAddr(addr string) bool {
	h, _, err := net.SplitHostPort(addr)
	ip := net.ParseIP(h)
	return err == nil && ip != nil && ip.IsLoopback()
}

// forwardMargin is what forwardWait adds to the render limits: reading the
// original from the store, the hop itself.
const forwardMargin = 30 * time.Second

// forwardWait is how long a forward waits for the owner's response headers
// (fleet.Config.ResponseHeaderTimeout): the longest a render may take, so
// that a result a lone edge would serve is never cut short by the hop (a
// 502). The longest render is a video poster resized: a video job (its
// queue wait, the copy of the original into its folder and then ffmpeg,
// each within the video timeout), then an image transform (a wait as long
// as its timeout for source memory, then the transform, waiting included).
func forwardWait(t transform.Config, v video.Config) time.Duration {
	return v.QueueWait + 2*v.Timeout + 2*t.Timeout + forwardMargin
}

// ipPort checks an "ip:port" (memberlist binds IPs, not names).
func ipPort(addr string) error {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if net.ParseIP(h) == nil {
		return errors.New("the host must be an IP address")
	}
	return nil
}

// config is the fleet configuration the options make; httpAddr is the
// default --fleet-http.
func (o fleetOptions) config(httpAddr string, log *slog.Logger) (fleet.Config, error) {
	cfg := fleet.DefaultConfig()
	cfg.Bind, cfg.Peers, cfg.Name, cfg.LoadFactor = o.Bind, o.Peers, o.Name, o.LoadFactor
	cfg.HTTPAddr = strings.TrimSuffix(o.HTTP, "/")
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = httpAddr
	}
	key, err := o.key()
	if err != nil {
		return fleet.Config{}, err
	}
	cfg.SecretKey = key
	cfg.Insecure = o.Insecure
	cfg.Upgrading = o.Upgrading
	if o.transform != nil && o.video != nil {
		cfg.ResponseHeaderTimeout = forwardWait(*o.transform, *o.video)
	}
	cfg.Logger = log
	return cfg, nil
}

// joinFleet joins this edge to the fleet, its forwards counted on reg as
// mediaedge_fleet_forwards_total{result}, with the members and this edge's
// load as gauges. httpAddr is the bound listener's URL, the default
// --fleet-http.
func joinFleet(ctx context.Context, o fleetOptions, httpAddr string, reg prometheus.Registerer, log *slog.Logger) (*fleet.Fleet, error) {
	cfg, err := o.config(httpAddr, log)
	if err != nil {
		return nil, err
	}
	forwards := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mediaedge_fleet_forwards_total", Help: "Requests forwarded to another edge of the fleet, by result (ok, unreachable, error, loop).",
	}, []string{"result"})
	for _, r := range []string{fleet.ResultOK, fleet.ResultUnreachable, fleet.ResultError, fleet.ResultLoop} {
		forwards.WithLabelValues(r)
	}
	if err := reg.Register(forwards); err != nil {
		return nil, fmt.Errorf("fleet metrics: %w", err)
	}
	cfg.Forwards = forwards
	f, err := fleet.Join(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("--fleet-bind %s: %w", o.Bind, err)
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mediaedge_fleet_members", Help: "Live fleet members (alive or suspect) as this edge sees them, itself included."},
			func() float64 { return float64(len(f.Members())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mediaedge_fleet_load", Help: "Requests this edge is serving itself (its load for bounded-loads routing)."},
			func() float64 { return float64(f.Self().Load) }),
	} {
		if err := reg.Register(c); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("fleet metrics: %w", err)
		}
	}
	return f, nil
}
