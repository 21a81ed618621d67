package push

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/events"
)

// Handler is the live push gateway: the ticket and socket routes, the hub
// of this process's sockets, and the fan-out consumer that writes the
// per-user update stream. It is safe for concurrent use; Close ends every
// goroutine it started and every socket.
type Handler struct {
	cfg     Config
	log     *slog.Logger
	nc      *nats.Conn // the gateway's own connection: live subscriptions, presence, replay
	js      jetstream.JetStream
	stream  jetstream.Stream
	tickets *tickets
	revoked *revocations
	revSub  *nats.Subscription // the fleet-wide revocations
	hub     *hub
	fan     *events.Consumer
	offline *offline // offline pushes; nil without a Pusher
	mux     *http.ServeMux

	ctx    context.Context // ends with Close (cause errShutdown): every socket's parent
	cancel context.CancelCauseFunc
	bg     sync.WaitGroup // dispatcher, drop repairer and ticket sweeper

	mu     sync.Mutex     // guards closed and the Add side of conns
	closed bool           // no socket is accepted after Close began
	conns  sync.WaitGroup // one per open socket

	stats struct {
		accepted, sent, replayed, gaps, resyncs, slow, deadPeers atomic.Int64
		updates, fanoutErrors, liveDrops                         atomic.Int64
	}
	dropLog rateLog // the slow-consumer warnings of live subscriptions
}

// Stats are the gateway's counters since it started.
type Stats struct {
	Users, Sockets int   // connected now, on this process
	Accepted       int64 // sockets opened
	Sent, Replayed int64 // update frames sent, of which from a replay
	Gaps, Resyncs  int64 // live gaps read back from the stream; resync frames sent
	Slow, DeadPeer int64 // sockets closed for a full queue; for a missing pong
	Updates        int64 // updates the fan-out stored
	FanoutErrors   int64 // events the fan-out failed (delivered again)
	Pushed         int64 // offline pushes made
	PushErrors     int64 // offline pushes given up
	PushDropped    int64 // offline pushes dropped: queue full, or left at Close
	LiveDrops      int64 // NATS reports of live updates dropped on a full LiveBuffer; each has the user's sockets catch up
}

// New builds the gateway from cfg: it dials its own NATS connection on
// the bus, creates or updates the update stream, subscribes the dispatcher
// and starts the fan-out consumer. Close it before the bus.
func New(ctx context.Context, cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, log: cmp.Or(cfg.Logger, slog.Default()).With("component", "push")}
	if cfg.Fanout.Logger == nil {
		h.cfg.Fanout.Logger = h.log
	}
	h.tickets = newTickets(cfg.TicketKey, cfg.OldTicketKeys, cfg.TicketTTL, cfg.MaxUsedTickets, cfg.Now)
	nc, err := cfg.Bus.Dial("mediaedge-push")
	if err != nil {
		return nil, err
	}
	h.nc = nc
	if h.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("push: jetstream: %w", err)
	}
	if h.stream, err = h.ensureStream(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	h.hub = newHub(nc, cfg.LiveBuffer)
	// Replaces the bus's handler (which only logs): a live subscription
	// that dropped updates has its user's sockets catch up (natsError).
	nc.SetErrorHandler(h.natsError)
	h.revoked = newRevocations(cfg.TicketTTL, cfg.MaxUsedTickets, cfg.Now)
	if h.revSub, err = nc.Subscribe(revokeSubject(cfg.SubjectPrefix), h.onRevoke); err != nil {
		nc.Close()
		return nil, fmt.Errorf("push: subscribe to revocations: %w", err)
	}
	h.ctx, h.cancel = context.WithCancelCause(context.Background())
	h.bg.Add(3)
	go h.dispatchLoop()
	go h.repairLoop()
	go h.sweepLoop()
	if cfg.Pusher != nil {
		h.offline = newOffline(cfg.Pusher, h.Online, cfg.PushWorkers, cfg.PushQueue, h.log)
	}
	if h.fan, err = cfg.Bus.Consume(ctx, h.cfg.Fanout, h.fanout); err != nil {
		if h.offline != nil {
			h.offline.close(0)
		}
		h.cancel(errShutdown)
		h.bg.Wait()
		nc.Close()
		return nil, err
	}
	h.mux = http.NewServeMux()
	h.Register(h.mux)
	return h, nil
}

// Register adds the routes to mux (Go 1.22 patterns, full /v1 paths).
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/ws/ticket", h.wrap(h.issueTicket))
	mux.HandleFunc("GET /v1/ws", h.wrap(h.serveWS))
}

// ServeHTTP serves the routes of Register (for tests and a standalone mount).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Close stops the fan-out, lets queued offline pushes finish for up to
// PushCloseWait (sockets stay up meanwhile, so presence stays true),
// closes every socket (1001) and waits for every goroutine of the
// gateway. The bus stays open.
func (h *Handler) Close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.fan.Close()
	if h.offline != nil {
		h.offline.close(h.cfg.PushCloseWait)
	}
	h.cancel(errShutdown)
	h.conns.Wait()
	h.bg.Wait()
	h.nc.Close()
	return nil
}

// Stats returns the counters.
func (h *Handler) Stats() Stats {
	u, s := h.hub.counts()
	st := &h.stats
	out := Stats{Users: u, Sockets: s, Accepted: st.accepted.Load(), Sent: st.sent.Load(), Replayed: st.replayed.Load(),
		Gaps: st.gaps.Load(), Resyncs: st.resyncs.Load(), Slow: st.slow.Load(), DeadPeer: st.deadPeers.Load(),
		Updates: st.updates.Load(), FanoutErrors: st.fanoutErrors.Load(), LiveDrops: st.liveDrops.Load()}
	if o := h.offline; o != nil {
		out.Pushed, out.PushErrors, out.PushDropped = o.pushed.Load(), o.failed.Load(), o.dropped.Load()
	}
	return out
}

func (h *Handler) dispatchLoop() {
	defer h.bg.Done()
	prefix := h.cfg.SubjectPrefix + ".live."
	for {
		select {
		case <-h.ctx.Done():
			return
		case m := <-h.hub.ch:
			if !h.legacyClose(m, prefix) {
				h.hub.dispatch(m, prefix)
			}
		}
	}
}

// natsError is the gateway connection's asynchronous error handler. A slow
// consumer on a live subscription means NATS dropped messages for it on a
// full LiveBuffer; a socket notices a dropped update only when the user's
// next one comes, so the user's last updates would wait for it. The hub
// instead has the user's sockets catch up from the stream (repairLoop).
func (h *Handler) natsError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrSlowConsumer) && h.hub.noteDrop(sub, h.cfg.SubjectPrefix+".live.") {
		n := h.stats.liveDrops.Add(1)
		if h.dropLog.allow(time.Now(), time.Second) {
			h.log.Warn("live updates dropped on a full live buffer; the sockets catch up from the stream",
				"live_buffer", h.cfg.LiveBuffer, "drops_total", n)
		}
		return
	}
	if sub != nil {
		h.log.Warn("nats", "subject", sub.Subject, "err", err)
		return
	}
	h.log.Warn("nats", "err", err)
}

// repairLoop serves the drops natsError notes: it gives each user a fresh
// subscription (see hub.resubscribeDropped), flushes so the server has it,
// and only then has their sockets read the stream: an update stored
// before the flush is in that read, one stored after it reaches the new
// subscription, or is dropped there and reported again.
func (h *Handler) repairLoop() {
	defer h.bg.Done()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-h.hub.repair:
		}
		uids := h.hub.resubscribeDropped()
		if len(uids) == 0 {
			continue
		}
		fctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
		err := h.nc.FlushWithContext(fctx)
		cancel()
		if h.ctx.Err() != nil {
			return
		}
		if err != nil {
			// Catch up anyway: most of what was dropped is read back, and
			// the next update's gap check finds the rest.
			h.log.Warn("flush resubscriptions", "users", len(uids), "err", err)
		}
		h.hub.catchUp(uids)
	}
}

// sweepLoop forgets expired ticket nonces and revocations every TicketTTL.
func (h *Handler) sweepLoop() {
	defer h.bg.Done()
	t := time.NewTicker(h.cfg.TicketTTL)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
			h.tickets.sweep()
			h.revoked.sweep()
		}
	}
}

// wrap is the one place where a route's error becomes an answer.
func (h *Handler) wrap(fn func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			httperr.Write(w, r, h.log, errorTable.Map(err))
		}
	}
}

var errClosed = errors.New("push: gateway closed")

var errorTable = httperr.Table{
	{Err: ErrTicketExpired, Status: http.StatusUnauthorized, Code: "ticket_expired", Message: "the ticket expired: ask for a new one", Param: "ticket"},
	{Err: ErrTicketUsed, Status: http.StatusUnauthorized, Code: "ticket_used", Message: "the ticket was used already: ask for a new one", Param: "ticket"},
	{Err: ErrSessionRevoked, Status: http.StatusUnauthorized, Code: "session_revoked", Message: "the session this ticket was issued to has ended", Param: "ticket"},
	{Err: ErrTicketInvalid, Status: http.StatusUnauthorized, Code: "invalid_ticket", Message: "the ticket is not valid", Param: "ticket"},
	{Err: errTicketsFull, Status: http.StatusServiceUnavailable, Code: "busy", Message: "too many sockets opening, try again", RetryAfter: 1},
	{Err: errClosed, Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the server is shutting down", RetryAfter: 1},
}

// issueTicket: POST /v1/ws/ticket with a session -> 201 {"ticket","expires_at"}.
func (h *Handler) issueTicket(w http.ResponseWriter, r *http.Request) error {
	var (
		uid     int64
		session uint64
		err     error
	)
	if sa, ok := h.cfg.Auth.(SessionAuthenticator); ok {
		uid, session, err = sa.AuthenticateSession(r.Context(), r)
	} else {
		uid, err = h.cfg.Auth.Authenticate(r.Context(), r)
	}
	if err != nil {
		return err
	}
	t, exp := h.tickets.issue(uid, session)
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusCreated)
	return json.NewEncoder(w).Encode(struct {
		Ticket    string    `json:"ticket"`
		ExpiresAt time.Time `json:"expires_at"`
	}{t, exp.UTC()})
}

// serveWS: GET /v1/ws?ticket= -> the socket. The ticket is checked before
// the upgrade, so a bad one is an ordinary JSON 401.
func (h *Handler) serveWS(w http.ResponseWriter, r *http.Request) error {
	ticket := r.URL.Query().Get("ticket")
	if ticket == "" {
		return httperr.BadParam("ticket", "a ticket from POST /v1/ws/ticket is required")
	}
	cl, err := h.tickets.redeem(ticket)
	if err != nil {
		return err
	}
	if h.revoked.refuses(cl) {
		return ErrSessionRevoked
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return errClosed
	}
	h.conns.Add(1)
	h.mu.Unlock()
	defer h.conns.Done()

	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		OriginPatterns:  h.cfg.OriginPatterns,
		CompressionMode: websocket.CompressionDisabled, // a flate context per socket costs more than small JSON frames save
	})
	if err != nil {
		return nil // Accept wrote the answer
	}
	ws.SetReadLimit(h.cfg.ReadLimit)
	h.stats.accepted.Add(1)
	h.serveConn(ws, cl)
	return nil
}

// serveConn runs one socket to its end on the calling goroutine (the
// writer), with one reader goroutine beside it.
func (h *Handler) serveConn(ws *websocket.Conn, cl claims) {
	uid := cl.uid
	ctx, cancel := context.WithCancelCause(h.ctx)
	c := &conn{h: h, ws: ws, uid: uid, session: cl.session, queue: make(chan *update, h.cfg.SendQueue), ctl: make(chan []byte, 1),
		catchup: make(chan struct{}, 1), cancel: cancel}
	hello := make(chan uint64, 1)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		c.read(hello)
	}()
	err := h.hub.add(c, h.liveSubject(uid))
	revoked := false
	if err == nil && h.revoked.refuses(cl) {
		// A revocation heard between the upgrade's check and add: its
		// close may have looked at the hub before c was in it.
		h.hub.remove(c)
		revoked = true
	} else if err == nil {
		// The subscription must be on the server before the replay reads
		// the stream: an update stored after the read is then surely
		// queued live. One round trip on the gateway's connection.
		fctx, fcancel := context.WithTimeout(ctx, 10*time.Second)
		if err = h.nc.FlushWithContext(fctx); err != nil {
			h.hub.remove(c)
		}
		fcancel()
	}
	switch {
	case revoked:
		cancel(errSessionEnded)
	case err != nil:
		if ctx.Err() == nil {
			h.log.Warn("socket not registered", "user", uid, "err", err)
		}
		cancel(errStore)
	default:
		cancel(c.run(ctx, hello)) // the first cause wins: a slow or shutdown cause set meanwhile stays
		h.hub.remove(c)
	}
	cause := context.Cause(ctx)
	c.finish(cause)
	<-readerDone
}
