package events

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Bus is the connection to JetStream: the embedded server this process
// runs, or an external cluster. It creates (or updates) the event and
// dead-letter streams when it opens. The relay and the consumers are built
// on it; close them before the Bus.
type Bus struct {
	cfg Config
	log *slog.Logger
	srv *server.Server // nil with an external cluster
	nc  *nats.Conn
	js  jetstream.JetStream
}

// Open starts the embedded server (cfg.URL empty) or connects to the
// cluster, and makes sure both streams exist with cfg's settings.
func Open(ctx context.Context, cfg Config) (*Bus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Bus{cfg: cfg, log: cmp.Or(cfg.Logger, slog.Default()).With("component", "events")}
	if cfg.URL == "" {
		if err := b.startServer(); err != nil {
			return nil, err
		}
	}
	nc, err := b.Dial("mediaedge-events")
	if err != nil {
		b.Close()
		return nil, err
	}
	b.nc = nc
	if b.js, err = jetstream.New(nc); err != nil {
		b.Close()
		return nil, fmt.Errorf("events: jetstream: %w", err)
	}
	if err := b.ensureStreams(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Bus) startServer() error {
	if err := os.MkdirAll(b.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("events: create %s: %w", b.cfg.Dir, err)
	}
	opts := &server.Options{
		ServerName:   cmp.Or(b.cfg.ServerName, "mediaedge"),
		JetStream:    true,
		StoreDir:     b.cfg.Dir,
		SyncInterval: b.cfg.SyncInterval,
		NoSigs:       true,
		DontListen:   b.cfg.Listen == "",
	}
	if b.cfg.Listen != "" {
		h, p, err := splitListen(b.cfg.Listen)
		if err != nil {
			return err
		}
		opts.Host, opts.Port = h, p
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("events: embedded nats: %w", err)
	}
	s.SetLoggerV2(natsLogger{b.log.With("nats", opts.ServerName)}, false, false, false)
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		s.WaitForShutdown()
		return errors.New("events: embedded nats did not start within 30s (is its folder locked by another process?)")
	}
	b.srv = s
	return nil
}

// Dial opens another connection to the bus's JetStream (the relay publishes
// on one of its own, so its acks never queue behind consumer traffic).
func (b *Bus) Dial(name string) (*nats.Conn, error) {
	log := b.log.With("conn", name)
	opts := []nats.Option{nats.Name(name), nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
		if sub != nil {
			log.Warn("nats", "subject", sub.Subject, "err", err)
			return
		}
		log.Warn("nats", "err", err)
	})}
	url := b.cfg.URL
	if b.srv != nil {
		opts = append(opts, nats.InProcessServer(b.srv), nats.NoReconnect())
		url = ""
	} else {
		opts = append(opts, nats.MaxReconnects(-1), nats.ReconnectWait(500*time.Millisecond))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("events: connect to %s: %w", cmp.Or(redactURL(url), "embedded nats"), err)
	}
	return nc, nil
}

// redactURL drops credentials from a NATS URL list for messages.
func redactURL(u string) string {
	var out []string
	for _, one := range strings.Split(u, ",") {
		if i := strings.Index(one, "@"); i >= 0 {
			if j := strings.Index(one, "://"); j >= 0 && j < i {
				one = one[:j+3] + "***" + one[i:]
			}
		}
		out = append(out, one)
	}
	return strings.Join(out, ",")
}

func (b *Bus) ensureStreams(ctx context.Context) error {
	r := b.cfg.replicas()
	for _, sc := range []jetstream.StreamConfig{{
		Name:        b.cfg.Stream,
		Description: "mediaedge social events (social/events)",
		Subjects:    []string{b.cfg.Subject + ".>"},
		Storage:     jetstream.FileStorage,
		Replicas:    r,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      b.cfg.MaxAge,
		MaxBytes:    cmp.Or(b.cfg.MaxBytes, -1),
		Duplicates:  b.cfg.DuplicateWindow,
	}, {
		Name:        b.cfg.DeadLetterStream,
		Description: "mediaedge social events consumers gave up on",
		Subjects:    []string{b.cfg.DeadLetterSubject + ".>"},
		Storage:     jetstream.FileStorage,
		Replicas:    r,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      b.cfg.DeadLetterMaxAge,
		Duplicates:  b.cfg.DuplicateWindow,
	}} {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := b.js.CreateOrUpdateStream(cctx, sc)
		cancel()
		if err != nil {
			return fmt.Errorf("events: stream %s (R%d): %w", sc.Name, r, err)
		}
	}
	return nil
}

// JetStream is the bus's JetStream context, for tools and tests.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Config is the configuration the bus was opened with.
func (b *Bus) Config() Config { return b.cfg }

// ClientURL is where other processes reach the embedded server ("" when it
// does not listen, or with an external cluster).
func (b *Bus) ClientURL() string {
	if b.srv == nil || b.cfg.Listen == "" {
		return ""
	}
	return b.srv.ClientURL()
}

// Subject is the subject events of kind are published on. A kind is a
// dot-separated name ("user.created"); characters a subject token cannot
// hold become "_".
func (b *Bus) Subject(kind string) string { return b.cfg.Subject + "." + kindToken(kind) }

func kindToken(kind string) string {
	if kind == "" {
		return "_"
	}
	out := []byte(kind)
	for i, c := range out {
		ok := c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !ok || c == '.' && (i == 0 || i == len(out)-1 || out[i-1] == '.') {
			out[i] = '_'
		}
	}
	return string(out)
}

// Close ends the connection and stops the embedded server.
func (b *Bus) Close() error {
	if b.nc != nil {
		b.nc.Close()
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
	return nil
}

// natsLogger sends the embedded server's log to slog. Notices are debug
// lines: a server that starts with every edge should not fill its log.
type natsLogger struct{ log *slog.Logger }

func (l natsLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l natsLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
