package push

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediaedge/mediaedge/social/events"
)

// Pusher reaches a user's devices that have no live socket (web push, an
// APNs/FCM relay). It is called after the update is stored, from a few
// workers beside the fan-out (Config.PushWorkers), for each recipient no
// edge holds a socket of. It must be safe for concurrent use and return
// soon after ctx ends (Close cancels pushes it stops waiting for); an
// error is logged and counted, not retried beyond the Pusher's own
// retries.
type Pusher interface {
	Push(ctx context.Context, userID int64, ev events.Event) error
}

// Webhook is a Pusher that POSTs JSON {"user_id":"...","event":{...}} to
// URL, with Idempotency-Key event/user so the receiver can drop a repeat.
// A network error, 429 or 5xx is retried with Backoff; any other non-2xx is
// final.
type Webhook struct {
	URL string
	// Client; nil is a client without a timeout of its own (Timeout bounds
	// each attempt).
	Client *http.Client
	// Timeout bounds one attempt.
	Timeout time.Duration
	// Retries after the first attempt.
	Retries int
	// Backoff before the nth retry (the last entry repeats).
	Backoff []time.Duration
	// Header is added to every request (an Authorization for the receiver).
	Header http.Header
}

// NewWebhook is a Webhook to url with a 5s timeout and 3 retries.
func NewWebhook(url string) *Webhook {
	return &Webhook{URL: url, Timeout: 5 * time.Second, Retries: 3,
		Backoff: []time.Duration{200 * time.Millisecond, time.Second, 5 * time.Second}}
}

// errPermanent marks an answer not worth retrying.
var errPermanent = errors.New("push: webhook refused the push")

// Push posts one event for one user.
func (w *Webhook) Push(ctx context.Context, userID int64, ev events.Event) error {
	body, err := json.Marshal(struct {
		UserID int64        `json:"user_id,string"`
		Event  events.Event `json:"event"`
	}{userID, ev})
	if err != nil {
		return fmt.Errorf("push: encode webhook body: %w", err)
	}
	key := ev.MsgID() + "/" + strconv.FormatInt(userID, 10)
	for attempt := 0; ; attempt++ {
		err = w.post(ctx, body, key)
		if err == nil || errors.Is(err, errPermanent) || attempt >= w.Retries {
			return err
		}
		d := 100 * time.Millisecond
		if len(w.Backoff) > 0 {
			d = w.Backoff[min(attempt, len(w.Backoff)-1)]
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}

func (w *Webhook) post(ctx context.Context, body []byte, key string) error {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(w.Timeout, 5*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	for k, vs := range w.Header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := cmp.Or(w.Client, http.DefaultClient).Do(req)
	if err != nil {
		return fmt.Errorf("push: webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("push: webhook answered %d", resp.StatusCode)
	default:
		return fmt.Errorf("%w: answered %d", errPermanent, resp.StatusCode)
	}
}

// pushJob is one offline push: an update of ev for uid, stored already.
type pushJob struct {
	ev  events.Event
	uid int64
}

// offline runs offline pushes off the fan-out's path. Deliver queues them
// without waiting; workers probe presence and call the Pusher. Why a
// queue that drops rather than one that waits: the fan-out acknowledges an
// event once its updates are stored, and a Pusher that takes 26 s (a
// webhook's timeout and retries) must not hold that up, or every user's
// live updates wait behind it and events are delivered again, then dead-
// lettered. A dropped push loses nothing the user cannot read: the update
// is in the stream and the device reads it when it connects. The presence
// probe runs in the worker, not before the queue: the fan-out's path then
// does no I/O for the Pusher at all (a probe can take PresenceTimeout),
// and a user who connects while their push waits is not pushed.
type offline struct {
	p      Pusher
	online func(ctx context.Context, uid int64) bool
	log    *slog.Logger
	q      chan pushJob    // bounded; a job that finds it full is dropped
	stop   chan struct{}   // closed by close: the workers finish the queue, then end
	ctx    context.Context // every push's; ends when close stops waiting
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per worker

	closing                 atomic.Bool // set by close: new jobs are dropped
	dropLog                 rateLog
	pushed, failed, dropped atomic.Int64
}

func newOffline(p Pusher, online func(ctx context.Context, uid int64) bool, workers, queue int, log *slog.Logger) *offline {
	o := &offline{p: p, online: online, log: log, q: make(chan pushJob, queue), stop: make(chan struct{})}
	o.ctx, o.cancel = context.WithCancel(context.Background())
	o.wg.Add(workers)
	for range workers {
		go o.work()
	}
	return o
}

// enqueue hands a push to the workers without ever blocking.
func (o *offline) enqueue(ev events.Event, uid int64) {
	if o.closing.Load() {
		o.dropped.Add(1) // close reports them
		return
	}
	select {
	case o.q <- pushJob{ev, uid}:
		return
	default:
	}
	n := o.dropped.Add(1)
	if o.dropLog.allow(time.Now(), time.Second) {
		o.log.Warn("offline push dropped: queue full (the device reads the update when it connects)",
			"user", uid, "event", ev.ID, "dropped_total", n)
	}
}

func (o *offline) work() {
	defer o.wg.Done()
	for {
		select {
		case j := <-o.q:
			o.push(j)
		case <-o.stop:
			for { // closing: finish the queue while close waits, drop the rest
				select {
				case j := <-o.q:
					o.push(j)
				default:
					return
				}
			}
		}
	}
}

func (o *offline) push(j pushJob) {
	if o.ctx.Err() != nil { // close stopped waiting
		o.dropped.Add(1)
		return
	}
	if o.online(o.ctx, j.uid) {
		if o.ctx.Err() != nil { // the probe was cut short, not answered
			o.dropped.Add(1)
		}
		return
	}
	if err := o.p.Push(o.ctx, j.uid, j.ev); err != nil {
		o.failed.Add(1)
		o.log.Warn("offline push failed", "user", j.uid, "event", j.ev.ID, "err", err)
		return
	}
	o.pushed.Add(1)
}

// close stops taking pushes, lets the workers finish the queue for up to
// wait, then cancels what runs and drops what is left. A Pusher that
// ignores its context is left behind after another second, with an error
// logged, so Close stays bounded. A second call does nothing.
func (o *offline) close(wait time.Duration) {
	if o.closing.Swap(true) {
		return
	}
	close(o.stop)
	done := make(chan struct{})
	go func() {
		o.wg.Wait()
		close(done)
	}()
	before := o.dropped.Load()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		o.cancel()
		t.Reset(time.Second)
		select {
		case <-done:
		case <-t.C:
			o.log.Error("offline pushes still running after their context ended: the Pusher ignores it")
		}
	}
	o.cancel()
	if n := o.dropped.Load() - before; n > 0 {
		o.log.Warn("offline pushes dropped at shutdown (the devices read the updates when they connect)", "dropped", n)
	}
}

// rateLog lets a log line through at most once per interval, so a
// condition that repeats thousands of times a second logs once a second
// (with a count).
type rateLog struct{ last atomic.Int64 } // unix nanoseconds of the last line let through

func (r *rateLog) allow(now time.Time, every time.Duration) bool {
	last, n := r.last.Load(), now.UnixNano()
	return n-last >= int64(every) && r.last.CompareAndSwap(last, n)
}
