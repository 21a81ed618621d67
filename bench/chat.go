package bench

// Chat benchmark (issue #11): messages a second end to end, from the send
// request to the frame on every recipient's socket, through mediaedge's
// chat service (social/chat) on the embedded store and on Cassandra, with
// Centrifugo v6 carrying the same messages to the same sockets as the
// transport reference. The goal: direct messages at 5k/s on one box with a
// p99 of 100 ms or less.
//
// Shape, the same on every target. Users accounts, one socket each (socket
// i is user i). Directs direct conversations between distinct pairs of
// those users, spread evenly (pairs (i, i+1), then (i, i+2), ...), and one
// group of the first GroupSize users. Two workloads, one after the other:
//
//   - direct: message k goes into direct k%Directs, from its two members
//     in turn, offered open-loop at Rate for Duration. It is delivered when
//     it reached both members' sockets (the sender's own socket gets it
//     too, as a second device would).
//   - group: message k goes into the group from member k%GroupSize, at
//     GroupRate for Duration; delivered when on all GroupSize sockets.
//
// A message's latency is from just before its send request to the frame
// on the last of its recipients' sockets, so it includes the request (on
// mediaedge: the store write and the outbox; then the relay, JetStream,
// the ordered delivery and the per-user update streams). Sends are offered
// at their scheduled times by at most Senders requests in flight; when the
// server answers slower than that the schedule slips and the achieved
// rate is printed next to the offered one. A message not on every
// recipient's socket Grace after the last send is lost. Every frame is
// checked: a second copy on a socket is a duplicate, one on a socket that
// is not a member's is wrong.
//
// Mediaedge targets: `mediaedge serve` on 127.0.0.1 with the per-user send
// limit lifted (--chat-send-rate 1000000); accounts are made as in the ws
// bench (argon2 sign-ups, 4 at once, 429/503 retried), conversations
// through POST /v1/conversations, messages through POST
// /v1/conversations/{id}/messages {client_msg_id, text}; the frame is
// recognised by its data.client_msg_id. On Cassandra the bench applies the
// schema to a fresh keyspace (bench_chat_<random>) and drops it at the end.
//
// Centrifugo: each socket is subscribed server-side to its user's personal
// channel "personal:#u<N>" with history (newWSCentrifugo's config), and a
// message is one POST /api/broadcast to its recipients' personal channels.
// Design note: the alternative was /api/publish to one channel per
// conversation, every member's socket subscribed to all of its
// conversations' channels server-side. That is one history entry per
// message where mediaedge writes one update per recipient: mediaedge
// delivers a message into each member's own update stream (what a
// reconnecting client resumes from, one cursor per user, not one per
// conversation). Broadcast to personal channels with history does the same
// work per recipient (an append to each recipient's history and a frame to
// each socket) for the same number of subscribers, so the ratio compares
// the fan-out and transport, not two data models. It is still only the
// transport: Centrifugo stores no conversation, no seq, no chat list.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"
)

// ChatConfig configures the chat benchmark.
type ChatConfig struct {
	Mediaedge string // the mediaedge binary (required)
	// Centrifugo is the centrifugo binary (reference); "" runs without it.
	Centrifugo string
	// CassandraHosts are the contact points for the Cassandra run; empty
	// skips it (the report says so).
	CassandraHosts []string
	// Users are the accounts, one socket each (each an argon2 sign-up and
	// login on mediaedge, ~0.3 s of a core apiece).
	Users int
	// Directs is the number of direct conversations, each a distinct pair
	// of users (at most Users x (Users-1) / 2).
	Directs int
	// GroupSize is the group's members, users 0..GroupSize-1 (2..Users, at
	// most 1000, the service's default member cap).
	GroupSize int
	// Rate is the direct messages offered per second, GroupRate the group
	// messages; each workload runs for Duration.
	Rate, GroupRate int
	Duration        time.Duration
	// WarmUp runs each workload this long, unmeasured, before its
	// measured run (connections dialed, caches and buffers grown); 0
	// skips it.
	WarmUp time.Duration
	// Senders bounds the send requests in flight.
	Senders int
	// Grace is how long after the last send a message may still arrive
	// before it counts as lost.
	Grace time.Duration
	// RequestTimeout bounds every request the bench makes (retries of 429
	// and 503 included).
	RequestTimeout time.Duration
	// Dir for the servers' data and Centrifugo's config; "" = a temp folder.
	Dir string
}

// DefaultChatConfig is the run: 100 users, 1,000 directs at 5k/s
// and a group of 100 at 50/s, 10 s each.
func DefaultChatConfig() ChatConfig {
	return ChatConfig{Users: 100, Directs: 1000, GroupSize: 100, Rate: 5000, GroupRate: 50,
		Duration: 10 * time.Second, WarmUp: time.Second, Senders: 128, Grace: 10 * time.Second, RequestTimeout: 30 * time.Second}
}

// Validate reports every problem at once.
func (c ChatConfig) Validate() error {
	var errs []error
	if c.Mediaedge == "" {
		errs = append(errs, errors.New("chat benchmark: the mediaedge binary is required"))
	}
	if c.Users < 2 {
		errs = append(errs, fmt.Errorf("chat benchmark: users %d: want 2 or more", c.Users))
	}
	if most := c.Users * (c.Users - 1) / 2; c.Directs < 1 || c.Directs > most {
		errs = append(errs, fmt.Errorf("chat benchmark: directs %d: want 1..%d (distinct pairs of %d users)", c.Directs, max(most, 1), c.Users))
	}
	if c.GroupSize < 2 || c.GroupSize > c.Users || c.GroupSize > 1000 {
		errs = append(errs, fmt.Errorf("chat benchmark: group size %d: want 2..min(users, 1000)", c.GroupSize))
	}
	if c.Rate < 1 || c.GroupRate < 1 || c.Senders < 1 {
		errs = append(errs, errors.New("chat benchmark: want rate, group rate and senders of 1 or more"))
	}
	if c.Duration <= 0 || c.Grace <= 0 || c.RequestTimeout <= 0 || c.WarmUp < 0 {
		errs = append(errs, errors.New("chat benchmark: want a positive duration, grace and request timeout, and no negative warm-up"))
	}
	return errors.Join(errs...)
}

// ChatRun is one workload on one target.
type ChatRun struct {
	Workload   string // "direct" or "group"
	Recipients int    // sockets each message must reach
	// Messages were accepted by the server; Failed were answered with an
	// error (or not at all) and are not counted further; Retries are the
	// requests sent again as the server asked (429, 503, 409 in progress).
	Messages, Failed, Retries int
	// SentPerSec is accepted messages over the time until the last answer.
	OfferedPerSec, SentPerSec float64
	// Frames are message frames on a recipient's socket, first copy only;
	// Dups are further copies, Wrong frames on a non-member's socket.
	Frames, Dups, Wrong int
	// Lost messages were not on every recipient's socket Grace after the
	// last send.
	Lost int
	// Latency of the delivered messages, until the last recipient.
	P50, P99, Max time.Duration
	// FirstErr is the first failed send's error ("" when none failed).
	FirstErr string
}

// ChatTarget is one server's measurements.
type ChatTarget struct {
	Name          string
	Direct, Group ChatRun
}

// ChatGoal is issue #11's bar: direct p99 at most 100 ms at 5k messages/s.
const (
	ChatGoalRate = 5000
	ChatGoalP99  = 100 * time.Millisecond
)

// Goal says whether t's direct run met ChatGoal, and why not.
func (t ChatTarget) Goal() (met bool, why string) {
	d := t.Direct
	switch {
	case d.OfferedPerSec < ChatGoalRate:
		return false, fmt.Sprintf("not tested: offered %.0f/s, the goal is at %d/s", d.OfferedPerSec, ChatGoalRate)
	case d.SentPerSec < 0.95*ChatGoalRate:
		return false, fmt.Sprintf("not met: achieved %.0f/s of %d/s", d.SentPerSec, ChatGoalRate)
	case d.Failed > 0 || d.Lost > 0:
		return false, fmt.Sprintf("not met: %d failed, %d lost", d.Failed, d.Lost)
	case d.P99 > ChatGoalP99:
		return false, fmt.Sprintf("not met: p99 %s > %s", d.P99.Round(time.Millisecond), ChatGoalP99)
	}
	return true, fmt.Sprintf("met: p99 %s at %.0f/s", d.P99.Round(100*time.Microsecond), d.SentPerSec)
}

// ChatReport is the result.
type ChatReport struct {
	Embedded  ChatTarget
	Cassandra *ChatTarget // nil when skipped (no hosts)
	Ref       *ChatTarget // Centrifugo; nil without its binary
}

// Ratio is the embedded store's direct p99 over Centrifugo's (lower is
// better); 0 without the reference.
func (r ChatReport) Ratio() float64 {
	if r.Ref == nil || r.Ref.Direct.P99 <= 0 {
		return 0
	}
	return float64(r.Embedded.Direct.P99) / float64(r.Ref.Direct.P99)
}

// chatServer is what the benchmark needs of a server under test.
type chatServer interface {
	// open dials user i's socket and returns once it is live.
	open(ctx context.Context, i int, hc *http.Client) (*websocket.Conn, error)
	// keys reads the message keys of one frame; it may answer the frame.
	keys(ctx context.Context, c *websocket.Conn, frame []byte) []string
	// send sends message key into conversation conv as user from; retries
	// is how many times it asked again as the server told it to.
	send(ctx context.Context, conv, from int, key, text string) (retries int, err error)
}

// chatLayout is who is in which conversation: convs[0:Directs] are the
// directs, convs[Directs] the group; each a list of user (socket) indexes.
type chatLayout struct {
	convs [][]int
	group int
}

func newChatLayout(cfg ChatConfig) chatLayout {
	l := chatLayout{group: cfg.Directs}
	// Pairs (i, i+d mod Users) for d = 1, 2, ...: each user gets two more
	// directs per round, and no pair comes twice (for d = Users/2 the
	// second half would repeat the first).
	for d := 1; len(l.convs) < cfg.Directs; d++ {
		for i := 0; i < cfg.Users && len(l.convs) < cfg.Directs; i++ {
			if 2*d == cfg.Users && i >= d {
				break
			}
			l.convs = append(l.convs, []int{i, (i + d) % cfg.Users})
		}
	}
	g := make([]int, cfg.GroupSize)
	for i := range g {
		g[i] = i
	}
	l.convs = append(l.convs, g)
	return l
}

// Chat runs the benchmark and prints a table to out.
func Chat(ctx context.Context, cfg ChatConfig, out io.Writer) (ChatReport, error) {
	var rep ChatReport
	if err := cfg.Validate(); err != nil {
		return rep, err
	}
	if _, err := raiseNoFile(uint64(2*cfg.Users+2*cfg.Senders) + 1024); err != nil {
		return rep, err
	}
	dir, cleanup, err := benchDir(cfg.Dir)
	if err != nil {
		return rep, err
	}
	defer cleanup()
	lay := newChatLayout(cfg)
	// Sign-ups come from several source addresses: mediaedge allows one
	// address 30 at once, then one a second.
	clients := wsClients(min(max((cfg.Users+24)/25, 1), 64))

	me, err := newChatMediaedge(ctx, cfg, lay, filepath.Join(dir, "embedded"), clients)
	if err != nil {
		return rep, fmt.Errorf("mediaedge (embedded): %w", err)
	}
	rep.Embedded, err = chatTargetRun(ctx, cfg, lay, "mediaedge embedded", me, clients)
	me.p.Stop()
	if err != nil {
		return rep, fmt.Errorf("mediaedge (embedded): %w", err)
	}
	if len(cfg.CassandraHosts) > 0 {
		t, err := chatCassandra(ctx, cfg, lay, filepath.Join(dir, "cassandra"), clients)
		if err != nil {
			return rep, fmt.Errorf("mediaedge (cassandra): %w", err)
		}
		rep.Cassandra = &t
	}
	if cfg.Centrifugo != "" {
		cf, err := newChatCentrifugo(ctx, cfg, lay, filepath.Join(dir, "centrifugo"))
		if err != nil {
			return rep, err
		}
		t, err := chatTargetRun(ctx, cfg, lay, "centrifugo v6", cf, clients)
		cf.p.Stop()
		if err != nil {
			return rep, fmt.Errorf("centrifugo: %w", err)
		}
		rep.Ref = &t
	}
	printChat(out, cfg, rep)
	return rep, nil
}

// chatCassandra runs mediaedge on a fresh keyspace and drops it after.
func chatCassandra(ctx context.Context, cfg ChatConfig, lay chatLayout, dir string, clients []*http.Client) (ChatTarget, error) {
	ks, drop, err := freshKeyspace(ctx, cfg.CassandraHosts, "bench_chat_")
	if err != nil {
		return ChatTarget{}, err
	}
	defer drop()
	me, err := newChatMediaedge(ctx, cfg, lay, dir, clients,
		"--store", "cassandra", "--cassandra-hosts", strings.Join(cfg.CassandraHosts, ","), "--cassandra-keyspace", ks)
	if err != nil {
		return ChatTarget{}, err
	}
	defer me.p.Stop()
	return chatTargetRun(ctx, cfg, lay, "mediaedge cassandra", me, clients)
}

// chatTargetRun opens one socket per user, then runs the direct and the
// group workloads.
func chatTargetRun(ctx context.Context, cfg ChatConfig, lay chatLayout, name string, s chatServer, clients []*http.Client) (ChatTarget, error) {
	t := ChatTarget{Name: name}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	var cur atomic.Pointer[chatTracker] // the running workload's
	cur.Store(newChatTracker(cfg.Users))
	conns := make([]*websocket.Conn, cfg.Users)
	var readers sync.WaitGroup
	defer func() {
		stop()
		for _, c := range conns {
			if c != nil {
				c.CloseNow()
			}
		}
		readers.Wait()
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range conns {
		g.Go(func() error {
			octx, cancel := context.WithTimeout(gctx, cfg.RequestTimeout)
			defer cancel()
			c, err := s.open(octx, i, clients[i%len(clients)])
			if err != nil {
				return fmt.Errorf("socket of user %d: %w", i, err)
			}
			conns[i] = c
			readers.Add(1)
			go func() {
				defer readers.Done()
				for {
					_, b, err := c.Read(rctx)
					if err != nil {
						return
					}
					for _, k := range s.keys(rctx, c, b) {
						cur.Load().received(k, i)
					}
				}
			}()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return t, err
	}
	directs, members := len(lay.convs)-1, lay.convs[lay.group]
	for _, w := range []struct {
		run        *ChatRun
		name       string
		rate, recp int
		pick       func(k int) (conv, from int)
	}{
		{&t.Direct, "direct", cfg.Rate, 2, func(k int) (int, int) {
			conv := k % directs
			return conv, lay.convs[conv][(k/directs)%2]
		}},
		{&t.Group, "group", cfg.GroupRate, len(members), func(k int) (int, int) {
			return lay.group, members[k%len(members)]
		}},
	} {
		if cfg.WarmUp > 0 {
			if _, err := chatLoad(ctx, cfg, s, &cur, "warm-"+w.name, w.rate, cfg.WarmUp, w.recp, w.pick, lay); err != nil {
				return t, fmt.Errorf("warm-up: %w", err)
			}
		}
		var err error
		if *w.run, err = chatLoad(ctx, cfg, s, &cur, w.name, w.rate, cfg.Duration, w.recp, w.pick, lay); err != nil {
			return t, err
		}
	}
	return t, nil
}

// chatLoad offers rate messages a second for dur, message k into the
// conversation pick(k) from its sender, then waits up to cfg.Grace for the
// last ones to arrive. Keys are the workload's name and k, so every run's
// client_msg_ids are new.
func chatLoad(ctx context.Context, cfg ChatConfig, s chatServer, cur *atomic.Pointer[chatTracker],
	workload string, rate int, dur time.Duration, recipients int, pick func(k int) (conv, from int), lay chatLayout) (ChatRun, error) {
	r := ChatRun{Workload: workload, Recipients: recipients, OfferedPerSec: float64(rate)}
	tr := newChatTracker(cfg.Users)
	cur.Store(tr)
	n := int(float64(rate) * dur.Seconds())
	jobs := make(chan int)
	var failed, retries atomic.Int64
	var firstErr atomic.Value // string
	var wg sync.WaitGroup
	for range min(cfg.Senders, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range jobs {
				conv, from := pick(k)
				key := workload + "-" + strconv.Itoa(k)
				text := "chat bench message " + key + ": the quick brown fox jumps over the lazy dog"
				tr.sent(key, lay.convs[conv])
				sctx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
				n, err := s.send(sctx, conv, from, key, text)
				cancel()
				retries.Add(int64(n))
				if err != nil {
					tr.forget(key)
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s message %d: %v", workload, k, err))
				}
			}
		}()
	}
	start := time.Now()
	end := start.Add(dur)
	interval := time.Second / time.Duration(rate)
	offered := 0
dispatch:
	for k := range n {
		if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				break dispatch
			}
		}
		if time.Now().After(end) {
			break // the senders fell behind: the rest is not offered
		}
		select {
		case jobs <- k:
			offered++
		case <-ctx.Done():
			break dispatch
		}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return r, err
	}
	r.Failed, r.Retries = int(failed.Load()), int(retries.Load())
	r.Messages = offered - r.Failed
	r.SentPerSec = float64(r.Messages) / elapsed.Seconds()
	if r.Failed > 0 {
		r.FirstErr = firstErr.Load().(string)
		if r.Messages == 0 {
			return r, fmt.Errorf("every send failed, first: %s", r.FirstErr)
		}
	}
	tr.wait(ctx, cfg.Grace)
	d, frames, dups, wrong, pending := tr.result()
	r.Frames, r.Dups, r.Wrong, r.Lost = frames, dups, wrong, pending
	if len(d) > 0 {
		r.P50, r.P99, r.Max = evPct(d, 50), evPct(d, 99), d[len(d)-1]
	}
	return r, nil
}

// chatTracker pairs one workload's sends with the frames on the sockets.
type chatTracker struct {
	sockets int
	mu      sync.Mutex
	msgs    map[string]*chatMsg // guarded by mu
	pending int                 // messages not yet on every recipient; guarded by mu
	lat     []time.Duration     // completed messages; guarded by mu
	// Counters of frames; guarded by mu.
	frames, dups, wrong int
}

type chatMsg struct {
	sent    time.Time
	members []int    // recipient sockets (shared, read-only)
	got     []uint64 // bit per socket that has it
	left    int      // recipients still to receive it
}

func newChatTracker(sockets int) *chatTracker {
	return &chatTracker{sockets: sockets, msgs: map[string]*chatMsg{}}
}

func (t *chatTracker) sent(key string, members []int) {
	m := &chatMsg{members: members, got: make([]uint64, (t.sockets+63)/64), left: len(members)}
	t.mu.Lock()
	t.msgs[key] = m
	t.pending++
	m.sent = time.Now()
	t.mu.Unlock()
}

// forget drops a message whose send failed; frames of it that come
// anyway are ignored.
func (t *chatTracker) forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m, ok := t.msgs[key]; ok {
		if m.left > 0 {
			t.pending--
		}
		delete(t.msgs, key)
	}
}

func (t *chatTracker) received(key string, sock int) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.msgs[key]
	if !ok {
		return // another workload's, or a failed send's
	}
	if !slices.Contains(m.members, sock) {
		t.wrong++
		return
	}
	w, bit := sock/64, uint64(1)<<(sock%64)
	if m.got[w]&bit != 0 {
		t.dups++
		return
	}
	m.got[w] |= bit
	t.frames++
	if m.left--; m.left == 0 {
		t.pending--
		t.lat = append(t.lat, now.Sub(m.sent))
	}
}

// wait returns once every message is delivered, or after grace.
func (t *chatTracker) wait(ctx context.Context, grace time.Duration) {
	for deadline := time.Now().Add(grace); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(10 * time.Millisecond) {
		t.mu.Lock()
		p := t.pending
		t.mu.Unlock()
		if p == 0 {
			return
		}
	}
}

func (t *chatTracker) result() (lat []time.Duration, frames, dups, wrong, pending int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	lat = slices.Clone(t.lat)
	slices.Sort(lat)
	return lat, t.frames, t.dups, t.wrong, t.pending
}

// --- mediaedge ---

// chatMediaedge is the ws bench's mediaedge client (accounts, calls,
// sockets) with conversations and the chat frames.
type chatMediaedge struct {
	*wsMediaedge
	convs []string // conversation ids, as chatLayout.convs
}

// newChatMediaedge starts mediaedge (extra: store flags), makes the
// accounts and the conversations.
func newChatMediaedge(ctx context.Context, cfg ChatConfig, lay chatLayout, dir string, clients []*http.Client, extra ...string) (*chatMediaedge, error) {
	args := append([]string{"--chat-send-rate", "1000000", "--chat-max-members", strconv.Itoa(cfg.GroupSize)}, extra...)
	p, err := startMediaedge(ctx, cfg.Mediaedge, dir, benchToken, args...)
	if err != nil {
		return nil, err
	}
	m := &chatMediaedge{wsMediaedge: &wsMediaedge{p: p,
		api: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: max(64, cfg.Senders)}, Timeout: cfg.RequestTimeout}}}
	if err := m.setUp(ctx, cfg, lay, clients); err != nil {
		p.Stop()
		return nil, err
	}
	return m, nil
}

func (m *chatMediaedge) setUp(ctx context.Context, cfg ChatConfig, lay chatLayout, clients []*http.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	m.users = make([]wsAccount, cfg.Users)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4) // the server hashes 2 x cores at once and sheds waiters after 5 s
	for i := range m.users {
		g.Go(func() error {
			a, err := m.account(gctx, clients[i%len(clients)], fmt.Sprintf("chu%d", i))
			m.users[i] = a
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	m.convs = make([]string, len(lay.convs))
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(8)
	for c, members := range lay.convs {
		g.Go(func() error {
			in := map[string]any{"member_ids": m.ids(members[1:])}
			if c == lay.group {
				in["title"] = "chat bench group"
			}
			var out struct{ ID string }
			if err := m.call(gctx, m.api, "POST", "/v1/conversations", m.users[members[0]].token, in, http.StatusCreated, &out); err != nil {
				return fmt.Errorf("conversation %d: %w", c, err)
			}
			m.convs[c] = out.ID
			return nil
		})
	}
	return g.Wait()
}

func (m *chatMediaedge) ids(users []int) []string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = m.users[u].id
	}
	return out
}

// keys: a message update's client_msg_id, which the bench chose before
// the send (the message id is known only from the answer, which can come
// after the frames).
func (m *chatMediaedge) keys(_ context.Context, _ *websocket.Conn, b []byte) []string {
	var f struct {
		Type, Kind string
		Data       struct {
			ClientMsgID string `json:"client_msg_id"`
		}
	}
	if json.Unmarshal(b, &f) != nil || f.Type != "update" || f.Kind != "message" {
		return nil
	}
	return []string{f.Data.ClientMsgID}
}

// send posts the message and, like a client should, retries with the same
// client_msg_id what the API says to retry: 429, 503, and 409
// send_in_progress (an earlier attempt of unknown outcome is still within
// its deadline); a retry's 200 (the message an earlier attempt stored) is
// a success too. (ws.go's call retries only 429 and 503, wants one status.)
func (m *chatMediaedge) send(ctx context.Context, conv, from int, key, text string) (int, error) {
	body, _ := json.Marshal(map[string]string{"client_msg_id": key, "text": text})
	path := "/v1/conversations/" + m.convs[conv] + "/messages"
	for try := 0; ; try++ {
		req, err := http.NewRequestWithContext(ctx, "POST", m.p.Base+path, bytes.NewReader(body))
		if err != nil {
			return try, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+m.users[from].token)
		resp, err := m.api.Do(req)
		if err != nil {
			return try, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch c := resp.StatusCode; {
		case c == http.StatusCreated || c == http.StatusOK:
			return try, nil
		case c == http.StatusTooManyRequests || c == http.StatusServiceUnavailable ||
			c == http.StatusConflict && bytes.Contains(b, []byte(`"send_in_progress"`)):
			wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			select {
			case <-time.After(time.Duration(max(wait, 1)) * time.Second):
			case <-ctx.Done():
				return try, fmt.Errorf("POST %s: %w (last answer %s: %s)", path, ctx.Err(), resp.Status, b)
			}
		default:
			return try, fmt.Errorf("POST %s: %s: %s", path, resp.Status, b)
		}
	}
}

// --- Centrifugo ---

// chatCentrifugo is the ws bench's Centrifugo (personal channels with
// history, sockets, frame parsing) with broadcast sends.
type chatCentrifugo struct {
	*wsCentrifugo
	chans [][]string // the recipients' personal channels, as chatLayout.convs
}

func newChatCentrifugo(ctx context.Context, cfg ChatConfig, lay chatLayout, dir string) (*chatCentrifugo, error) {
	cf, err := newWSCentrifugo(ctx, WSConfig{Centrifugo: cfg.Centrifugo, Users: cfg.Users}, dir)
	if err != nil {
		return nil, err
	}
	cf.api.Timeout = cfg.RequestTimeout
	cf.api.Transport = &http.Transport{MaxIdleConnsPerHost: max(64, cfg.Senders)}
	c := &chatCentrifugo{wsCentrifugo: cf, chans: make([][]string, len(lay.convs))}
	for i, members := range lay.convs {
		for _, u := range members {
			c.chans[i] = append(c.chans[i], "personal:#u"+strconv.Itoa(u))
		}
	}
	return c, nil
}

// send is one /api/broadcast to the members' personal channels; the data
// carries the key and the same text mediaedge gets.
func (c *chatCentrifugo) send(ctx context.Context, conv, from int, key, text string) (int, error) {
	body, _ := json.Marshal(map[string]any{"channels": c.chans[conv],
		"data": map[string]string{"k": key, "sender": "u" + strconv.Itoa(from), "text": text}})
	req, err := http.NewRequestWithContext(ctx, "POST", c.p.Base+"/api/broadcast", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", c.apiKey)
	resp, err := c.api.Do(req)
	if err != nil {
		return 0, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var r struct {
		Error  json.RawMessage `json:"error"`
		Result struct {
			Responses []struct {
				Error json.RawMessage `json:"error"`
			} `json:"responses"`
		} `json:"result"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &r) != nil || len(r.Error) > 0 || len(r.Result.Responses) != len(c.chans[conv]) {
		return 0, fmt.Errorf("broadcast: %s: %s", resp.Status, b)
	}
	for _, x := range r.Result.Responses {
		if len(x.Error) > 0 {
			return 0, fmt.Errorf("broadcast: %s", b)
		}
	}
	return 0, nil
}

func printChat(out io.Writer, cfg ChatConfig, rep ChatReport) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "chat: %d users, one socket each; %d direct conversations at %d msg/s, a group of %d at %d msg/s, %s each after a %s warm-up; latency from the send to the last recipient's socket\n",
		cfg.Users, cfg.Directs, cfg.Rate, cfg.GroupSize, cfg.GroupRate, cfg.Duration, cfg.WarmUp)
	fmt.Fprintln(tw, "target\tworkload\trecipients\tmsgs\toffered/s\tsent/s\tretried\tfailed\tframes\tdup\twrong\tlost\tp50\tp99\tmax")
	row := func(t ChatTarget) {
		for _, r := range []ChatRun{t.Direct, t.Group} {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0f\t%.0f\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n",
				t.Name, r.Workload, r.Recipients, r.Messages, r.OfferedPerSec, r.SentPerSec, r.Retries, r.Failed,
				r.Frames, r.Dups, r.Wrong, r.Lost,
				r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), r.Max.Round(time.Millisecond))
		}
	}
	row(rep.Embedded)
	if rep.Cassandra != nil {
		row(*rep.Cassandra)
	}
	if rep.Ref != nil {
		row(*rep.Ref)
	}
	tw.Flush()
	// The summary aligns on its own, not with the table's first column.
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if rep.Cassandra == nil {
		fmt.Fprintln(tw, "mediaedge cassandra: skipped (no hosts: --chat-cassandra-hosts or MEDIAEDGE_CASSANDRA)")
	}
	if rep.Ref != nil {
		fmt.Fprintf(tw, "direct p99 ratio (embedded/centrifugo, lower is better)\t%.2fx\n", rep.Ratio())
		if rep.Cassandra != nil && rep.Ref.Direct.P99 > 0 {
			fmt.Fprintf(tw, "direct p99 ratio (cassandra/centrifugo)\t%.2fx\n", float64(rep.Cassandra.Direct.P99)/float64(rep.Ref.Direct.P99))
		}
		if rep.Ref.Group.P99 > 0 {
			fmt.Fprintf(tw, "group p99 ratio (embedded/centrifugo)\t%.2fx\n", float64(rep.Embedded.Group.P99)/float64(rep.Ref.Group.P99))
		}
	} else {
		fmt.Fprintln(tw, "centrifugo: not run (no binary: set CENTRIFUGO_BIN; scripts/install-deps.sh bench builds it)")
	}
	for _, t := range []*ChatTarget{&rep.Embedded, rep.Cassandra} {
		if t != nil {
			_, why := t.Goal()
			fmt.Fprintf(tw, "goal %s (direct p99 <= %s at %d msg/s)\t%s\n", t.Name, ChatGoalP99, ChatGoalRate, why)
		}
	}
	tw.Flush()
	for _, t := range []*ChatTarget{&rep.Embedded, rep.Cassandra, rep.Ref} {
		if t == nil {
			continue
		}
		for _, r := range []ChatRun{t.Direct, t.Group} {
			if r.FirstErr != "" {
				fmt.Fprintf(out, "%s %s: %d sends failed, the first: %s\n", t.Name, r.Workload, r.Failed, r.FirstErr)
			}
		}
	}
}
