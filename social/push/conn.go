package push

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/coder/websocket"
)

// closeError is why the gateway closes a socket: the close frame it sends.
type closeError struct {
	code   websocket.StatusCode
	reason string // at most 123 bytes, never dynamic
}

func (e *closeError) Error() string {
	return "push: close " + strconv.Itoa(int(e.code)) + ": " + e.reason
}

// Why sockets end. The codes are part of the protocol (see the package doc).
var (
	errSlow      = &closeError{websocket.StatusPolicyViolation, "slow consumer: send queue full"}
	errBinary    = &closeError{websocket.StatusUnsupportedData, "binary frames are not supported"}
	errUnknown   = &closeError{websocket.StatusUnsupportedData, "unknown frame type"}
	errMalformed = &closeError{websocket.StatusInvalidFramePayloadData, "malformed JSON frame"}
	errLateHello = &closeError{websocket.StatusPolicyViolation, "hello must be the first frame"}
	errShutdown  = &closeError{websocket.StatusGoingAway, "server shutting down"}
	errStore     = &closeError{websocket.StatusTryAgainLater, "updates temporarily unavailable"}
	errRevoked   = &closeError{websocket.StatusPolicyViolation, "sessions revoked"}
	// Ends without a close frame: the peer is gone or does not read.
	errPeerGone = errors.New("push: peer closed or read failed")
	errDeadPeer = errors.New("push: no pong in time")
	errWrite    = errors.New("push: write failed")
)

// clientFrame is every frame a client may send.
type clientFrame struct {
	Type  string  `json:"type"`
	Since *uint64 `json:"since,omitempty"` // hello: the last seq seen
}

var (
	pongFrame   = []byte(`{"type":"pong"}`)
	resyncFrame = []byte(`{"type":"resync"}`)
)

// conn is one socket. Its goroutines: the writer (the HTTP handler's own,
// the only one that writes) and the reader; both end with the socket.
type conn struct {
	h   *Handler
	ws  *websocket.Conn
	uid int64
	// session is the tag of the login whose ticket opened it (0: unknown).
	session uint64
	queue   chan *update            // live updates for the writer; bounded
	ctl     chan []byte             // the reader's answers (pong); cap 1
	catchup chan struct{}           // cap 1: NATS dropped live updates of this user (hub.catchUp)
	cancel  context.CancelCauseFunc // ends the connection with a cause
	kicked  bool                    // a full queue ended it; guarded by the hub's mu

	// Only the writer touches these.
	lastSent uint64 // the last seq sent
	based    bool   // lastSent is a point of the user's stream (after a hello or the first update)
}

// offer queues u without blocking; a full queue ends the connection. Called
// by the dispatcher with the hub locked.
func (c *conn) offer(u *update) {
	select {
	case c.queue <- u:
	default:
		if !c.kicked {
			c.kicked = true
			c.h.stats.slow.Add(1)
			c.cancel(errSlow) // a writer stuck on the socket notices within WriteTimeout
		}
	}
}

// read is the reader goroutine: it parses client frames until the socket
// fails or closes. It reads with a context that never ends, because
// coder/websocket closes the socket abruptly when a read's context ends;
// the writer's Close or CloseNow ends it instead.
func (c *conn) read(hello chan<- uint64) {
	for first := true; ; first = false {
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			// A frame over ReadLimit: the library has sent 1009 already.
			c.cancel(errPeerGone)
			return
		}
		if typ != websocket.MessageText {
			c.cancel(errBinary)
			return
		}
		var f clientFrame
		if err := json.Unmarshal(data, &f); err != nil {
			c.cancel(errMalformed)
			return
		}
		switch f.Type {
		case "hello":
			if !first {
				c.cancel(errLateHello)
				return
			}
			var since uint64
			if f.Since != nil {
				since = *f.Since
			}
			hello <- since // cap 1, sent once
		case "ping":
			if first {
				hello <- 0
			}
			select {
			case c.ctl <- pongFrame:
			default: // a pong is pending: one answers both
			}
		default:
			c.cancel(errUnknown)
			return
		}
	}
}

// run is the writer: replay after the hello, then live updates, pings and
// pongs until the connection ends. The hub queues live updates from before
// the replay starts; the replay moves lastSent, and deliver drops what it
// already sent, so the switch has no gap and no duplicate.
func (c *conn) run(ctx context.Context, hello <-chan uint64) error {
	cfg := &c.h.cfg
	t := time.NewTimer(cfg.HelloWait)
	var since uint64
	select {
	case since = <-hello:
		t.Stop()
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
		return context.Cause(ctx)
	}
	if since > 0 {
		c.lastSent, c.based = since, true
		if err := c.catchUp(ctx); err != nil {
			return err
		}
	}
	ready := []byte(`{"type":"ready"}`)
	if c.based {
		ready = []byte(`{"type":"ready","seq":` + strconv.FormatUint(c.lastSent, 10) + `}`)
	}
	if err := c.write(ctx, ready); err != nil {
		return err
	}
	ping := time.NewTicker(cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case u := <-c.queue:
			if err := c.deliver(ctx, u); err != nil {
				return err
			}
		case f := <-c.ctl:
			if err := c.write(ctx, f); err != nil {
				return err
			}
		case <-c.catchup:
			// NATS dropped some of this user's live updates: the last ones
			// may be among them, with no later update to show the gap.
			// Without a base there is nothing to read from (a live-only
			// socket that has had no update yet takes the next one, as a
			// gap before its first update goes unnoticed anyway).
			if c.based {
				if err := c.catchUp(ctx); err != nil {
					return err
				}
			}
		case <-ping.C:
			// Ping waits for the pong, which the reader reads; frames queue
			// meanwhile (an RTT for a live peer).
			pctx, cancel := context.WithTimeout(context.Background(), cfg.PongTimeout)
			err := c.ws.Ping(pctx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return context.Cause(ctx)
				}
				c.h.stats.deadPeers.Add(1)
				return errDeadPeer
			}
		}
	}
}

// deliver sends one live update in order. The republished update carries
// the user's previous seq: if that is past what this socket sent, it
// missed some (NATS dropped them on a full buffer, or the subscription was
// young) and reads them back from the stream first.
func (c *conn) deliver(ctx context.Context, u *update) error {
	if u.seq == 0 { // a signal: not in the stream, so no position to check or move
		return c.write(ctx, u.frame)
	}
	switch {
	case !c.based:
	case u.seq <= c.lastSent:
		return nil // sent by the replay already
	case u.prev > c.lastSent:
		c.h.stats.gaps.Add(1)
		if err := c.catchUp(ctx); err != nil {
			return err
		}
		if c.based && u.seq <= c.lastSent {
			return nil
		}
	}
	return c.send(ctx, u.seq, u.frame)
}

// catchUp replays from lastSent; if the stream lost some, it tells the
// client to resync and the socket goes on live, from no base.
func (c *conn) catchUp(ctx context.Context) error {
	err := c.h.replay(ctx, c.uid, c.lastSent, func(seq uint64, frame []byte) error {
		c.h.stats.replayed.Add(1)
		return c.send(ctx, seq, frame)
	})
	switch {
	case errors.Is(err, errResync):
		c.h.stats.resyncs.Add(1)
		c.based, c.lastSent = false, 0
		return c.write(ctx, resyncFrame)
	case err != nil:
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		c.h.log.Warn("replay failed", "user", c.uid, "err", err)
		return errStore
	}
	return nil
}

func (c *conn) send(ctx context.Context, seq uint64, frame []byte) error {
	if err := c.write(ctx, frame); err != nil {
		return err
	}
	c.lastSent, c.based = seq, true
	c.h.stats.sent.Add(1)
	return nil
}

// write sends one frame within WriteTimeout. Its context is not the
// connection's: coder/websocket closes the socket at once when a write's
// context ends, even just after the frame went out, and a close frame
// (1008 for a bad client frame) would be lost. A stuck peer costs at most
// WriteTimeout; its queue stays bounded meanwhile.
func (c *conn) write(ctx context.Context, frame []byte) error {
	wctx, cancel := context.WithTimeout(context.Background(), c.h.cfg.WriteTimeout)
	defer cancel()
	if err := c.ws.Write(wctx, websocket.MessageText, frame); err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return errWrite
	}
	return nil
}

// finish closes the socket for the cause: with a close frame when the
// cause has one, else at once.
func (c *conn) finish(cause error) {
	var ce *closeError
	if errors.As(cause, &ce) {
		_ = c.ws.Close(ce.code, ce.reason) // bounded by the library (5s to write, 5s for the answer)
		return
	}
	_ = c.ws.CloseNow()
}
