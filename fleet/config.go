package fleet

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config is one edge's fleet configuration. The zero value is not usable;
// start from DefaultConfig.
type Config struct {
	// Bind is the gossip address, "host:port", for both UDP (probes, gossip)
	// and TCP (joins, push/pull). Port 0 picks a free port (tests); Name is
	// then required, since the default name includes the port.
	Bind string
	// Advertise, when set, is the "host:port" other members reach this edge's
	// gossip at (NAT, or Bind on 0.0.0.0 with several interfaces). Empty lets
	// memberlist pick: Bind's address, or a private address of this host.
	Advertise string
	// Peers are seed gossip addresses ("host:port") to join through. Any one
	// live seed is enough; listing every edge, this one included, is fine.
	// None starts a fleet of one that others may join.
	Peers []string
	// HTTPAddr is this edge's HTTP base URL as the other edges reach it
	// ("http://10.0.0.5:8080"); it travels in the member's metadata and is
	// where forwarded requests go.
	HTTPAddr string
	// Observer joins without serving: the member carries no HTTP address,
	// owns no key, is never forwarded to and receives the members' load
	// reports (`mediaedge fleet status` joins so). HTTPAddr is then unused.
	Observer bool
	// Name identifies this edge in the fleet and seeds its rendezvous score,
	// so it must be unique and should be stable across restarts (a restarted
	// edge with the same name owns the same keys and finds them on its
	// disks). Default: hostname "-" Bind.
	Name string
	// SecretKey (16, 24 or 32 bytes) encrypts and authenticates gossip with
	// AES-GCM, and a key derived from it signs forwards (auth.go); every
	// member needs the same key. Without it, anyone who can reach Bind can
	// join the fleet and serve its own bytes as any key's owner, which the
	// other edges cache as immutable: Validate refuses a fleet without a key
	// unless Insecure is set or Bind is a loopback address.
	SecretKey []byte
	// Insecure allows a fleet without SecretKey on an address other hosts
	// can reach: for a network where nothing untrusted can reach Bind.
	// Forwards are still signed (with per-edge keys that travel in the
	// gossip, see auth.go), so HTTP clients cannot forge them.
	Insecure bool
	// Upgrading accepts, from edges of a version before this one, what they
	// cannot send: forwards without a signature (their hop and fill headers
	// are taken as they are, as those edges take them) and, with SecretKey,
	// gossip that is not encrypted (memberlist's GossipVerifyIncoming and
	// Outgoing off). For a rolling upgrade or a key rollout only: while set,
	// a client can forge the hop and fill headers again. Turn it off once
	// every edge runs this version with the key.
	Upgrading bool
	// Logger receives the fleet's logs; memberlist's own lines go to it at
	// debug level. Nil means slog.Default().
	Logger *slog.Logger

	// LoadFactor is c of consistent hashing with bounded loads: a member may
	// take a key while its in-flight load is under ceil(c x (total+1) / n).
	// Must be > 1; 1.25 is the paper's and HAProxy's usual choice.
	LoadFactor float64
	// LoadInterval is how often this edge sends its in-flight count to every
	// other member (a best-effort UDP message each). Remote loads are at most
	// this old plus one datagram's flight, unless datagrams are lost.
	LoadInterval time.Duration
	// LoadTTL is how long a received load counts; an older one (the member
	// stopped reporting, or its datagrams are lost) is taken as 0, so a
	// member is never avoided on stale information.
	LoadTTL time.Duration

	// ProbeInterval is SWIM's failure-detection period: each member probes
	// one other (round robin) this often. Smaller detects a dead edge sooner
	// at the cost of more packets. memberlist's LAN default is 1s.
	ProbeInterval time.Duration
	// ProbeTimeout is how long to wait for a probe's ack before asking
	// others to probe indirectly; above the LAN's p99 round trip.
	ProbeTimeout time.Duration
	// GossipInterval is how often queued membership changes are gossiped to
	// a few random members.
	GossipInterval time.Duration
	// SuspicionMult scales how long a suspected member has to refute before
	// it is declared dead: SuspicionMult x log10(n) x ProbeInterval, shortened
	// as other members confirm the suspicion.
	SuspicionMult int
	// RejoinInterval is how often an edge that knows no other member retries
	// its Peers (seeds that were not up yet, or a partition that healed).
	RejoinInterval time.Duration
	// ReconnectInterval is how often (jittered by +-25%) an edge that knows
	// other members joins those of its Peers that are not among them, as
	// Serf's reconnect does: after a partition, memberlist forgets the far
	// side's members (dead, then gone after GossipToTheDeadTime) and would
	// never look for them again, so two halves that each keep a member
	// would stay two fleets. A Join to a live seed is one TCP push/pull.
	ReconnectInterval time.Duration
	// LeaveTimeout bounds how long Close waits for the leave message to go
	// out before shutting down anyway.
	LeaveTimeout time.Duration

	// DialTimeout bounds a forward's TCP connect. Short on a LAN: a member
	// that does not answer a SYN in time is treated as unreachable and the
	// next-ranked one is tried.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for a forwarded request's
	// response headers, which includes the owner computing a miss (a
	// transform, a video conversion, their queues). It must cover the
	// longest of them: past it the forward fails (502) where a lone edge
	// would have served the result. The composition root derives it from
	// the transform and video timeouts; the default, 4 minutes, covers
	// their defaults: an image transform (30 s, waiting included) after as
	// long a wait for source memory, or a video job (120 s) after its queue
	// (5 s), with room for reading the original.
	// The body then streams under the caller's context only.
	ResponseHeaderTimeout time.Duration
	// IdleConnTimeout closes pooled keep-alive connections unused this long.
	IdleConnTimeout time.Duration
	// MaxIdleConnsPerHost is the keep-alive pool kept to each member; above
	// the in-flight forwards to one owner, or connections churn.
	MaxIdleConnsPerHost int

	// Forwards, when set, counts forward attempts by result ("ok",
	// "unreachable", "error", "loop"): the lead registers it as
	// mediaedge_fleet_forwards_total{result}. Stats() counts the same.
	Forwards *prometheus.CounterVec
}

// DefaultConfig returns memberlist's LAN timings, c = 1.25 and a forwarding
// pool sized for a busy edge. Bind, HTTPAddr and Peers are left to the caller.
func DefaultConfig() Config {
	return Config{
		Bind:                  "0.0.0.0:7946",
		LoadFactor:            1.25,
		LoadInterval:          250 * time.Millisecond,
		LoadTTL:               2 * time.Second,
		ProbeInterval:         time.Second,
		ProbeTimeout:          500 * time.Millisecond,
		GossipInterval:        200 * time.Millisecond,
		SuspicionMult:         4,
		RejoinInterval:        2 * time.Second,
		ReconnectInterval:     30 * time.Second,
		LeaveTimeout:          2 * time.Second,
		DialTimeout:           time.Second,
		ResponseHeaderTimeout: 4 * time.Minute,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   64,
	}
}

// Validate reports every problem in c at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	port, err := hostPort("bind", c.Bind)
	if err != nil {
		errs = append(errs, err)
	} else if port == 0 && c.Name == "" {
		bad("fleet: a name is required when the bind port is 0")
	}
	if c.Advertise != "" {
		if _, err := hostPort("advertise", c.Advertise); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range c.Peers {
		if _, _, err := net.SplitHostPort(p); err != nil {
			bad("fleet: peer %q: %w", p, err)
		}
	}
	if c.Observer {
		// An observer serves nothing: no HTTP address to check.
	} else if c.HTTPAddr == "" {
		bad("fleet: the HTTP address is required")
	} else if u, err := url.Parse(c.HTTPAddr); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("fleet: HTTP address %q is not an http(s)://host:port URL", c.HTTPAddr)
	} else if len(encodeMeta(metaOf(c, strings.Repeat("k", base64.RawURLEncoding.EncodedLen(hopKeyLen))))) > maxMeta {
		bad("fleet: HTTP address %q is too long for the member metadata", c.HTTPAddr)
	}
	switch len(c.SecretKey) {
	case 0:
		// An observer serves nothing, so it cannot inject bytes, and joins
		// a keyless fleet only if that fleet already allowed itself to be.
		// A loopback bind is reachable from this host only, whose users
		// can read the edges' data anyway (tests, development).
		if !c.Insecure && !c.Observer && !loopback(c.Bind) {
			bad("fleet: a secret key is required (anyone who can reach %s could join and serve its own bytes); set Insecure to run without one", c.Bind)
		}
	case 16, 24, 32:
	default:
		bad("fleet: the secret key is %d bytes, want 16, 24 or 32", len(c.SecretKey))
	}
	if !(c.LoadFactor > 1) {
		bad("fleet: the load factor is %v, want > 1", c.LoadFactor)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"load interval", c.LoadInterval}, {"load TTL", c.LoadTTL},
		{"probe interval", c.ProbeInterval}, {"probe timeout", c.ProbeTimeout},
		{"gossip interval", c.GossipInterval}, {"rejoin interval", c.RejoinInterval}, {"reconnect interval", c.ReconnectInterval},
		{"leave timeout", c.LeaveTimeout}, {"dial timeout", c.DialTimeout},
		{"response header timeout", c.ResponseHeaderTimeout}, {"idle connection timeout", c.IdleConnTimeout},
	} {
		if d.v <= 0 {
			bad("fleet: the %s is %v, want > 0", d.name, d.v)
		}
	}
	if c.LoadTTL > 0 && c.LoadTTL < c.LoadInterval {
		bad("fleet: the load TTL %v is shorter than the load interval %v", c.LoadTTL, c.LoadInterval)
	}
	if c.ProbeTimeout > 0 && c.ProbeTimeout >= c.ProbeInterval {
		bad("fleet: the probe timeout %v must be shorter than the probe interval %v", c.ProbeTimeout, c.ProbeInterval)
	}
	if c.SuspicionMult < 1 {
		bad("fleet: the suspicion multiplier is %d, want >= 1", c.SuspicionMult)
	}
	if c.MaxIdleConnsPerHost < 1 {
		bad("fleet: max idle connections per host is %d, want >= 1", c.MaxIdleConnsPerHost)
	}
	return errors.Join(errs...)
}

// name is the configured name or the default, hostname "-" Bind.
func (c Config) name() string {
	if c.Name != "" {
		return c.Name
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "edge"
	}
	return host + "-" + c.Bind
}

// loopback reports whether addr ("ip:port") binds a loopback address.
func loopback(addr string) bool {
	h, _, err := net.SplitHostPort(addr)
	ip := net.ParseIP(h)
	return err == nil && ip != nil && ip.IsLoopback()
}

// hostPort checks an "ip:port" (memberlist binds and advertises IPs, not
// names) and returns the port.
func hostPort(what, addr string) (int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("fleet: %s address %q: %w", what, addr, err)
	}
	if net.ParseIP(h) == nil {
		return 0, fmt.Errorf("fleet: %s address %q: the host must be an IP address", what, addr)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return 0, fmt.Errorf("fleet: %s address %q: bad port", what, addr)
	}
	return port, nil
}
