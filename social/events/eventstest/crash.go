// Package eventstest holds the event backbone's kill -9 harness, shared by
// the events tests (a few rounds) and `mediaedge bench events` (more): a
// child process writes events through a Pebble outbox with synced batches
// and relays them to its embedded JetStream, printing each event's id once
// its batch committed; the parent kills it with SIGKILL at a random point,
// restarts the outbox and JetStream in-process from the same folders, lets
// the relay drain, and checks that every id the child printed is in the
// stream exactly once.
package eventstest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/ids"
)

// ChildEnv names the folder a crash child works in; a process started with
// it set runs Child (the test or command given to Crash arranges that).
const ChildEnv = "MEDIAEDGE_EVENTS_CRASH_DIR"

// busConfig is the embedded bus of the child and of the parent's check:
// production settings (DeleteDelay derived from the 1s sync interval), in
// dir/nats, logging only errors to stderr.
func busConfig(dir string) events.Config {
	cfg := events.DefaultConfig()
	cfg.Dir = filepath.Join(dir, "nats")
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	return cfg
}

func openPebble(dir string) (*pebble.DB, error) {
	return pebble.Open(filepath.Join(dir, "store"), &pebble.Options{Logger: quietPebble{}})
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// Child writes events until it is killed: 8 writers, 1-4 events per
// synced Pebble batch, the relay notified after each; "ack ID" goes to out
// for each event after its batch committed. It returns only on error.
func Child(dir string, out io.Writer) error {
	ctx := context.Background()
	db, err := openPebble(dir)
	if err != nil {
		return err
	}
	b, err := events.Open(ctx, busConfig(dir))
	if err != nil {
		return err
	}
	ob := events.NewPebbleOutbox(db)
	r, err := events.StartRelay(b, ob)
	if err != nil {
		return err
	}
	g, err := ids.New(7)
	if err != nil {
		return err
	}
	acks := make(chan int64, 4096)
	errc := make(chan error, 8)
	for w := range 8 {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))
			for {
				evs := make([]events.Event, 1+rng.IntN(4))
				for i := range evs {
					evs[i] = events.Event{ID: g.Next(), Kind: "crash.test", Actor: int64(w), At: time.Now().UTC(),
						Data: json.RawMessage(`{"pad":"` + strings.Repeat("x", 150) + `"}`)}
				}
				if err := ob.Append(ctx, evs...); err != nil {
					errc <- err
					return
				}
				r.Notify()
				for _, ev := range evs {
					acks <- ev.ID
				}
			}
		}()
	}
	w := bufio.NewWriter(out)
	for {
		select {
		case err := <-errc:
			return err
		case id := <-acks:
			fmt.Fprintf(w, "ack %d\n", id)
			if len(acks) == 0 {
				if err := w.Flush(); err != nil {
					return err
				}
			}
		}
	}
}

// CrashConfig is a kill -9 run.
type CrashConfig struct {
	// Dir holds the child's store and JetStream files, kept across rounds.
	Dir string
	// Rounds of start, kill, check.
	Rounds int
	// Command runs Child in a new process when ChildEnv is set (a test
	// binary with -test.run naming a test that calls Child, or a binary
	// whose main does).
	Command []string
	// MinAcks and MaxAcks: each round kills the child after a random
	// number of acknowledged events in this range, plus up to 20ms.
	MinAcks, MaxAcks int
}

// CrashRound is what one round saw.
type CrashRound struct {
	// Acked is how many events the child acknowledged before the kill.
	Acked int
	// Lost are acknowledged events missing from the stream after the
	// restart; Duplicated are events in the stream more than once (both
	// must be 0), counted over every round so far.
	Lost, Duplicated int
	// Republished counts events the restarted relay published again that
	// JetStream dropped as duplicates (acknowledged but not yet deleted
	// from the outbox when the child died).
	Republished int64
	// Drain is how long the restarted relay took to publish the rest.
	Drain time.Duration
}

// CrashReport sums the rounds.
type CrashReport struct {
	Rounds                  []CrashRound
	Acked, Lost, Duplicated int
	InStream                int
}

// Crash runs the rounds. It returns an error for a failure of the harness
// (the child would not start); lost or duplicated events are in the report.
func Crash(ctx context.Context, cfg CrashConfig) (CrashReport, error) {
	var rep CrashReport
	if cfg.Rounds < 1 || len(cfg.Command) == 0 || cfg.MinAcks < 1 || cfg.MaxAcks < cfg.MinAcks {
		return rep, errors.New("eventstest: want rounds, a command and 1 <= MinAcks <= MaxAcks")
	}
	acked := map[int64]bool{}
	for round := range cfg.Rounds {
		n, err := runChild(ctx, cfg, cfg.MinAcks+rand.IntN(cfg.MaxAcks-cfg.MinAcks+1), acked)
		if err != nil {
			return rep, fmt.Errorf("round %d: %w", round, err)
		}
		r, counts, err := check(ctx, cfg.Dir)
		if err != nil {
			return rep, fmt.Errorf("round %d: check: %w", round, err)
		}
		r.Acked = n
		for id := range acked {
			if counts[id] == 0 {
				r.Lost++
			}
		}
		for _, c := range counts {
			if c > 1 {
				r.Duplicated++
			}
		}
		rep.Rounds = append(rep.Rounds, r)
		rep.Acked += n
		rep.Lost, rep.Duplicated, rep.InStream = r.Lost, r.Duplicated, len(counts)
	}
	return rep, nil
}

// runChild starts the child, reads its acks until want, kills it and
// waits for it to die.
func runChild(ctx context.Context, cfg CrashConfig, want int, acked map[int64]bool) (int, error) {
	cmd := exec.CommandContext(ctx, cfg.Command[0], cfg.Command[1:]...)
	cmd.Env = append(os.Environ(), ChildEnv+"="+cfg.Dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	var stderr strings.Builder
	cmd.Stderr = &syncWriter{w: &stderr}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(stdout)
	n := 0
	for n < want && sc.Scan() {
		id, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			continue
		}
		acked[v] = true
		n++
	}
	if n < want {
		cmd.Process.Kill()
		cmd.Wait()
		return n, fmt.Errorf("the child stopped after %d acks: %s", n, stderr.String())
	}
	time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return n, err
	}
	// Acks printed before the kill landed still count: the child printed
	// them after their commit.
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
			if v, err := strconv.ParseInt(id, 10, 64); err == nil {
				acked[v] = true
				n++
			}
		}
	}
	cmd.Wait()
	return n, nil
}

type syncWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// check reopens the store and JetStream, drains the outbox and counts the
// stream.
func check(ctx context.Context, dir string) (CrashRound, map[int64]int, error) {
	var r CrashRound
	db, err := openPebble(dir)
	if err != nil {
		return r, nil, err
	}
	defer db.Close()
	b, err := events.Open(ctx, busConfig(dir))
	if err != nil {
		return r, nil, err
	}
	defer b.Close()
	rl, err := events.StartRelay(b, events.NewPebbleOutbox(db))
	if err != nil {
		return r, nil, err
	}
	start := time.Now()
	fctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = rl.Flush(fctx)
	cancel()
	r.Drain = time.Since(start)
	r.Republished = rl.Stats().Duplicates
	rl.Close()
	if err != nil {
		return r, nil, fmt.Errorf("drain: %w", err)
	}
	counts, err := StreamCounts(ctx, b, b.Config().Stream)
	return r, counts, err
}

// StreamCounts reads a whole stream and counts each Nats-Msg-Id (decimal
// event ids).
func StreamCounts(ctx context.Context, b *events.Bus, stream string) (map[int64]int, error) {
	s, err := b.JetStream().Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	counts := map[int64]int{}
	if info.State.Msgs == 0 {
		return counts, nil
	}
	oc, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	for got := uint64(0); got < info.State.Msgs; {
		batch, err := oc.Fetch(int(min(1000, info.State.Msgs-got)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, err
		}
		n := 0
		for m := range batch.Messages() {
			id, err := strconv.ParseInt(m.Headers().Get(jetstream.MsgIDHeader), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("message without a numeric id: %v", m.Headers())
			}
			counts[id]++
			n++
		}
		if err := batch.Error(); err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("stream reads stopped at %d of %d messages", got, info.State.Msgs)
		}
		got += uint64(n)
	}
	return counts, nil
}
