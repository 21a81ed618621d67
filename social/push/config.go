package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/mediaedge/mediaedge/social/events"
)

// Authenticator tells who a request is: (*users.Handler).Authenticate. An
// error it returns is written as it is (an *httperr.Error from users).
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request) (userID int64, err error)
}

// SessionAuthenticator is an Authenticator that also names the request's
// login by a tag (never 0), carried by the ticket: the accounts service
// then ends that login's sockets at its logout (Closer.CloseSession).
// (*users.Handler).AuthenticateSession.
type SessionAuthenticator interface {
	Authenticator
	AuthenticateSession(ctx context.Context, r *http.Request) (userID int64, session uint64, err error)
}

// Config is everything the gateway needs; the composition root fills it.
type Config struct {
	// Bus is the event backbone (required). The gateway dials a connection
	// of its own on it, keeps its update stream there and runs the fan-out
	// consumer on the bus's event stream.
	Bus *events.Bus `json:"-"`
	// Auth authenticates POST /v1/ws/ticket (required).
	Auth Authenticator `json:"-"`
	// Pusher, when set, is told about updates for users with no live
	// socket on any edge (a web push or APNs/FCM relay), off the fan-out's
	// path: see PushWorkers.
	Pusher Pusher `json:"-"`

	// TicketKey signs socket tickets (HMAC-SHA256); at least 32 bytes.
	// Every edge of a fleet must have the same key, so a ticket issued by
	// one edge opens a socket on any other. Required.
	TicketKey []byte `json:"-"`
	// OldTicketKeys still verify tickets (never sign): put the previous key
	// here for one TicketTTL while rotating.
	OldTicketKeys [][]byte `json:"-"`
	// TicketTTL is how long a ticket stays valid (the contract says 30s).
	TicketTTL time.Duration
	// MaxUsedTickets bounds the nonces of redeemed, unexpired tickets this
	// process remembers to refuse a second use. When it is full of
	// unexpired ones, upgrades are answered 503 (fail closed, never forget
	// a nonce early). About 60 bytes each.
	MaxUsedTickets int

	// Stream is the JetStream stream of per-user updates.
	Stream string
	// SubjectPrefix: updates for user U are stored on
	// SubjectPrefix.updates.U and republished live on SubjectPrefix.live.U.
	// It must not overlap the event stream's subjects.
	SubjectPrefix string
	// Replicas of the update stream; 0 is 1 embedded and 3 on an external
	// cluster, like the event stream.
	Replicas int
	// MaxAge and MaxPerUser bound how far back a reconnecting client can
	// resume (older: it is told to resync). MaxPerUser also bounds a
	// replay and the stream's share of a user who never comes back.
	MaxAge     time.Duration
	MaxPerUser int64
	// DuplicateWindow is how long a re-delivered event still creates no
	// second update (Nats-Msg-Id event/user). It must outlast the fan-out
	// consumer's backoff; about 100 bytes per update published within it.
	DuplicateWindow time.Duration
	// Fanout is the durable consumer turning events into updates; its
	// Name is shared by every edge, which split the work.
	Fanout events.ConsumerConfig

	// SendQueue is how many frames a connection may have waiting; a client
	// that lets it fill is disconnected (1008), never buffered without end.
	SendQueue int
	// ReadLimit is the largest client frame; a larger one closes with 1009.
	ReadLimit int64
	// HelloWait is how long the gateway waits for the client's first frame
	// (a hello with since) before it goes live without a replay.
	HelloWait time.Duration
	// PingInterval is how often the server pings; PongTimeout how long a
	// pong may take before the peer is taken for dead and closed.
	PingInterval, PongTimeout time.Duration
	// WriteTimeout bounds one frame's write; a peer that does not read
	// for that long is closed.
	WriteTimeout time.Duration
	// LiveBuffer is the process-wide channel between NATS and the
	// dispatcher; NATS drops what overflows it, and the connections it was
	// for notice the gap and read it back from the stream.
	LiveBuffer int
	// PresenceTimeout bounds the "is anyone connected?" probe made before
	// an offline push.
	PresenceTimeout time.Duration
	// PushWorkers is how many offline pushes (presence probe, then the
	// Pusher) run at once, and PushQueue how many may wait for a worker.
	// The fan-out only queues them, never waits for the Pusher, so a slow
	// or down Pusher delays no live update. A push that finds the queue
	// full is dropped and counted (Stats.PushDropped): its update is in
	// the stream, and the device reads it when it connects. About 200
	// bytes a queued push, plus the event's data (shared by its users).
	PushWorkers, PushQueue int
	// PushCloseWait is how long Close lets queued and running offline
	// pushes finish before it cancels them (0: at once).
	PushCloseWait time.Duration
	// OriginPatterns are the other origins a browser may open a socket
	// from (coder/websocket AcceptOptions); the page's own origin always
	// may.
	OriginPatterns []string

	// Now is the clock of tickets; nil is time.Now. Tests move it.
	Now func() time.Time `json:"-"`
	// Logger; nil is slog.Default().
	Logger *slog.Logger `json:"-"`
}

// DefaultConfig has the defaults of everything but Bus, Auth, Pusher and
// TicketKey.
func DefaultConfig() Config {
	fan := events.DefaultConsumerConfig("push-fanout")
	fan.DeliverNew = true // a new gateway does not replay a week of history as live updates
	fan.AckWait = time.Minute
	// Prefetch stays at the consumer default (64), though Concurrency is 1.
	// The handler no longer waits for the Pusher (see PushWorkers), so
	// prefetched events do not sit out AckWait behind it, and a shallow
	// prefetch is not safe with nats.go v1.55's Consume: it pulls again
	// when half the batch is handled, unless its previous pull request is
	// still marked in flight, and it clears that mark only after sending;
	// with a batch of 1 or 2 the server answers and the handler finishes
	// them first, no pull is left outstanding, and the consumer
	// sits until two heartbeats are missed (30s). Tests saw such stalls at
	// Prefetch 1 and 2, none at 64.
	return Config{
		TicketTTL:       30 * time.Second,
		MaxUsedTickets:  1 << 20,
		Stream:          "SOCIAL_UPDATES",
		SubjectPrefix:   "social",
		MaxAge:          72 * time.Hour,
		MaxPerUser:      1000,
		DuplicateWindow: 10 * time.Minute,
		Fanout:          fan,
		SendQueue:       256,
		ReadLimit:       4 << 10,
		HelloWait:       2 * time.Second,
		PingInterval:    25 * time.Second,
		PongTimeout:     10 * time.Second,
		WriteTimeout:    10 * time.Second,
		LiveBuffer:      8192,
		PresenceTimeout: 2 * time.Second,
		PushWorkers:     8,
		PushQueue:       10000,
		PushCloseWait:   5 * time.Second,
	}
}

var (
	streamRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	prefixRe = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
)

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Bus == nil {
		errs = append(errs, errors.New("push: no event bus"))
	}
	if c.Auth == nil {
		errs = append(errs, errors.New("push: no authenticator"))
	}
	if len(c.TicketKey) < 32 {
		errs = append(errs, fmt.Errorf("push: ticket key of %d bytes: want at least 32", len(c.TicketKey)))
	}
	for i, k := range c.OldTicketKeys {
		if len(k) < 32 {
			errs = append(errs, fmt.Errorf("push: old ticket key %d of %d bytes: want at least 32", i, len(k)))
		}
	}
	if c.TicketTTL < time.Second || c.TicketTTL > 5*time.Minute {
		errs = append(errs, fmt.Errorf("push: ticket ttl %v: want 1s to 5m", c.TicketTTL))
	}
	if c.MaxUsedTickets < 1 {
		errs = append(errs, fmt.Errorf("push: max used tickets %d: want at least 1", c.MaxUsedTickets))
	}
	if !streamRe.MatchString(c.Stream) {
		errs = append(errs, fmt.Errorf("push: stream %q: want 1-64 letters, digits, _ or -", c.Stream))
	}
	if !prefixRe.MatchString(c.SubjectPrefix) {
		errs = append(errs, fmt.Errorf("push: subject prefix %q: want dot-separated tokens without wildcards", c.SubjectPrefix))
	}
	if c.Bus != nil {
		bc := c.Bus.Config()
		if c.Stream == bc.Stream || c.Stream == bc.DeadLetterStream {
			errs = append(errs, fmt.Errorf("push: stream %q is the event bus's", c.Stream))
		}
		for _, s := range []string{bc.Subject, bc.DeadLetterSubject} {
			if overlaps(c.SubjectPrefix+".updates", s) || overlaps(c.SubjectPrefix+".live", s) || overlaps(revokeSubject(c.SubjectPrefix), s) {
				errs = append(errs, fmt.Errorf("push: subject prefix %q overlaps the bus subject %q", c.SubjectPrefix, s))
			}
		}
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("push: replicas %d: want 0 (auto) to 5", c.Replicas))
	}
	if c.MaxAge < time.Minute || c.MaxPerUser < 1 {
		errs = append(errs, fmt.Errorf("push: max age %v and max per user %d: want at least 1m and 1", c.MaxAge, c.MaxPerUser))
	}
	if c.DuplicateWindow < time.Second || c.DuplicateWindow > c.MaxAge {
		errs = append(errs, fmt.Errorf("push: duplicate window %v: want 1s up to max age", c.DuplicateWindow))
	}
	if err := c.Fanout.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.SendQueue < 1 || c.LiveBuffer < 1 {
		errs = append(errs, fmt.Errorf("push: send queue %d and live buffer %d: want at least 1", c.SendQueue, c.LiveBuffer))
	}
	if c.ReadLimit < 64 {
		errs = append(errs, fmt.Errorf("push: read limit %d: want at least 64 bytes", c.ReadLimit))
	}
	if c.PushWorkers < 1 || c.PushWorkers > 1024 || c.PushQueue < 1 {
		errs = append(errs, fmt.Errorf("push: push workers %d and push queue %d: want 1 to 1024 workers and a queue of at least 1", c.PushWorkers, c.PushQueue))
	}
	if c.PushCloseWait < 0 {
		errs = append(errs, fmt.Errorf("push: push close wait %v: want 0 or more", c.PushCloseWait))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"hello wait", c.HelloWait}, {"ping interval", c.PingInterval}, {"pong timeout", c.PongTimeout},
		{"write timeout", c.WriteTimeout}, {"presence timeout", c.PresenceTimeout}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("push: %s %v: want above 0", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// overlaps reports whether subject a is b or one is a prefix token path of
// the other.
func overlaps(a, b string) bool {
	return a == b || len(a) > len(b) && a[:len(b)+1] == b+"." || len(b) > len(a) && b[:len(a)+1] == a+"."
}

func (c Config) replicas() int {
	switch {
	case c.Replicas > 0:
		return c.Replicas
	case c.Bus != nil && c.Bus.Config().URL != "":
		return 3
	default:
		return 1
	}
}
