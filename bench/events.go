package bench

// Event backbone benchmark: events made durable through the outbox (a
// synced Pebble batch, the relay publishing to the embedded JetStream
// meanwhile) against a raw JetStream async-publish loop on the same
// embedded server in the same run, and JetStream with sync_always (an fsync
// per message, the other way to make an ack survive power loss). Then the
// kill -9 rounds of social/events/eventstest.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/events/eventstest"
	"github.com/mediaedge/mediaedge/social/ids"
)

// EventsConfig configures the event benchmark.
type EventsConfig struct {
	// Events written in each throughput run.
	Events int
	// Writers append concurrently, each PerBatch events per synced batch:
	// Pebble's commit pipeline shares one WAL fsync among the batches that
	// wait for it (group commit), which is what makes this fast.
	Writers, PerBatch int
	// Payload is the bytes of each event's data.
	Payload int
	// SyncAlwaysEvents for the sync_always reference; 0 skips it.
	SyncAlwaysEvents int
	// CrashRounds of kill -9; 0 skips them. CrashCommand runs the child: a
	// binary whose main calls EventsCrashChild first (default: this binary).
	CrashRounds  int
	CrashCommand []string
	// Dir for the stores; "" is a temp folder.
	Dir string
}

// DefaultEventsConfig is the benchmark.
func DefaultEventsConfig() EventsConfig {
	return EventsConfig{Events: 200_000, Writers: 256, PerBatch: 1, Payload: 200, SyncAlwaysEvents: 5_000, CrashRounds: 20}
}

// EventsRow is one measured way to get events into JetStream.
type EventsRow struct {
	Name   string
	Events int
	PerSec float64
	// P50 and P99 of one append (a writer's wait for durability), when the
	// row has appends.
	P50, P99 time.Duration
	// RefPerSec is the raw async-publish loop of the same run.
	RefPerSec float64
	// CPU is the process's CPU time (user + system, every goroutine: the
	// writers, the relay, the embedded JetStream) per event over the row's
	// interval: what sets the rate when the cores are busy.
	CPU time.Duration
}

// Ratio is ours over the reference.
func (r EventsRow) Ratio() float64 { return r.PerSec / r.RefPerSec }

// EventsReport is the result.
type EventsReport struct {
	Rows  []EventsRow
	Relay events.RelayStats
	Crash *eventstest.CrashReport
}

// EventsCrashChild runs the kill -9 child when this process was started as
// one (eventstest.ChildEnv set) and never returns then; otherwise it returns
// at once. The mediaedge binary calls it first thing in main, so that
// `mediaedge bench events` can start itself as the child.
func EventsCrashChild() {
	dir := os.Getenv(eventstest.ChildEnv)
	if dir == "" {
		return
	}
	err := eventstest.Child(dir, os.Stdout)
	fmt.Fprintln(os.Stderr, "events crash child:", err)
	os.Exit(2)
}

// Events runs the benchmark and prints a table to out.
func Events(ctx context.Context, cfg EventsConfig, out io.Writer) (EventsReport, error) {
	var rep EventsReport
	if cfg.Events < 1 || cfg.Writers < 1 || cfg.PerBatch < 1 {
		return rep, errors.New("events benchmark: want events, writers and per-batch of at least 1")
	}
	dir, cleanup, err := benchDir(cfg.Dir)
	if err != nil {
		return rep, err
	}
	defer cleanup()

	bcfg := events.DefaultConfig()
	bcfg.Dir = filepath.Join(dir, "nats")
	bcfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	bus, err := events.Open(ctx, bcfg)
	if err != nil {
		return rep, err
	}
	defer bus.Close()
	data := json.RawMessage(`{"pad":"` + strings.Repeat("x", max(cfg.Payload-10, 0)) + `"}`)

	// The reference: the same events, published straight to the stream.
	cpu0 := selfCPU()
	ref, err := evRawPublish(ctx, bus, "", cfg.Events, data)
	if err != nil {
		return rep, fmt.Errorf("raw publish: %w", err)
	}

	rep.Rows = append(rep.Rows, EventsRow{Name: "raw JetStream async publish (reference)", Events: cfg.Events, PerSec: ref, RefPerSec: ref,
		CPU: (selfCPU() - cpu0) / time.Duration(cfg.Events)})

	// Steady: the relay publishes while the writers append, sharing the
	// machine with them, as in production.
	steady, relayStats, err := evOutboxRun(ctx, bus, filepath.Join(dir, "store-steady"), cfg, data, true)
	if err != nil {
		return rep, err
	}
	rep.Relay = relayStats
	for i := range steady {
		steady[i].RefPerSec = ref
	}
	rep.Rows = append(rep.Rows, steady...)

	// Burst: the writers alone (what a writer waits for: the synced batch),
	// then the relay drains what they left.
	burst, _, err := evOutboxRun(ctx, bus, filepath.Join(dir, "store-burst"), cfg, data, false)
	if err != nil {
		return rep, err
	}
	for i := range burst {
		burst[i].RefPerSec = ref
	}
	rep.Rows = append(rep.Rows, burst...)

	if cfg.SyncAlwaysEvents > 0 {
		perSec, err := evSyncAlways(ctx, filepath.Join(dir, "nats-sync"), cfg.SyncAlwaysEvents, data)
		if err != nil {
			return rep, fmt.Errorf("sync_always: %w", err)
		}
		rep.Rows = append(rep.Rows, EventsRow{Name: "JetStream sync_always async publish", Events: cfg.SyncAlwaysEvents, PerSec: perSec, RefPerSec: ref})
	}

	if cfg.CrashRounds > 0 {
		crashCmd := cfg.CrashCommand
		if len(crashCmd) == 0 {
			crashCmd = []string{os.Args[0]}
		}
		cr, err := eventstest.Crash(ctx, eventstest.CrashConfig{
			Dir: filepath.Join(dir, "crash"), Rounds: cfg.CrashRounds, MinAcks: 200, MaxAcks: 5000,
			Command: crashCmd,
		})
		if err != nil {
			return rep, fmt.Errorf("kill -9: %w", err)
		}
		rep.Crash = &cr
	}
	printEvents(out, cfg, rep)
	return rep, nil
}

// evOutboxRun appends cfg.Events through a fresh Pebble outbox in dir.
// With steady the relay runs during the appends; otherwise it starts
// after them. It returns the append row and the relay's row.
func evOutboxRun(ctx context.Context, bus *events.Bus, dir string, cfg EventsConfig, data json.RawMessage, steady bool) ([]EventsRow, events.RelayStats, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: evQuietPebble{}})
	if err != nil {
		return nil, events.RelayStats{}, err
	}
	defer db.Close()
	ob := events.NewPebbleOutbox(db)
	var relay *events.Relay
	startRelay := func() error {
		relay, err = events.StartRelay(bus, ob)
		return err
	}
	if steady {
		if err := startRelay(); err != nil {
			return nil, events.RelayStats{}, err
		}
		defer relay.Close()
	}
	start, cpu0 := time.Now(), selfCPU()
	lat, err := evAppendLoad(ctx, ob, relay, cfg, data)
	if err != nil {
		return nil, events.RelayStats{}, fmt.Errorf("outbox append: %w", err)
	}
	appended, cpuAppend := time.Since(start), selfCPU()-cpu0
	if !steady {
		start, cpu0 = time.Now(), selfCPU()
		if err := startRelay(); err != nil {
			return nil, events.RelayStats{}, err
		}
		defer relay.Close()
	}
	if err := relay.Flush(ctx); err != nil {
		return nil, events.RelayStats{}, fmt.Errorf("relay: %w", err)
	}
	relayed, cpuRelay := time.Since(start), selfCPU()-cpu0
	slices.Sort(lat)
	what, relayName := "while the relay publishes", "outbox -> relay -> JetStream, end to end"
	if !steady {
		what, relayName = "alone (burst)", "relay draining the burst"
	}
	return []EventsRow{
		{Name: fmt.Sprintf("outbox append %s, %d writers x %d", what, cfg.Writers, cfg.PerBatch), Events: cfg.Events,
			PerSec: float64(cfg.Events) / appended.Seconds(), P50: evPct(lat, 50), P99: evPct(lat, 99),
			CPU: cpuAppend / time.Duration(cfg.Events)},
		{Name: relayName, Events: cfg.Events, PerSec: float64(cfg.Events) / relayed.Seconds(), CPU: cpuRelay / time.Duration(cfg.Events)},
	}, relay.Stats(), nil
}

// evRawPublish publishes n events with a Nats-Msg-Id each, at most 4096
// awaiting an ack, and returns events/s. With subject "" it uses the bus's.
func evRawPublish(ctx context.Context, bus *events.Bus, subject string, n int, data json.RawMessage) (float64, error) {
	nc, err := bus.Dial("bench-raw")
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	return evPublishLoop(ctx, nc, cmp.Or(subject, bus.Subject("bench.raw")), n, data)
}

func evPublishLoop(ctx context.Context, nc *nats.Conn, subject string, n int, data json.RawMessage) (float64, error) {
	var failed atomic.Int64
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { failed.Add(1) }))
	if err != nil {
		return 0, err
	}
	g, err := ids.New(900)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	for range n {
		ev := events.Event{ID: g.Next(), Kind: "bench.raw", Actor: 1, Data: data, At: time.Now().UTC()}
		b, err := events.Encode(ev)
		if err != nil {
			return 0, err
		}
		m := &nats.Msg{Subject: subject, Data: b, Header: nats.Header{}}
		if _, err := js.PublishMsgAsync(m, jetstream.WithMsgID(ev.MsgID()), jetstream.WithStallWait(time.Minute)); err != nil {
			return 0, err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	d := time.Since(start)
	if f := failed.Load(); f > 0 {
		return 0, fmt.Errorf("%d of %d publishes failed", f, n)
	}
	return float64(n) / d.Seconds(), nil
}

// evAppendLoad appends cfg.Events events from cfg.Writers goroutines and
// returns each append's latency.
func evAppendLoad(ctx context.Context, ob *events.PebbleOutbox, relay *events.Relay, cfg EventsConfig, data json.RawMessage) ([]time.Duration, error) {
	g, err := ids.New(901)
	if err != nil {
		return nil, err
	}
	var next atomic.Int64
	lats := make([][]time.Duration, cfg.Writers)
	errs := make([]error, cfg.Writers)
	var wg sync.WaitGroup
	for w := range cfg.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(int64(cfg.PerBatch)))
				if k-cfg.PerBatch >= cfg.Events {
					return
				}
				evs := make([]events.Event, min(cfg.PerBatch, cfg.Events-(k-cfg.PerBatch)))
				for i := range evs {
					evs[i] = events.Event{ID: g.Next(), Kind: "bench.outbox", Actor: int64(w), Data: data, At: time.Now().UTC()}
				}
				t0 := time.Now()
				if err := ob.Append(ctx, evs...); err != nil {
					errs[w] = err
					return
				}
				lats[w] = append(lats[w], time.Since(t0))
				if relay != nil {
					relay.Notify()
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return slices.Concat(lats...), nil
}

// syncAlways publishes n events to a fresh embedded server that fsyncs
// every message.
func evSyncAlways(ctx context.Context, dir string, n int, data json.RawMessage) (float64, error) {
	s, err := server.NewServer(&server.Options{JetStream: true, StoreDir: dir, SyncAlways: true, DontListen: true, NoSigs: true, NoLog: true})
	if err != nil {
		return 0, err
	}
	s.Start()
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	if !s.ReadyForConnections(30 * time.Second) {
		return 0, errors.New("server did not start")
	}
	nc, err := nats.Connect("", nats.InProcessServer(s))
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SYNC", Subjects: []string{"sync.>"}, Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute}); err != nil {
		return 0, err
	}
	return evPublishLoop(ctx, nc, "sync.bench", n, data)
}

func evPct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

type evQuietPebble struct{}

func (evQuietPebble) Infof(string, ...any)  {}
func (evQuietPebble) Errorf(string, ...any) {}
func (evQuietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

func printEvents(out io.Writer, cfg EventsConfig, rep EventsReport) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "events: %d events of ~%d B, embedded JetStream (sync_interval 1s)\n", cfg.Events, cfg.Payload)
	fmt.Fprintln(tw, "path\tevents\tevents/s\tappend p50\tappend p99\tCPU/event\tratio")
	var burst time.Duration // CPU per event of a burst's append plus its drain
	for _, r := range rep.Rows {
		p50, p99 := "-", "-"
		if r.P99 > 0 {
			p50, p99 = r.P50.Round(time.Microsecond).String(), r.P99.Round(time.Microsecond).String()
		}
		cpu := "-"
		if r.CPU > 0 {
			cpu = r.CPU.Round(100 * time.Nanosecond).String()
		}
		if strings.Contains(r.Name, "alone (burst)") || strings.HasPrefix(r.Name, "relay draining") {
			burst += r.CPU
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%.2fx\n", r.Name, r.Events, r.PerSec, p50, p99, cpu, r.Ratio())
	}
	tw.Flush()
	if burst > 0 {
		// The bound the cores set: an event costs its append and its relay,
		// wherever they run; a sustained rate cannot exceed cores/CPU.
		perCore := float64(time.Second) / float64(burst)
		fmt.Fprintf(out, "CPU per durable event, append + relay + JetStream: %v; one core sustains at most %.0f events/s, %d cores %.0f; 50k events/s needs %.1f cores\n",
			burst.Round(100*time.Nanosecond), perCore, runtime.NumCPU(), perCore*float64(runtime.NumCPU()), 50_000/perCore)
	}
	s := rep.Relay
	fmt.Fprintf(out, "relay (steady run): %d published, %d acked, %d duplicates, %d failed, %d late\n", s.Published, s.Acked, s.Duplicates, s.Failed, s.Late)
	if c := rep.Crash; c != nil {
		var drain time.Duration
		for _, r := range c.Rounds {
			drain = max(drain, r.Drain)
		}
		fmt.Fprintf(out, "kill -9: %d rounds, %d acknowledged events, %d lost, %d duplicated in the stream, slowest restart drain %v\n",
			len(c.Rounds), c.Acked, c.Lost, c.Duplicated, drain.Round(time.Millisecond))
	}
}
