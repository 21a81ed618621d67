package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/snowflake"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Relay moves an outbox to JetStream: it reads entries in id order,
// publishes each asynchronously with Nats-Msg-Id = its id (at most
// MaxInFlight awaiting an ack), and deletes an entry DeleteDelay after
// JetStream acknowledged it. One goroutine owns all of its state; the
// publish acks reach it through a channel. See the package doc for why the
// reads look back and scan in full now and then.
type Relay struct {
	bus   *Bus
	ob    Outbox
	cfg   RelayConfig
	delay time.Duration // effective DeleteDelay
	log   *slog.Logger
	nc    *nats.Conn
	js    jetstream.JetStream

	notify  chan struct{}      // cap 1: writers' wake-ups, coalesced
	acks    chan pubResult     // publish outcomes, from the NATS client's goroutines
	flushes chan chan struct{} // Flush requests
	cancel  context.CancelFunc
	done    chan struct{}
	stats   relayCounters

	// Owned by the run goroutine.
	known    map[int64]bool     // published ids still in the outbox: false in flight, true acknowledged
	retry    map[int64]struct{} // ids whose publish failed, to be read again
	inflight int
	retained []acked // acknowledged, in ack order, deleted once delay has passed
	cursor   int64   // every id up to here was read (modulo stragglers)
	rewind   int64   // the next pass starts here if below cursor; MaxInt64 for none
	full     bool    // a full scan is under way
	// Flush requests: pending wait for a full scan to start, waiters for
	// the one under way to end, scanned for its acks.
	pending, waiters, scanned []chan struct{}
}

// deleteEvery spaces the outbox deletes so that each is a batch.
const deleteEvery = 20 * time.Millisecond

type acked struct {
	id int64
	at time.Time
}

type pubResult struct {
	id  int64
	dup bool
	err error
}

// RelayStats are the relay's counters since it started.
type RelayStats struct {
	// Published counts publishes sent; Acked those JetStream stored,
	// Duplicates of which it had already (a re-publish after a restart),
	// Failed those that failed or timed out and will be sent again.
	Published, Acked, Duplicates, Failed int64
	// Deleted counts outbox entries removed after their delay.
	Deleted int64
	// Late counts entries found more than Lookback below the cursor: a
	// writer that took longer than Lookback from id to commit.
	Late int64
	// InFlight and Retained are the entries awaiting an ack and awaiting
	// deletion now.
	InFlight, Retained int64
}

type relayCounters struct {
	published, acked, dups, failed, deleted, late, inflight, retained atomic.Int64
}

// StartRelay starts relaying ob to the bus's stream, with the bus's
// Config.Relay. Stop it with Close.
func StartRelay(bus *Bus, ob Outbox) (*Relay, error) {
	cfg := bus.cfg.Relay
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Relay{
		bus:     bus,
		ob:      ob,
		cfg:     cfg,
		delay:   cfg.deleteDelay(bus.cfg.SyncInterval),
		log:     bus.log.With("component", "events.relay"),
		notify:  make(chan struct{}, 1),
		acks:    make(chan pubResult, 2*cfg.MaxInFlight),
		flushes: make(chan chan struct{}),
		done:    make(chan struct{}),
		known:   map[int64]bool{},
		retry:   map[int64]struct{}{},
		rewind:  math.MaxInt64,
	}
	nc, err := bus.Dial("mediaedge-events-relay")
	if err != nil {
		return nil, err
	}
	r.nc = nc
	r.js, err = jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(cfg.MaxInFlight+1),
		jetstream.WithPublishAsyncTimeout(cfg.AckTimeout),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, pa *jetstream.PubAck) {
			r.acks <- pubResult{id: msgID(m), dup: pa.Duplicate}
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			r.acks <- pubResult{id: msgID(m), err: err}
		}))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("events: relay jetstream: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.run(ctx)
	return r, nil
}

func msgID(m *nats.Msg) int64 {
	id, _ := strconv.ParseInt(m.Header.Get(jetstream.MsgIDHeader), 10, 64)
	return id
}

// Notify wakes the relay: writers call it after committing a batch with
// events in it. It never blocks.
func (r *Relay) Notify() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// Flush waits until a full scan that began after the call has found every
// entry and JetStream has acknowledged all of them: every event committed
// before Flush is in the stream. Under a steady stream of new writes it may
// wait long; it is for tests, benchmarks and shutdown.
func (r *Relay) Flush(ctx context.Context) error {
	ch := make(chan struct{})
	select {
	case r.flushes <- ch:
	case <-r.done:
		return errors.New("events: relay closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ch:
		return nil
	case <-r.done:
		return errors.New("events: relay closed")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns the relay's counters.
func (r *Relay) Stats() RelayStats {
	s := &r.stats
	return RelayStats{
		Published: s.published.Load(), Acked: s.acked.Load(), Duplicates: s.dups.Load(),
		Failed: s.failed.Load(), Deleted: s.deleted.Load(), Late: s.late.Load(),
		InFlight: s.inflight.Load(), Retained: s.retained.Load(),
	}
}

// Close stops the relay, waiting up to a second for the acks of what it
// published; entries not yet acknowledged or deleted stay in the outbox and
// are published again by the next relay (JetStream drops the duplicates).
func (r *Relay) Close() error {
	r.cancel()
	<-r.done
	return nil
}

func (r *Relay) run(ctx context.Context) {
	defer close(r.done)
	defer r.nc.Close()
	defer r.drainInFlight()

	now := time.Now()
	nextPoll, nextSweep, nextFull := now.Add(r.cfg.Poll), now.Add(r.cfg.Sweep), now.Add(r.cfg.FullScan)
	var retryAt time.Time     // no pass before it, after a failure
	var nextPass time.Time    // no pass before it: MinInterval
	var nextDelete time.Time  // no delete before it
	var noFullUntil time.Time // no full scan for Flush before it, after one was abandoned
	failures := 0
	r.startFull(ctx)
	dirty := true
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r.drainAcks(&retryAt)
		now = time.Now()
		if !now.Before(nextSweep) {
			// Ids made in the last Lookback may still be committing;
			// older ones below the cursor were read when it passed them.
			r.rewind = min(r.rewind, idAt(now.Add(-r.cfg.Lookback)))
			nextSweep, dirty = now.Add(r.cfg.Sweep), true
		}
		if !now.Before(nextPoll) {
			nextPoll, dirty = now.Add(r.cfg.Poll), true
		}
		if !r.full && (!now.Before(nextFull) || len(r.pending) > 0 && !now.Before(noFullUntil)) {
			r.startFull(ctx)
			nextFull, dirty = now.Add(r.cfg.FullScan), true
		}
		if !now.Before(nextDelete) {
			// Deletes go in batches: at most every deleteEvery.
			nextDelete = now.Add(deleteEvery)
			if err := r.deleteDue(ctx, now); err != nil && ctx.Err() == nil {
				r.log.Warn("delete relayed outbox entries", "err", err)
				nextDelete = now.Add(r.cfg.RetryBackoff)
			}
		}
		if dirty && !now.Before(retryAt) && !now.Before(nextPass) && r.inflight < r.cfg.MaxInFlight {
			nextPass = now.Add(r.cfg.MinInterval)
			complete, err := r.pass(ctx)
			switch {
			case err != nil:
				if ctx.Err() != nil {
					return
				}
				failures++
				if failures == 1 || failures%50 == 0 {
					r.log.Warn("relay outbox", "err", err, "failures", failures)
				}
				if r.full && failures >= 3 {
					// A full scan that keeps failing (a Cassandra read
					// past too many tombstones) must not hold up new
					// events: give it up until the next FullScan.
					r.log.Error("outbox full scan abandoned until the next one", "err", err)
					r.full, r.rewind = false, math.MaxInt64
					r.pending = append(r.pending, r.waiters...)
					r.waiters = nil
					nextFull = time.Now().Add(r.cfg.FullScan)
					noFullUntil = nextFull
				}
				retryAt = time.Now().Add(min(time.Duration(failures), 10) * r.cfg.RetryBackoff)
			case complete:
				failures, dirty = 0, false
				if r.full {
					r.fullDone(ctx)
				}
			}
		}
		r.releaseWaiters()

		if dirty && r.inflight < r.cfg.MaxInFlight && !time.Now().Before(retryAt) && !time.Now().Before(nextPass) {
			select {
			case <-ctx.Done():
				return
			default:
				continue
			}
		}
		wake := earliest(nextPoll, nextSweep, nextFull)
		if dirty {
			wake = earliest(wake, later(retryAt, nextPass))
		}
		if len(r.retained) > 0 {
			due := r.retained[0].at.Add(r.delay)
			if due.Before(nextDelete) {
				due = nextDelete
			}
			wake = earliest(wake, due)
		}
		timer.Reset(max(time.Until(wake), time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-r.notify:
			dirty = true
		case res := <-r.acks:
			r.handle(res, &retryAt)
		case ch := <-r.flushes:
			r.pending = append(r.pending, ch)
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// pass reads from min(cursor, rewind) and publishes every entry it does
// not know, until the outbox ends (complete) or MaxInFlight is reached.
func (r *Relay) pass(ctx context.Context) (complete bool, err error) {
	from := min(r.cursor, r.rewind)
	r.rewind = math.MaxInt64
	defer func() {
		if !complete {
			r.rewind = min(r.rewind, from)
		}
		r.cursor = max(r.cursor, from)
	}()
	late := min(r.cursor, idAt(time.Now().Add(-r.cfg.Lookback))) // below it, an unknown entry is late
	for {
		if r.inflight >= r.cfg.MaxInFlight {
			return false, nil
		}
		entries, err := r.ob.Read(ctx, from, r.cfg.Batch)
		if err != nil {
			return false, err
		}
		for _, e := range entries {
			if _, ok := r.known[e.ID]; ok {
				from = e.ID
				continue
			}
			if r.inflight >= r.cfg.MaxInFlight {
				return false, nil
			}
			if err := r.publish(e); err != nil {
				return false, err
			}
			if _, ok := r.retry[e.ID]; ok {
				delete(r.retry, e.ID)
			} else if e.ID < late {
				r.stats.late.Add(1)
			}
			from = e.ID
		}
		if len(entries) < r.cfg.Batch {
			return true, nil
		}
	}
}

// publish sends one entry. An entry that does not decode goes to the
// dead-letter subject (consumer "relay") rather than blocking the outbox.
func (r *Relay) publish(e Entry) error {
	m := &nats.Msg{Data: e.Data, Header: nats.Header{}}
	if kind, err := eventKind(e.Data); err != nil {
		m.Subject = r.bus.cfg.DeadLetterSubject + ".relay"
		m.Header.Set(HeaderReason, "undecodable outbox entry: "+err.Error())
	} else {
		m.Subject = r.bus.Subject(kind)
	}
	m.Header.Set(jetstream.MsgIDHeader, strconv.FormatInt(e.ID, 10))
	if _, err := r.js.PublishMsgAsync(m); err != nil {
		return fmt.Errorf("publish event %d: %w", e.ID, err)
	}
	r.known[e.ID] = false
	r.inflight++
	r.stats.published.Add(1)
	r.stats.inflight.Store(int64(r.inflight))
	return nil
}

// eventKind is the kind of an encoded event. Encode (encoding/json) writes
// the id and then the kind first, so the kind is read from there; anything
// else is decoded in full.
func eventKind(data []byte) (string, error) {
	if rest, ok := bytes.CutPrefix(data, []byte(`{"id":"`)); ok {
		if i := bytes.IndexByte(rest, '"'); i >= 0 {
			if rest, ok := bytes.CutPrefix(rest[i+1:], []byte(`,"kind":"`)); ok {
				if j := bytes.IndexByte(rest, '"'); j >= 0 && bytes.IndexByte(rest[:j], '\\') < 0 {
					return string(rest[:j]), nil
				}
			}
		}
	}
	var head struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return "", err
	}
	return head.Kind, nil
}

// handle records a publish outcome.
func (r *Relay) handle(res pubResult, retryAt *time.Time) {
	if ok, seen := r.known[res.id]; !seen || ok {
		return // not ours or already settled
	}
	r.inflight--
	r.stats.inflight.Store(int64(r.inflight))
	if res.err != nil {
		delete(r.known, res.id)
		r.retry[res.id] = struct{}{}
		r.rewind = min(r.rewind, res.id-1)
		r.stats.failed.Add(1)
		*retryAt = time.Now().Add(r.cfg.RetryBackoff)
		return
	}
	r.known[res.id] = true
	r.retained = append(r.retained, acked{id: res.id, at: time.Now()})
	r.stats.acked.Add(1)
	if res.dup {
		r.stats.dups.Add(1)
	}
	r.stats.retained.Store(int64(len(r.retained)))
}

func (r *Relay) drainAcks(retryAt *time.Time) {
	for {
		select {
		case res := <-r.acks:
			r.handle(res, retryAt)
		default:
			return
		}
	}
}

// drainInFlight waits briefly for outstanding acks when the relay stops,
// so that a clean restart re-publishes less.
func (r *Relay) drainInFlight() {
	deadline := time.NewTimer(time.Second)
	defer deadline.Stop()
	var ignore time.Time
	for r.inflight > 0 {
		select {
		case res := <-r.acks:
			r.handle(res, &ignore)
		case <-deadline.C:
			return
		}
	}
}

// deleteDue deletes the entries acknowledged at least delay ago.
func (r *Relay) deleteDue(ctx context.Context, now time.Time) error {
	n := 0
	for n < len(r.retained) && n < 8192 && now.Sub(r.retained[n].at) >= r.delay {
		n++
	}
	if n == 0 {
		return nil
	}
	ids := make([]int64, n)
	for i := range n {
		ids[i] = r.retained[i].id
	}
	if err := r.ob.Delete(ctx, ids); err != nil {
		return err
	}
	for _, id := range ids {
		delete(r.known, id)
	}
	r.retained = r.retained[n:] // append reallocates, and frees the head, when it runs out
	r.stats.deleted.Add(int64(n))
	r.stats.retained.Store(int64(len(r.retained)))
	return nil
}

// startFull makes the next pass read the whole outbox, from its floor.
func (r *Relay) startFull(ctx context.Context) {
	floor := int64(0)
	if f, ok := r.ob.(Floorer); ok {
		v, err := f.Floor(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("read outbox floor; scanning from the start", "err", err)
		} else if err == nil {
			floor = v
		}
	}
	r.rewind = min(r.rewind, floor)
	r.full = true
	r.waiters = append(r.waiters, r.pending...)
	r.pending = nil
}

// fullDone ends a full scan: Flush callers may be released once the acks
// are in, and a Floorer's floor rises to just below the oldest entry the
// relay still holds (never above now-StragglerWindow).
func (r *Relay) fullDone(ctx context.Context) {
	r.full = false
	r.scanned = append(r.scanned, r.waiters...)
	r.waiters = nil
	f, ok := r.ob.(Floorer)
	if !ok {
		return
	}
	floor := min(r.cursor, idAt(time.Now().Add(-r.cfg.StragglerWindow)))
	for id := range r.known {
		floor = min(floor, id-1)
	}
	for id := range r.retry {
		floor = min(floor, id-1)
	}
	if err := f.SetFloor(ctx, max(floor, 0)); err != nil && ctx.Err() == nil {
		r.log.Warn("save outbox floor", "err", err)
	}
}

// releaseWaiters releases the Flush callers whose scan is done once no
// publish is in flight and nothing waits to be read again.
func (r *Relay) releaseWaiters() {
	if len(r.scanned) == 0 || r.inflight > 0 || r.rewind != math.MaxInt64 || len(r.retry) > 0 {
		return
	}
	for _, w := range r.scanned {
		close(w)
	}
	r.scanned = nil
}

// idAt is the smallest id made at t (social/ids: snowflake's layout).
func idAt(t time.Time) int64 {
	ms := t.UnixMilli() - snowflake.Epoch
	if ms <= 0 {
		return 0
	}
	return ms << (snowflake.NodeBits + snowflake.StepBits)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earliest(t time.Time, ts ...time.Time) time.Time {
	for _, u := range ts {
		if u.Before(t) {
			t = u
		}
	}
	return t
}
