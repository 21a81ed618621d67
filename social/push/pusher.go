package push

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/mediaedge/mediaedge/social/events"
)

// Pusher reaches a user's devices that have no live socket (web push, an
// APNs/FCM relay). The fan-out calls it after the update is stored, for
// each recipient no edge holds a socket of. It must be safe for concurrent
// use; an error is logged and counted, not retried beyond the Pusher's own
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
