package fleet

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/hashicorp/memberlist"
)

// maxMeta is memberlist's limit on a node's metadata.
const maxMeta = memberlist.MetaMaxSize

// Member is an edge of the fleet as this edge sees it.
type Member struct {
	// Name is the member's unique, stable name (its rendezvous identity).
	Name string
	// HTTPAddr is its HTTP base URL, from its metadata.
	HTTPAddr string
	// GossipAddr is its memberlist "ip:port".
	GossipAddr string
	// Local is true for this edge.
	Local bool
	// Load is its in-flight request count: exact for the local edge, the
	// last gossiped value for others (0 when none is fresher than LoadTTL).
	Load int64
	// LoadAge is how old Load is: 0 for the local edge, -1 when no fresh
	// report is held.
	LoadAge time.Duration
	// State is "alive" or "suspect"; filled by Members only (routing keeps
	// suspects, see doc.go).
	State string

	// hopKey is the key this edge signs forwards to the member with in a
	// fleet without a secret key, from its metadata (auth.go).
	hopKey string
}

// Fleet is this edge's membership in the fleet, its view of the others and
// its client to them. Its methods are safe for concurrent use.
type Fleet struct {
	cfg  Config
	name string
	log  *slog.Logger
	ml   *memberlist.Memberlist
	meta []byte // this edge's metadata, fixed at Join
	// hopKey authenticates forwards to this edge (auth.go): derived from
	// the secret key, or random and advertised in meta.
	hopKey string

	transport *http.Transport
	client    *http.Client

	inflight atomic.Int64         // requests this edge is serving (Begin/done)
	view     atomic.Pointer[view] // the members routing ranks; replaced, never mutated
	loadSeq  atomic.Uint64        // sequence of outgoing load reports
	lastJoin atomic.Int64         // unix nanoseconds a routable member last entered the view
	stats    counters

	mu    sync.Mutex                  // guards nodes, cells and left
	nodes map[string]*memberlist.Node // live members by name, copies taken in events
	cells map[string]*loadCell        // gossiped loads by member name
	left  bool                        // Leave ran (memberlist panics on Leave after Shutdown)

	done      chan struct{} // closed by Close/kill: ends the loops
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// view is one immutable membership snapshot, sorted by name; seeds and
// weights are parallel to members, as edgecache.Rank takes them.
type view struct {
	members []Member
	// observers are members that own nothing (`fleet status`); they get
	// load reports but are never ranked.
	observers []*memberlist.Node
	nodes     []*memberlist.Node
	cells     []*loadCell
	seeds     []uint64
	weights   []float64
}

// loadCell is one member's last gossiped load. Route reads it without a
// lock; seq is written under Fleet.mu by the single packet handler.
type loadCell struct {
	load atomic.Int64
	at   atomic.Int64 // unix nanoseconds of receipt, 0 = never
	seq  uint64       // guarded by Fleet.mu
}

// meta is what a member carries in its memberlist metadata.
type meta struct {
	HTTP     string `json:"http"`
	Observer bool   `json:"observer,omitempty"`
	// Hop is the member's hop key in a fleet without a secret key (see
	// auth.go); empty with one, whose members derive it.
	Hop string `json:"hop,omitempty"`
}

func encodeMeta(m meta) []byte {
	b, _ := json.Marshal(m) // a struct of strings cannot fail
	return b
}

// metaOf is what this edge advertises, hop being its random hop key in a
// fleet without a secret key ("" with one).
func metaOf(cfg Config, hop string) meta {
	if cfg.Observer {
		return meta{Observer: true}
	}
	return meta{HTTP: cfg.HTTPAddr, Hop: hop}
}

// memberSeed is a member's rendezvous identity: a hash of its name, in its own
// namespace so it never equals a disk's seed by construction.
func memberSeed(name string) uint64 { return xxhash.Sum64String("mediaedge-fleet:" + name) }

// Join starts this edge's membership: it binds cfg.Bind, tries the seeds in
// cfg.Peers once and returns. When no seed answers (they are not up yet), the
// edge runs as a fleet of one and retries every RejoinInterval; Join fails only
// on a bad config, a bind error or a done ctx.
func Join(ctx context.Context, cfg Config) (*Fleet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fleet: join: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	var hopKey, advertised string
	if len(cfg.SecretKey) > 0 {
		hopKey = deriveHopKey(cfg.SecretKey)
	} else {
		var err error
		if hopKey, err = randomHopKey(); err != nil {
			return nil, fmt.Errorf("fleet: make a hop key: %w", err)
		}
		advertised = hopKey
	}
	f := &Fleet{
		cfg:    cfg,
		name:   cfg.name(),
		log:    logger.With("component", "fleet", "self", cfg.name()),
		meta:   encodeMeta(metaOf(cfg, advertised)),
		hopKey: hopKey,
		nodes:  make(map[string]*memberlist.Node),
		cells:  make(map[string]*loadCell),
		done:   make(chan struct{}),
	}
	f.loadSeq.Store(uint64(time.Now().UnixNano())) // a restarted edge's reports supersede its old ones
	f.view.Store(&view{})
	f.transport = newTransport(cfg)
	f.client = &http.Client{
		Transport: f.transport,
		// Redirects belong to the client that asked; pass them through.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	mc := memberlist.DefaultLANConfig()
	mc.Name = f.name
	host, port, _ := net.SplitHostPort(cfg.Bind) // checked by Validate
	mc.BindAddr = host
	mc.BindPort, _ = strconv.Atoi(port)
	mc.AdvertisePort = mc.BindPort
	if cfg.Advertise != "" {
		h, p, _ := net.SplitHostPort(cfg.Advertise)
		mc.AdvertiseAddr = h
		mc.AdvertisePort, _ = strconv.Atoi(p)
	}
	mc.ProbeInterval = cfg.ProbeInterval
	mc.ProbeTimeout = cfg.ProbeTimeout
	mc.GossipInterval = cfg.GossipInterval
	mc.SuspicionMult = cfg.SuspicionMult
	if len(cfg.SecretKey) > 0 {
		mc.SecretKey = cfg.SecretKey
		if cfg.Upgrading {
			// Keyed and keyless edges see each other while the key is
			// rolled out (memberlist's documented transition).
			mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = false, false
		}
	}
	mc.Delegate = delegate{f}
	mc.Events = events{f}
	mc.Logger = log.New(memberlistLog{f.log.With("from", "memberlist")}, "", 0)

	ml, err := memberlist.Create(mc)
	if err != nil {
		f.transport.CloseIdleConnections()
		return nil, fmt.Errorf("fleet: start memberlist on %s: %w", cfg.Bind, err)
	}
	f.ml = ml
	if n := ml.LocalNode(); n != nil {
		f.log.Info("fleet member started", "gossip", n.Address(), "http", cfg.HTTPAddr)
	}
	if len(cfg.Peers) > 0 {
		if n, err := ml.Join(cfg.Peers); n == 0 {
			f.log.Warn("no fleet seed answered; running alone and retrying", "peers", cfg.Peers, "every", cfg.RejoinInterval, "err", err)
		}
		f.wg.Add(1)
		go f.rejoinLoop()
	}
	f.wg.Add(1)
	go f.loadLoop()
	return f, nil
}

// Name is this edge's member name.
func (f *Fleet) Name() string { return f.name }

// GossipAddr is the "ip:port" this edge gossips on (the real port when Bind
// had port 0), for other edges' Peers.
func (f *Fleet) GossipAddr() string { return f.ml.LocalNode().Address() }

// Self is this edge as a member.
func (f *Fleet) Self() Member {
	return Member{Name: f.name, HTTPAddr: f.cfg.HTTPAddr, GossipAddr: f.GossipAddr(), Local: true, Load: f.inflight.Load(), State: "alive"}
}

// Begin counts one request this edge serves itself (as owner or spill
// target) in its load until the returned func is called. Forwarded-away
// requests are not counted: proxying costs the receiving edge little.
func (f *Fleet) Begin() (done func()) {
	f.inflight.Add(1)
	var once sync.Once
	return func() { once.Do(func() { f.inflight.Add(-1) }) }
}

// Members returns the live members (alive or suspect), sorted by name, with
// their loads and states; this edge is among them.
func (f *Fleet) Members() []Member {
	v := f.view.Load()
	states := make(map[string]memberlist.NodeStateType)
	for _, n := range f.ml.Members() {
		states[n.Name] = n.State
	}
	now := time.Now()
	out := make([]Member, len(v.members))
	for i := range v.members {
		out[i] = f.member(v, i, now)
		out[i].State = "alive"
		if states[out[i].Name] == memberlist.StateSuspect {
			out[i].State = "suspect"
		}
	}
	return out
}

// member is v's i-th member with its current load.
func (f *Fleet) member(v *view, i int, now time.Time) Member {
	m := v.members[i]
	if m.Local {
		m.Load, m.LoadAge = f.inflight.Load(), 0
		return m
	}
	c := v.cells[i]
	at := c.at.Load()
	if age := now.Sub(time.Unix(0, at)); at != 0 && age <= f.cfg.LoadTTL {
		m.Load, m.LoadAge = c.load.Load(), max(age, 0)
	} else {
		m.Load, m.LoadAge = 0, -1
	}
	return m
}

// Leave tells the fleet this edge is going (its keys move at once rather than
// after failure detection) and waits for the message to go out, up to ctx's
// deadline or LeaveTimeout. The edge keeps gossiping until Close.
func (f *Fleet) Leave(ctx context.Context) error {
	f.mu.Lock()
	if f.left {
		f.mu.Unlock()
		return nil
	}
	f.left = true
	f.mu.Unlock()
	timeout := f.cfg.LeaveTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if err := f.ml.Leave(max(timeout, time.Millisecond)); err != nil {
		return fmt.Errorf("fleet: leave: %w", err)
	}
	return nil
}

// Close leaves the fleet gracefully (if Leave did not already), stops
// gossiping and closes pooled connections. It is safe to call twice.
func (f *Fleet) Close() error {
	f.closeOnce.Do(func() {
		close(f.done)
		f.wg.Wait()
		leaveErr := f.Leave(context.Background())
		f.closeErr = errors.Join(leaveErr, f.ml.Shutdown())
		f.transport.CloseIdleConnections()
	})
	return f.closeErr
}

// kill stops the edge without a leave message, as a crash would (tests).
func (f *Fleet) kill() {
	f.closeOnce.Do(func() {
		close(f.done)
		f.wg.Wait()
		f.mu.Lock()
		f.left = true // memberlist panics on Leave after Shutdown
		f.mu.Unlock()
		f.closeErr = f.ml.Shutdown()
		f.transport.CloseIdleConnections()
	})
}

// rejoinLoop keeps this edge joined through its seeds: every RejoinInterval
// while it knows no other member (the seeds were not up yet), and every
// ReconnectInterval, jittered so that the edges of a fleet do not join in
// step, to the seeds that are not live members, so that the two sides of a
// healed partition merge again (see Config.ReconnectInterval).
func (f *Fleet) rejoinLoop() {
	defer f.wg.Done()
	t := time.NewTicker(f.cfg.RejoinInterval)
	defer t.Stop()
	reconnect := time.NewTimer(jitter(f.cfg.ReconnectInterval))
	defer reconnect.Stop()
	alone := func() bool { return len(f.view.Load().members) <= 1 }
	for {
		select {
		case <-f.done:
			return
		case <-t.C:
			if !alone() {
				continue
			}
			if n, err := f.ml.Join(f.cfg.Peers); n > 0 {
				f.log.Info("joined the fleet", "peers", f.cfg.Peers)
			} else {
				f.log.Debug("no fleet seed answered", "peers", f.cfg.Peers, "err", err)
			}
		case <-reconnect.C:
			reconnect.Reset(jitter(f.cfg.ReconnectInterval))
			if alone() {
				continue // the ticker's case retries every seed
			}
			f.reconnect()
		}
	}
}

// reconnect joins each seed that is not an alive member, one at a time so
// that Close waits for one join at most (a seed that drops packets costs
// memberlist's TCP timeout).
func (f *Fleet) reconnect() {
	alive := make(map[string]bool)
	for _, n := range f.ml.Members() {
		if n.State == memberlist.StateAlive {
			alive[n.Address()] = true
		}
	}
	for _, seed := range f.cfg.Peers {
		if alive[canonicalAddr(seed)] {
			continue
		}
		select {
		case <-f.done:
			return
		default:
		}
		// A seed named by host name never matches a member's address and
		// is joined every time: a push/pull with a member, harmless.
		if n, err := f.ml.Join([]string{seed}); n > 0 {
			f.log.Info("reconnected to a fleet seed", "seed", seed)
		} else {
			f.log.Debug("fleet seed did not answer", "seed", seed, "err", err)
		}
	}
}

// canonicalAddr writes an "ip:port" as memberlist's Node.Address does.
func canonicalAddr(addr string) string {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(h); ip != nil {
		h = ip.String()
	}
	return net.JoinHostPort(h, p)
}

// jitter is d scaled by a random factor in [0.75, 1.25).
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.75 + rand.Float64()/2))
}

// Load reports: one best-effort datagram to each member every LoadInterval.
const msgLoad byte = 1

func encodeLoad(seq uint64, load int64, name string) []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(name))
	b = append(b, msgLoad)
	b = binary.AppendUvarint(b, seq)
	b = binary.AppendVarint(b, load)
	return append(b, name...)
}

func decodeLoad(b []byte) (seq uint64, load int64, name string, ok bool) {
	if len(b) < 1 || b[0] != msgLoad {
		return 0, 0, "", false
	}
	b = b[1:]
	seq, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, 0, "", false
	}
	b = b[n:]
	load, n = binary.Varint(b)
	if n <= 0 || len(b) == n {
		return 0, 0, "", false
	}
	return seq, load, string(b[n:]), true
}

func (f *Fleet) loadLoop() {
	defer f.wg.Done()
	t := time.NewTicker(f.cfg.LoadInterval)
	defer t.Stop()
	for {
		select {
		case <-f.done:
			return
		case <-t.C:
		}
		v := f.view.Load()
		msg := encodeLoad(f.loadSeq.Add(1), f.inflight.Load(), f.name)
		for i, n := range v.nodes {
			if v.members[i].Local {
				continue
			}
			if err := f.ml.SendBestEffort(n, msg); err != nil {
				f.log.Debug("send load report", "to", n.Name, "err", err)
			}
		}
		if f.cfg.Observer {
			continue // the others' reports are what it came for; its own is 0
		}
		for _, n := range v.observers {
			if n.Name == f.name {
				continue
			}
			if err := f.ml.SendBestEffort(n, msg); err != nil {
				f.log.Debug("send load report", "to", n.Name, "err", err)
			}
		}
	}
}

// receiveLoad records a member's report if it is newer than the last one.
func (f *Fleet) receiveLoad(b []byte) {
	seq, load, name, ok := decodeLoad(b)
	if !ok || name == f.name {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.cells[name]
	if c == nil || seq <= c.seq { // not a member (yet, or any more), or reordered
		return
	}
	c.seq = seq
	c.load.Store(load)
	c.at.Store(time.Now().UnixNano())
}

// upsert records a joined or updated member. Caller holds f.mu.
func (f *Fleet) upsert(n *memberlist.Node) {
	cp := *n
	cp.Meta = append([]byte(nil), n.Meta...)
	f.nodes[n.Name] = &cp
	if f.cells[n.Name] == nil {
		f.cells[n.Name] = &loadCell{}
	}
	f.rebuild()
}

// remove forgets a dead or departed member. Caller holds f.mu.
func (f *Fleet) remove(name string) {
	delete(f.nodes, name)
	delete(f.cells, name)
	f.rebuild()
}

// rebuild publishes a new view from f.nodes. Caller holds f.mu.
func (f *Fleet) rebuild() {
	names := make([]string, 0, len(f.nodes))
	for name := range f.nodes {
		names = append(names, name)
	}
	sort.Strings(names)
	old := f.view.Load()
	known := make(map[string]bool, len(old.members))
	for _, m := range old.members {
		known[m.Name] = true
	}
	joined := false
	v := &view{}
	for _, name := range names {
		n := f.nodes[name]
		var md meta
		err := json.Unmarshal(n.Meta, &md)
		if err == nil && md.Observer {
			v.observers = append(v.observers, n) // owns nothing, silently
			continue
		}
		if err != nil || md.HTTP == "" {
			// A member we cannot forward to owns nothing.
			f.log.Warn("fleet member without an HTTP address; not routing to it", "name", name, "err", err)
			continue
		}
		v.members = append(v.members, Member{Name: name, HTTPAddr: md.HTTP, GossipAddr: n.Address(), Local: name == f.name, hopKey: md.Hop})
		v.nodes = append(v.nodes, n)
		v.cells = append(v.cells, f.cells[name])
		v.seeds = append(v.seeds, memberSeed(name))
		v.weights = append(v.weights, 1)
		joined = joined || !known[name]
	}
	if joined {
		f.lastJoin.Store(time.Now().UnixNano())
	}
	f.view.Store(v)
}

// LastJoin is when a member (this edge included, at its own join) last
// entered this edge's view of the routable fleet; zero before any did. For a
// while after it, a key's owner may be new and its result still on the
// member that owned it before (the next in Rank): the edge asks that one
// before computing.
func (f *Fleet) LastJoin() time.Time {
	if ns := f.lastJoin.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// delegate is memberlist's hook for metadata and user messages. memberlist
// calls it from its packet handler: nothing here blocks.
type delegate struct{ f *Fleet }

func (d delegate) NodeMeta(limit int) []byte {
	if len(d.f.meta) > limit {
		return nil // Validate keeps the URL short enough; not reached
	}
	return d.f.meta
}
func (d delegate) NotifyMsg(b []byte)              { d.f.receiveLoad(b) }
func (d delegate) GetBroadcasts(_, _ int) [][]byte { return nil }
func (d delegate) LocalState(bool) []byte          { return nil }
func (d delegate) MergeRemoteState([]byte, bool)   {}

// events keeps f.nodes from memberlist's membership changes. memberlist
// holds its node lock while calling these, so they must not call back into it.
type events struct{ f *Fleet }

func (e events) NotifyJoin(n *memberlist.Node) {
	e.f.mu.Lock()
	defer e.f.mu.Unlock()
	e.f.upsert(n)
	if n.Name != e.f.name {
		e.f.log.Info("fleet member joined", "name", n.Name, "gossip", n.Address())
	}
}

func (e events) NotifyUpdate(n *memberlist.Node) {
	e.f.mu.Lock()
	defer e.f.mu.Unlock()
	e.f.upsert(n)
}

func (e events) NotifyLeave(n *memberlist.Node) {
	e.f.mu.Lock()
	defer e.f.mu.Unlock()
	e.f.remove(n.Name)
	e.f.log.Info("fleet member gone", "name", n.Name, "gossip", n.Address())
}

// memberlistLog turns memberlist's "[LEVEL] memberlist: message" lines into
// debug records: its warnings and errors are routine during a member's death
// (failed pings, refused gossip), and the fleet logs the outcome itself.
type memberlistLog struct{ log *slog.Logger }

func (w memberlistLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := ""
	if strings.HasPrefix(msg, "[") {
		if i := strings.IndexByte(msg, ']'); i > 0 {
			level, msg = msg[1:i], strings.TrimSpace(msg[i+1:])
		}
	}
	msg = strings.TrimPrefix(msg, "memberlist: ")
	w.log.Debug(msg, "memberlist_level", level)
	return len(p), nil
}
