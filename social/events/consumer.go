package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of a dead letter; its data is the event as it was published.
const (
	HeaderReason     = "Mediaedge-Reason"     // why it was given up on
	HeaderConsumer   = "Mediaedge-Consumer"   // the consumer that gave up
	HeaderDeliveries = "Mediaedge-Deliveries" // deliveries before giving up
	HeaderStreamSeq  = "Mediaedge-Stream-Seq" // its sequence in the event stream
	HeaderSubject    = "Mediaedge-Subject"    // the subject it was published on
)

// Handler applies one event. Return nil only once the effect is durable:
// nil acknowledges the event and it is never delivered to this consumer
// again (commit after effect, never before). An error has it delivered
// again after a backoff, and after MaxDeliver deliveries sent to the dead
// letters. Delivery is at least once, so a handler must be idempotent: keyed
// writes (set a row named by the event id, add to a set) rather than
// increments; Once narrows repeats within a process.
type Handler func(ctx context.Context, ev Event) error

// ConsumerConfig is one durable consumer.
type ConsumerConfig struct {
	// Name of the durable consumer, unique per service ("feed-fanout",
	// "notify"); its cursor lives in JetStream under this name, so a
	// restarted consumer resumes where the last one acknowledged.
	Name string
	// Kinds it receives ("follow", "post.*", "user.>"); none is every kind.
	Kinds []string
	// DeliverNew starts a consumer created for the first time at events
	// published after it, rather than at the oldest the stream holds.
	DeliverNew bool
	// MaxDeliver is how many deliveries an event gets before it goes to the
	// dead letters.
	MaxDeliver int
	// Backoff is the wait before the nth delivery after a handler error
	// (the last entry repeats), with 20% jitter.
	Backoff []time.Duration
	// AckWait is how long a delivery may go unanswered before JetStream
	// delivers it again (to this or another instance). A running handler
	// tells JetStream every AckWait/3 that it is still at it; its context
	// ends AckWait after it started.
	AckWait time.Duration
	// Concurrency is how many handlers run at once; 1 handles events in
	// stream order.
	Concurrency int
	// Prefetch is how many events are fetched ahead of the handlers. Keep
	// Prefetch*handler time well under AckWait, or fetched events time out
	// and are delivered twice.
	Prefetch int
	// Heartbeat is how often JetStream signals a pull that has nothing to
	// deliver; after two missed the consumer pulls again (the pull was lost
	// to a reconnect or a leader change). 500ms to 15s (half the library's
	// 30s pull expiry); 0 is 15s.
	Heartbeat time.Duration
	// BacklogEvery is how often Backlog is read from JetStream (one API
	// request); 0 never reads it.
	BacklogEvery time.Duration
	// Logger; nil is the bus's.
	Logger *slog.Logger `yaml:"-" json:"-"`
}

// DefaultConsumerConfig is a consumer named name of every kind.
func DefaultConsumerConfig(name string) ConsumerConfig {
	return ConsumerConfig{
		Name:        name,
		MaxDeliver:  5,
		Backoff:     []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute},
		AckWait:     30 * time.Second,
		Concurrency: 1,
		Prefetch:    64,
		Heartbeat:   maxHeartbeat,
	}
}

// maxHeartbeat is half of jetstream.DefaultExpires, the longest heartbeat
// the library accepts for its pulls.
const maxHeartbeat = jetstream.DefaultExpires / 2

// heartbeat is the effective Heartbeat.
func (c ConsumerConfig) heartbeat() time.Duration {
	if c.Heartbeat == 0 {
		return maxHeartbeat
	}
	return c.Heartbeat
}

var (
	nameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	kindRe = regexp.MustCompile(`^([A-Za-z0-9_-]+|\*)(\.([A-Za-z0-9_-]+|\*))*(\.>)?$|^>$`)
)

// Validate reports every problem at once.
func (c ConsumerConfig) Validate() error {
	var errs []error
	if !nameRe.MatchString(c.Name) {
		errs = append(errs, fmt.Errorf("events: consumer name %q: want 1-64 letters, digits, _ or -", c.Name))
	}
	for _, k := range c.Kinds {
		if !kindRe.MatchString(k) {
			errs = append(errs, fmt.Errorf("events: consumer %s: kind %q is not a subject filter", c.Name, k))
		}
	}
	if c.MaxDeliver < 1 {
		errs = append(errs, fmt.Errorf("events: consumer %s: max deliver %d: want at least 1", c.Name, c.MaxDeliver))
	}
	if len(c.Backoff) == 0 {
		errs = append(errs, fmt.Errorf("events: consumer %s: no backoff", c.Name))
	}
	for _, d := range c.Backoff {
		if d < 0 {
			errs = append(errs, fmt.Errorf("events: consumer %s: negative backoff %v", c.Name, d))
		}
	}
	if c.AckWait < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("events: consumer %s: ack wait %v: want at least 100ms", c.Name, c.AckWait))
	}
	if c.BacklogEvery != 0 && c.BacklogEvery < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("events: consumer %s: backlog every %v: want 0 (never) or at least 10ms", c.Name, c.BacklogEvery))
	}
	if c.Heartbeat != 0 && (c.Heartbeat < 500*time.Millisecond || c.Heartbeat > maxHeartbeat) {
		errs = append(errs, fmt.Errorf("events: consumer %s: heartbeat %v: want 0 (%v) or 500ms to %v", c.Name, c.Heartbeat, maxHeartbeat, maxHeartbeat))
	}
	if c.Concurrency < 1 || c.Prefetch < 1 {
		errs = append(errs, fmt.Errorf("events: consumer %s: concurrency %d and prefetch %d: want at least 1", c.Name, c.Concurrency, c.Prefetch))
	}
	return errors.Join(errs...)
}

// Consumer runs a Handler over a durable JetStream consumer.
//
// Design note: the events reach the handlers through the library's
// Consume callback, not its Messages iterator. The iterator buffers in a
// channel exactly Prefetch deep, and the server's idle heartbeats and
// status messages land in that same channel; the client never blocks the
// connection for it, so while every handler is busy a few heartbeats take
// the last slots, the next burst overflows them ("slow consumer, messages
// dropped"), and the dropped events, counted as delivered, come again only
// after AckWait. Consume queues on a subscription whose limit is far
// above Prefetch, stops watching for heartbeats while the callback runs,
// and counts an event as taken only when the callback returns, so a busy
// callback holds the pulls back instead of losing what they bring.
type Consumer struct {
	cfg  ConsumerConfig
	bus  *Bus
	h    Handler
	log  *slog.Logger
	cons jetstream.Consumer
	cc   jetstream.ConsumeContext
	// ctx ends on Close: the parent of the handlers' contexts, and the sign
	// for receive to give events back instead of handling them.
	ctx    context.Context
	cancel context.CancelFunc
	// sem holds a slot per running handler when Concurrency > 1 (nil at
	// 1: receive runs the handler itself, which keeps stream order).
	sem      chan struct{}
	wg       sync.WaitGroup // the handler goroutines and watchBacklog
	stats    struct{ handled, failed, dead atomic.Int64 }
	returned atomic.Int64 // events given back unhandled on Close
	backlog  atomic.Int64 // see Backlog; -1 until first read
}

// ConsumerStats are a consumer's counters since it started.
type ConsumerStats struct {
	// Handled counts events the handler took (acknowledged), Failed its
	// errors, DeadLettered the events given up on.
	Handled, Failed, DeadLettered int64
}

// Consume creates (or updates) the durable consumer cfg.Name and runs h on
// its events until Close.
func (b *Bus) Consume(ctx context.Context, cfg ConsumerConfig, h Handler) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cc := jetstream.ConsumerConfig{
		Durable:       cfg.Name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    -1, // the consumer dead-letters itself, so nothing is dropped silently
		MaxAckPending: max(1000, 2*cfg.Prefetch+cfg.Concurrency),
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if cfg.DeliverNew {
		cc.DeliverPolicy = jetstream.DeliverNewPolicy
	}
	for _, k := range cfg.Kinds {
		cc.FilterSubjects = append(cc.FilterSubjects, b.cfg.Subject+"."+k)
	}
	if len(cc.FilterSubjects) == 1 {
		cc.FilterSubject, cc.FilterSubjects = cc.FilterSubjects[0], nil
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	cons, err := b.js.CreateOrUpdateConsumer(cctx, b.cfg.Stream, cc)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("events: consumer %s: %w", cfg.Name, err)
	}
	log := cfg.Logger
	if log == nil {
		log = b.log
	}
	c := &Consumer{cfg: cfg, bus: b, h: h, log: log.With("consumer", cfg.Name), cons: cons}
	c.backlog.Store(-1)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if cfg.Concurrency > 1 {
		c.sem = make(chan struct{}, cfg.Concurrency)
	}
	c.cc, err = cons.Consume(c.receive,
		jetstream.PullMaxMessages(cfg.Prefetch),
		jetstream.PullHeartbeat(cfg.heartbeat()),
		jetstream.ConsumeErrHandler(c.consumeErr))
	if err != nil {
		c.cancel()
		return nil, fmt.Errorf("events: consumer %s: %w", cfg.Name, err)
	}
	if cfg.BacklogEvery > 0 {
		c.wg.Add(1)
		go c.watchBacklog(c.ctx)
	}
	return c, nil
}

// Backlog is how many events of this consumer wait, fleet-wide (every
// instance shares the durable consumer): stored and not yet delivered to
// any instance, plus delivered and not yet acknowledged (fetched ahead or
// being handled). It is read every BacklogEvery, so it may be that old;
// -1 when it is never read or has not been yet. A service sheds new work
// on it (chat's MaxBacklog): the backlog is what bounds the delay from
// publish to handling, where a rate limit per user cannot.
func (c *Consumer) Backlog() int64 { return c.backlog.Load() }

func (c *Consumer) watchBacklog(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.BacklogEvery)
	defer t.Stop()
	for {
		ictx, cancel := context.WithTimeout(ctx, max(c.cfg.BacklogEvery, time.Second))
		info, err := c.cons.Info(ictx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			// Keep the last reading: a JetStream that does not answer for a
			// moment neither empties nor fills the backlog.
			c.log.Debug("read consumer backlog", "err", err)
		default:
			c.backlog.Store(int64(info.NumPending) + int64(info.NumAckPending))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close stops fetching, ends running handlers' contexts and waits for them.
// Events fetched but not yet handled are given back (nak) and so are
// delivered again at once, to another instance or the next consumer of
// this name; so is an event whose handler was cut short.
func (c *Consumer) Close() error {
	// Cancel first: from here on receive gives back whatever it is handed,
	// and a handler cut short naks its event (process).
	c.cancel()
	// Drain, not Stop: Stop would discard the events the subscription
	// holds, which then come again only after AckWait; Drain hands them to
	// receive, which gives them back. Closed is closed once the last
	// callback has returned, so no handler goroutine starts after it.
	c.cc.Drain()
	<-c.cc.Closed()
	c.wg.Wait()
	if n := c.returned.Swap(0); n > 0 {
		c.log.Debug("gave back events not yet handled", "events", n)
	}
	return nil
}

// Stats returns the consumer's counters.
func (c *Consumer) Stats() ConsumerStats {
	return ConsumerStats{Handled: c.stats.handled.Load(), Failed: c.stats.failed.Load(), DeadLettered: c.stats.dead.Load()}
}

// receive is the Consume callback; the library calls it for one event at a
// time. With Concurrency 1 it runs the handler itself, so events are
// handled in stream order. Otherwise it waits for a free slot and hands
// the event to a goroutine; the wait holds back the library (it pulls no
// more while its callback runs), never the connection.
func (c *Consumer) receive(msg jetstream.Msg) {
	if c.ctx.Err() != nil {
		c.giveBack(msg)
		return
	}
	if c.sem == nil {
		c.process(c.ctx, msg)
		return
	}
	select {
	case c.sem <- struct{}{}:
	case <-c.ctx.Done():
		c.giveBack(msg)
		return
	}
	if c.ctx.Err() != nil { // select picks at random when both are ready
		<-c.sem
		c.giveBack(msg)
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() { <-c.sem }()
		c.process(c.ctx, msg)
	}()
}

// giveBack naks an event received while closing: JetStream delivers it
// again at once rather than after AckWait.
func (c *Consumer) giveBack(msg jetstream.Msg) {
	c.returned.Add(1)
	_ = msg.Nak() // lost with the connection: delivered again after AckWait
}

// consumeErr logs what the library reports about fetching: missed
// heartbeats and reconnects, after which it pulls again on its own, and
// the errors that end consuming for good.
func (c *Consumer) consumeErr(_ jetstream.ConsumeContext, err error) {
	if c.ctx.Err() != nil {
		return // closing: the subscription ends anyway
	}
	if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrBadRequest) ||
		errors.Is(err, jetstream.ErrConnectionClosed) {
		c.log.Error("consuming stopped", "err", err)
		return
	}
	c.log.Warn("fetch events", "err", err)
}

func (c *Consumer) process(ctx context.Context, msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		c.log.Warn("event without metadata", "err", err)
		_ = msg.Term()
		return
	}
	n := int(md.NumDelivered)
	ev, err := Decode(msg.Data())
	if err != nil {
		c.deadLetter(ctx, msg, md, "undecodable event: "+err.Error())
		return
	}
	if n > c.cfg.MaxDeliver {
		c.deadLetter(ctx, msg, md, fmt.Sprintf("delivered %d times without an answer (the handler outlived AckWait or its process stopped)", n-1))
		return
	}
	hctx, cancel := context.WithTimeout(ctx, c.cfg.AckWait)
	stop := c.keepAlive(msg)
	err = c.call(hctx, ev)
	stop()
	cancel()
	if err == nil {
		c.stats.handled.Add(1)
		if err := msg.Ack(); err != nil {
			c.log.Warn("ack event", "id", ev.ID, "err", err) // delivered again: handlers are idempotent
		}
		return
	}
	c.stats.failed.Add(1)
	if ctx.Err() != nil {
		_ = msg.Nak() // shutting down: the next instance takes it at once
		return
	}
	if n >= c.cfg.MaxDeliver {
		c.deadLetter(ctx, msg, md, err.Error())
		return
	}
	c.log.Debug("handler failed; delivering again later", "id", ev.ID, "delivery", n, "err", err)
	_ = msg.NakWithDelay(c.backoff(n))
}

// keepAlive tells JetStream every AckWait/3 that msg is still being
// handled (InProgress restarts its AckWait clock), until stop returns. The
// clock started at delivery, not when the handler did: an event that
// waited behind others would otherwise be delivered again, to another
// worker or instance, while its handler still runs within its AckWait.
// A handler done within AckWait/3 costs a timer and no message. The
// time the event waited before its handler (in the library's buffer,
// behind others) is not known here, so an event stored longer ago than
// AckWait/3 (a backlog, a redelivery, or one that waited) is told about at
// once: its AckWait may be mostly spent already. A live event, handled
// within milliseconds of being stored, costs nothing more.
func (c *Consumer) keepAlive(msg jetstream.Msg) (stop func()) {
	every := c.cfg.AckWait / 3
	if md, err := msg.Metadata(); err != nil || time.Since(md.Timestamp) >= every {
		if err := msg.InProgress(); err != nil {
			c.log.Debug("tell progress", "err", err)
		}
	}
	var (
		mu      sync.Mutex // guards stopped and t; no InProgress after stop
		stopped bool
		t       *time.Timer
	)
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(every, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		if err := msg.InProgress(); err != nil {
			c.log.Debug("tell progress", "err", err)
		}
		t.Reset(every)
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}

// call runs the handler, turning a panic into an error.
func (c *Consumer) call(ctx context.Context, ev Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v", p)
		}
	}()
	return c.h(ctx, ev)
}

func (c *Consumer) backoff(delivery int) time.Duration {
	d := c.cfg.Backoff[min(delivery, len(c.cfg.Backoff))-1]
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// deadLetter republishes msg to the dead-letter subject with the reason,
// then acknowledges it. If the republish fails the event stays (delivered
// again after a backoff, and dead-lettered then).
func (c *Consumer) deadLetter(ctx context.Context, msg jetstream.Msg, md *jetstream.MsgMetadata, reason string) {
	dl := nats.NewMsg(c.bus.cfg.DeadLetterSubject + "." + c.cfg.Name)
	dl.Data = msg.Data()
	dl.Header.Set(HeaderReason, reason)
	dl.Header.Set(HeaderConsumer, c.cfg.Name)
	dl.Header.Set(HeaderDeliveries, strconv.FormatUint(md.NumDelivered, 10))
	dl.Header.Set(HeaderStreamSeq, strconv.FormatUint(md.Sequence.Stream, 10))
	dl.Header.Set(HeaderSubject, msg.Subject())
	dl.Header.Set(jetstream.MsgIDHeader, c.cfg.Name+"-"+strconv.FormatUint(md.Sequence.Stream, 10))
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	_, err := c.bus.js.PublishMsg(pctx, dl)
	cancel()
	if err != nil {
		c.log.Warn("dead-letter event", "seq", md.Sequence.Stream, "err", err)
		_ = msg.NakWithDelay(c.backoff(c.cfg.MaxDeliver))
		return
	}
	c.stats.dead.Add(1)
	c.log.Warn("event dead-lettered", "seq", md.Sequence.Stream, "subject", msg.Subject(), "reason", reason)
	if err := msg.Ack(); err != nil {
		c.log.Warn("ack dead-lettered event", "seq", md.Sequence.Stream, "err", err)
	}
}
