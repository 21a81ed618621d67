package events

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"time"
)

// Config is the event backbone: where JetStream runs and what the stream
// looks like. The relay and the consumers have configs of their own
// (RelayConfig, ConsumerConfig); Relay is nested here so that one root
// config carries the whole backbone.
type Config struct {
	// URL of an external NATS cluster ("nats://a:4222,nats://b:4222", with
	// user:password@ when it needs them). Empty runs the embedded server.
	URL string
	// Dir holds the embedded server's JetStream files (DATA/nats); required
	// when URL is empty.
	Dir string
	// Listen, when set (host:port; port 0 picks a free one), makes the
	// embedded server also accept client connections there, for the nats
	// CLI or a second process. Empty (the default) serves this process
	// only, through an in-process connection: nothing to secure, no port to
	// collide with another edge on the host (see the package doc).
	Listen string
	// ServerName of the embedded server, shown in its logs and advisories.
	ServerName string
	// Stream is the JetStream stream of social events.
	Stream string
	// Subject prefix: an event of kind K is published on Subject + "." + K.
	Subject string
	// DeadLetterStream and DeadLetterSubject receive what consumers gave up
	// on: consumer C's dead letters are on DeadLetterSubject + "." + C.
	DeadLetterStream, DeadLetterSubject string
	// Replicas of both streams; 0 means 1 embedded and 3 on an external
	// cluster (R3: an acknowledged event is on a quorum of servers).
	Replicas int
	// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id and
	// drops a second publish of it. It must outlast a relay restart plus
	// the relay's DeleteDelay: an event re-published after the window is
	// stored twice and delivered twice (consumers are idempotent, so that
	// costs work, not correctness). Memory: about 100 bytes per event
	// published within the window.
	DuplicateWindow time.Duration
	// MaxAge and MaxBytes bound the event stream (oldest dropped first); a
	// consumer further behind than that misses events. 0 MaxBytes is no
	// byte limit.
	MaxAge   time.Duration
	MaxBytes int64
	// DeadLetterMaxAge bounds the dead-letter stream.
	DeadLetterMaxAge time.Duration
	// SyncInterval is how often JetStream fsyncs its files. The embedded
	// server is started with it (NATS's own default is 2 minutes). For an
	// external cluster it must state that cluster's sync_interval, or 0 to
	// rely on replication alone. The relay keeps each event in the outbox
	// for 2*SyncInterval+1s after JetStream acknowledged it, so a power
	// loss that takes JetStream's unsynced tail is repaired from the
	// outbox on restart (see the package doc).
	SyncInterval time.Duration
	// Relay tunes the outbox relay.
	Relay RelayConfig
	// Logger receives the embedded server's warnings and errors and the
	// backbone's own; nil is slog.Default().
	Logger *slog.Logger `yaml:"-" json:"-"`
}

// DefaultConfig is the embedded server with its files in data/nats.
func DefaultConfig() Config {
	return Config{
		Dir:               "data/nats",
		ServerName:        "mediaedge",
		Stream:            "SOCIAL_EVENTS",
		Subject:           "social.events",
		DeadLetterStream:  "SOCIAL_EVENTS_DLQ",
		DeadLetterSubject: "social.dlq",
		DuplicateWindow:   2 * time.Minute,
		MaxAge:            7 * 24 * time.Hour,
		MaxBytes:          0,
		DeadLetterMaxAge:  30 * 24 * time.Hour,
		SyncInterval:      time.Second,
		Relay:             DefaultRelayConfig(),
	}
}

var (
	// streamRe: JetStream stream names may not hold spaces, ".", "*", ">"
	// or path separators.
	streamRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	// subjectRe: dot-separated tokens without wildcards or spaces.
	subjectRe = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
)

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" && c.Dir == "" {
		errs = append(errs, errors.New("events: the embedded server needs a folder (Dir)"))
	}
	if c.URL != "" && c.Listen != "" {
		errs = append(errs, errors.New("events: Listen is for the embedded server; with URL set there is none"))
	}
	if c.Listen != "" {
		if _, _, err := splitListen(c.Listen); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range []struct{ name, v string }{{"stream", c.Stream}, {"dead-letter stream", c.DeadLetterStream}} {
		if !streamRe.MatchString(s.v) {
			errs = append(errs, fmt.Errorf("events: %s %q: want 1-64 letters, digits, _ or -", s.name, s.v))
		}
	}
	if c.Stream == c.DeadLetterStream {
		errs = append(errs, fmt.Errorf("events: stream and dead-letter stream are both %q", c.Stream))
	}
	for _, s := range []struct{ name, v string }{{"subject", c.Subject}, {"dead-letter subject", c.DeadLetterSubject}} {
		if !subjectRe.MatchString(s.v) {
			errs = append(errs, fmt.Errorf("events: %s %q: want dot-separated tokens without wildcards", s.name, s.v))
		}
	}
	if c.Subject == c.DeadLetterSubject {
		errs = append(errs, fmt.Errorf("events: subject and dead-letter subject are both %q", c.Subject))
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("events: replicas %d: want 0 (auto) to 5", c.Replicas))
	}
	if c.URL == "" && c.Replicas > 1 {
		errs = append(errs, fmt.Errorf("events: replicas %d: the embedded server is one node", c.Replicas))
	}
	if c.DuplicateWindow < time.Second {
		errs = append(errs, fmt.Errorf("events: duplicate window %v: want at least 1s", c.DuplicateWindow))
	}
	if c.MaxAge < 0 || c.MaxBytes < 0 || c.DeadLetterMaxAge < 0 {
		errs = append(errs, errors.New("events: MaxAge, MaxBytes and DeadLetterMaxAge must not be negative"))
	}
	if c.MaxAge > 0 && c.MaxAge < c.DuplicateWindow {
		errs = append(errs, fmt.Errorf("events: max age %v is shorter than the duplicate window %v", c.MaxAge, c.DuplicateWindow))
	}
	if c.SyncInterval < 0 || (c.URL == "" && c.SyncInterval == 0) {
		errs = append(errs, fmt.Errorf("events: sync interval %v: the embedded server needs one above 0", c.SyncInterval))
	}
	if d := c.Relay.deleteDelay(c.SyncInterval); d >= c.DuplicateWindow {
		errs = append(errs, fmt.Errorf("events: the relay keeps acknowledged events %v, not less than the duplicate window %v: a restart would store them twice", d, c.DuplicateWindow))
	}
	if err := c.Relay.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// replicas is the effective replica count.
func (c Config) replicas() int {
	switch {
	case c.Replicas > 0:
		return c.Replicas
	case c.URL != "":
		return 3
	default:
		return 1
	}
}

// splitListen parses Listen into the embedded server's host and port
// (nats-server's RANDOM_PORT, -1, for 0).
func splitListen(s string) (string, int, error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("events: listen %q: %w", s, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("events: listen %q: bad port", s)
	}
	if n == 0 {
		n = -1
	}
	return h, n, nil
}

// RelayConfig tunes the relay that moves the outbox to JetStream.
type RelayConfig struct {
	// Batch is how many outbox entries one read returns.
	Batch int
	// MaxInFlight bounds the publishes awaiting JetStream's ack.
	MaxInFlight int
	// MinInterval is the least time between two passes over the outbox:
	// under a stream of writes, Notify wakes the relay for every batch,
	// and reading a few entries each time costs more than it saves.
	MinInterval time.Duration
	// Poll is how often the relay looks at the outbox without being
	// notified: writes from other processes (a shared Cassandra outbox) and
	// writers that forgot Notify are relayed within Poll.
	Poll time.Duration
	// Sweep and Lookback: every Sweep the relay reads again the ids made
	// in the last Lookback (ids start with their millisecond), for entries
	// committed after the relay's cursor passed their id: concurrent
	// writers commit out of id order. Lookback must exceed the time from
	// making an id to committing it, plus the clock skew between nodes that
	// share a Cassandra outbox.
	Sweep, Lookback time.Duration
	// FullScan is how often the relay reads the whole outbox (from its
	// floor, see Floorer), for entries committed more than Lookback after
	// their id was made; they are counted (RelayStats.Late).
	FullScan time.Duration
	// StragglerWindow is the longest an entry may take from its id to its
	// commit for a Floorer (Cassandra) outbox: the floor is never raised
	// above now-StragglerWindow, and an entry committed later still is
	// never read. A full scan reads the tombstones of StragglerWindow's
	// deletes; past ~800 deletes/s per shard (100k tombstones in 2
	// minutes) Cassandra fails it, and the relay gives the scan up and
	// carries on (logged as an error).
	StragglerWindow time.Duration
	// DeleteDelay is how long an acknowledged event stays in the outbox
	// before it is deleted; negative derives it from Config.SyncInterval
	// (2*SyncInterval+1s, or 0 when SyncInterval is 0).
	DeleteDelay time.Duration
	// AckTimeout fails a publish JetStream has not acknowledged in time;
	// the entry is published again.
	AckTimeout time.Duration
	// RetryBackoff is the pause after a failed read or publish, doubling
	// up to 10x on repeated failures.
	RetryBackoff time.Duration
}

// DefaultRelayConfig suits both outboxes.
func DefaultRelayConfig() RelayConfig {
	return RelayConfig{
		Batch:           1024,
		MaxInFlight:     4096,
		MinInterval:     2 * time.Millisecond,
		Poll:            500 * time.Millisecond,
		Sweep:           250 * time.Millisecond,
		Lookback:        time.Second,
		FullScan:        30 * time.Second,
		StragglerWindow: 2 * time.Minute,
		DeleteDelay:     -1,
		AckTimeout:      10 * time.Second,
		RetryBackoff:    200 * time.Millisecond,
	}
}

// Validate reports every problem at once.
func (c RelayConfig) Validate() error {
	var errs []error
	if c.Batch < 1 || c.MaxInFlight < 1 {
		errs = append(errs, fmt.Errorf("events: relay batch %d and max in flight %d: want at least 1", c.Batch, c.MaxInFlight))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"poll", c.Poll}, {"sweep", c.Sweep}, {"full scan", c.FullScan}, {"ack timeout", c.AckTimeout}, {"retry backoff", c.RetryBackoff}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("events: relay %s %v: want above 0", d.name, d.v))
		}
	}
	if c.Lookback < 0 || c.StragglerWindow < 0 || c.MinInterval < 0 {
		errs = append(errs, errors.New("events: relay lookback, straggler window and min interval must not be negative"))
	}
	return errors.Join(errs...)
}

// deleteDelay is the effective DeleteDelay for a JetStream that fsyncs
// every sync.
func (c RelayConfig) deleteDelay(sync time.Duration) time.Duration {
	switch {
	case c.DeleteDelay >= 0:
		return c.DeleteDelay
	case sync <= 0:
		return 0
	default:
		return 2*sync + time.Second
	}
}
