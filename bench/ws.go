package bench

// WebSocket benchmark: how many idle sockets a GiB of server RSS holds, and
// publish-to-receive latency with many sockets connected, for mediaedge's
// push gateway (social/push) against Centrifugo v6, same client, same
// machine, same run.
//
// Both servers get the same shape of load. Sockets belong to Users users,
// socket i to user i%Users (an account costs mediaedge an argon2 sign-up
// and a login, ~0.3 s of a core each, so the bench makes a modest number of
// users with many sockets each rather than one user per socket). An event
// is addressed to one user and reaches every socket of that user:
//
//   - mediaedge: follower account f follows user u (PUT /v1/users/@u/follow);
//     the follow event goes through the outbox, JetStream and the fan-out to
//     u's sockets as {"type":"update","kind":"follow","actor":f,...}. A
//     follow happens once per (follower, user) pair, so a run has at most
//     Followers x Users events.
//   - Centrifugo: POST /api/publish to u's personal channel "personal:#u<N>";
//     each socket is subscribed to it server-side on connect
//     (subscribe_to_user_personal_channel, the same "your own updates"
//     model), with history kept like mediaedge's per-user stream
//     (history_size 1000, history_ttl 72h, force_recovery).
//
// Latency is from just before the publishing request (the follow, the
// publish API call) to the frame read on each socket, so it includes the
// request itself. Events are offered open-loop at Rate by 64 senders; when
// a server answers slower than that the achieved rate is lower and is
// printed next to the offered one.
//
// Idle cost: the server's VmRSS before the sockets and with Conns of them
// open and quiet (mediaedge is restarted on its data folder after the
// sign-ups, so argon2's 64 MiB buffers do not sit in the "before"). Bytes
// per socket is the difference over Conns; connections per GiB is a GiB
// over that, the marginal figure the 100k-in-4-GiB goal is about.
// Connections come from 127.0.0.2 upward (one source address per
// SourceAddrs), since one source address runs out of ports near 28k.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"
)

// WSConfig configures the WebSocket benchmark.
type WSConfig struct {
	Mediaedge  string // the mediaedge binary
	Centrifugo string // the centrifugo binary (reference); "" runs mediaedge alone
	// Conns idle sockets are opened on each server for the RSS figure; the
	// bench raises its open-file limit as far as it may and lowers Conns
	// to fit (the report says so).
	Conns int
	// Users own the sockets, Conns/Users each.
	Users int
	// Connected sockets stay open for the latency run (the first ones
	// opened; at most Conns).
	Connected int
	// Followers are the mediaedge accounts whose follows are the events.
	Followers int
	// Rate is the events offered per second, for Duration (capped at
	// Followers x Users events).
	Rate     int
	Duration time.Duration
	// SourceAddrs is how many client addresses (127.0.0.2 up) the sockets
	// are spread over.
	SourceAddrs int
	// Dir for mediaedge's data and Centrifugo's config; "" = a temp folder.
	Dir string
}

// DefaultWSConfig is the CLI's run: 20k idle, 10k connected at 1k events/s.
func DefaultWSConfig() WSConfig {
	return WSConfig{Conns: 20_000, Users: 100, Connected: 10_000, Followers: 100, Rate: 1000,
		Duration: 10 * time.Second, SourceAddrs: 16}
}

// WSTarget is one server's measurements.
type WSTarget struct {
	Name                string
	Conns               int
	OpenTime            time.Duration // opening the Conns sockets
	RSSBefore, RSSAfter int64         // server VmRSS without sockets and with Conns idle
	Connected           int
	Events              int
	OfferedPerSec       float64
	SentPerSec          float64 // events/s achieved
	Delivered, Lost     int     // frames received / expected but not received
	P50, P99, Max       time.Duration
}

// BytesPerConn is the RSS one idle socket adds.
func (t WSTarget) BytesPerConn() float64 {
	return float64(t.RSSAfter-t.RSSBefore) / float64(max(t.Conns, 1))
}

// ConnsPerGiB is how many idle sockets a GiB of RSS holds at that rate.
func (t WSTarget) ConnsPerGiB() float64 {
	if b := t.BytesPerConn(); b > 0 {
		return float64(1<<30) / b
	}
	return 0
}

// WSReport is the result.
type WSReport struct {
	Ours WSTarget
	Ref  *WSTarget // nil without Centrifugo
	// NoFile is the open-file limit the bench ran with; Capped says it
	// lowered Conns to fit.
	NoFile uint64
	Capped bool
}

// Ratio is ours over Centrifugo's connections per GiB.
func (r WSReport) Ratio() float64 {
	if r.Ref == nil || r.Ref.ConnsPerGiB() == 0 {
		return 0
	}
	return r.Ours.ConnsPerGiB() / r.Ref.ConnsPerGiB()
}

// wsServer is what the benchmark needs of a server under test.
type wsServer interface {
	name() string
	pid() int
	// open dials socket i as user i%Users from local and returns once it
	// is live (mediaedge: ready; Centrifugo: connect reply).
	open(ctx context.Context, i int, hc *http.Client) (*websocket.Conn, error)
	// keys reads the event keys of one frame; it may answer the frame.
	keys(ctx context.Context, c *websocket.Conn, frame []byte) []string
	// event k: the user it reaches, its key, and the request that makes it.
	event(k int) (user int, key string, send func(ctx context.Context) error)
	maxEvents() int
}

// WS runs the benchmark and prints a table to out.
func WS(ctx context.Context, cfg WSConfig, out io.Writer) (WSReport, error) {
	var rep WSReport
	if cfg.Mediaedge == "" {
		return rep, errors.New("ws benchmark: the mediaedge binary is required")
	}
	if cfg.Conns < 1 || cfg.Users < 1 || cfg.Followers < 1 || cfg.Rate < 1 || cfg.SourceAddrs < 1 || cfg.SourceAddrs > 250 {
		return rep, errors.New("ws benchmark: want conns, users, followers, rate of 1 or more and 1..250 source addresses")
	}
	cfg.Connected = min(cfg.Connected, cfg.Conns)
	lim, err := raiseNoFile(uint64(cfg.Conns) + 1024)
	if err != nil {
		return rep, err
	}
	rep.NoFile = lim
	if room := int(lim) - 512; cfg.Conns > room {
		cfg.Conns, cfg.Connected, rep.Capped = room, min(cfg.Connected, room), true
	}
	dir, cleanup, err := benchDir(cfg.Dir)
	if err != nil {
		return rep, err
	}
	defer cleanup()
	clients := wsClients(cfg.SourceAddrs)

	me, err := newWSMediaedge(ctx, cfg, filepath.Join(dir, "me"), clients)
	if err != nil {
		return rep, err
	}
	rep.Ours, err = wsRun(ctx, cfg, me, clients)
	me.p.Stop()
	if err != nil {
		return rep, fmt.Errorf("mediaedge: %w", err)
	}
	if cfg.Centrifugo != "" {
		cf, err := newWSCentrifugo(ctx, cfg, filepath.Join(dir, "centrifugo"))
		if err != nil {
			return rep, err
		}
		t, err := wsRun(ctx, cfg, cf, clients)
		cf.p.Stop()
		if err != nil {
			return rep, fmt.Errorf("centrifugo: %w", err)
		}
		rep.Ref = &t
	}
	printWS(out, cfg, rep)
	return rep, nil
}

// raiseNoFile lifts RLIMIT_NOFILE to want (root may raise the hard limit),
// else to the hard limit, and returns the soft limit now in force. The
// servers started afterwards inherit it.
func raiseNoFile(want uint64) (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if l.Cur >= want {
		return l.Cur, nil
	}
	if l.Max < want {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}); err == nil {
			return want, nil
		}
	}
	l.Cur = min(want, l.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("setrlimit: %w", err)
	}
	return l.Cur, nil
}

// wsClients is one HTTP client per source address 127.0.0.2 and up.
func wsClients(n int) []*http.Client {
	out := make([]*http.Client, n)
	for i := range out {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}, Timeout: 10 * time.Second}
		out[i] = &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 16}}
	}
	return out
}

// wsRun opens cfg.Conns idle sockets and reads the server's RSS, closes all
// but cfg.Connected, then offers events at cfg.Rate.
func wsRun(ctx context.Context, cfg WSConfig, s wsServer, clients []*http.Client) (WSTarget, error) {
	t := WSTarget{Name: s.name(), Conns: cfg.Conns, Connected: cfg.Connected}
	time.Sleep(2 * time.Second) // let start-up settle before the baseline
	t.RSSBefore = procStatus(s.pid(), "VmRSS:")

	rctx, stop := context.WithCancel(ctx)
	defer stop()
	lat := &wsLatencies{}
	conns := make([]*websocket.Conn, cfg.Conns)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.CloseNow()
			}
		}
	}()
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := range conns {
		g.Go(func() error {
			octx, cancel := context.WithTimeout(gctx, 30*time.Second)
			defer cancel()
			c, err := s.open(octx, i, clients[i%len(clients)])
			if err != nil {
				return fmt.Errorf("socket %d: %w", i, err)
			}
			conns[i] = c
			go wsRead(rctx, s, c, lat)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return t, err
	}
	t.OpenTime = time.Since(start)
	time.Sleep(3 * time.Second) // idle: the servers' per-socket work is done
	t.RSSAfter = procStatus(s.pid(), "VmRSS:")

	for i := cfg.Connected; i < len(conns); i++ {
		conns[i].Close(websocket.StatusNormalClosure, "")
		conns[i] = nil
	}
	perUser := make([]int, cfg.Users)
	for i := range cfg.Connected {
		perUser[i%cfg.Users]++
	}
	t.Events = min(int(float64(cfg.Rate)*cfg.Duration.Seconds()), s.maxEvents())
	t.OfferedPerSec = float64(cfg.Rate)
	if t.Events == 0 || cfg.Connected == 0 {
		return t, nil
	}
	time.Sleep(time.Second) // the closes are done

	var expected int
	jobs := make(chan int)
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range jobs {
				_, key, send := s.event(k)
				lat.sent(key)
				if err := send(ctx); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	start = time.Now()
	interval := time.Second / time.Duration(cfg.Rate)
	for k := range t.Events {
		u, _, _ := s.event(k)
		expected += perUser[u]
		if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
			time.Sleep(d)
		}
		jobs <- k
	}
	close(jobs)
	wg.Wait()
	t.SentPerSec = float64(t.Events) / time.Since(start).Seconds()
	if f := failed.Load(); f > 0 {
		return t, fmt.Errorf("%d of %d events failed, first: %v", f, t.Events, firstErr.Load())
	}
	deadline := time.Now().Add(15 * time.Second)
	for lat.count() < expected && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	d := lat.sorted()
	t.Delivered, t.Lost = len(d), expected-len(d)
	if len(d) > 0 {
		t.P50, t.P99, t.Max = evPct(d, 50), evPct(d, 99), d[len(d)-1]
	}
	return t, nil
}

// wsRead reads one socket until it closes, timing the events it carries.
func wsRead(ctx context.Context, s wsServer, c *websocket.Conn, lat *wsLatencies) {
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return
		}
		for _, k := range s.keys(ctx, c, b) {
			lat.received(k)
		}
	}
}

// wsLatencies pairs send times with receptions.
type wsLatencies struct {
	sends sync.Map // key -> time.Time
	mu    sync.Mutex
	d     []time.Duration // guarded by mu
}

func (l *wsLatencies) sent(key string) { l.sends.Store(key, time.Now()) }

func (l *wsLatencies) received(key string) {
	now := time.Now()
	v, ok := l.sends.Load(key)
	if !ok {
		return
	}
	l.mu.Lock()
	l.d = append(l.d, now.Sub(v.(time.Time)))
	l.mu.Unlock()
}

func (l *wsLatencies) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}

func (l *wsLatencies) sorted() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := slices.Clone(l.d)
	slices.Sort(d)
	return d
}

// wsDial opens a socket through hc (its source address).
func wsDial(ctx context.Context, url string, hc *http.Client) (*websocket.Conn, error) {
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	return c, nil
}

// --- mediaedge ---

type wsMediaedge struct {
	cfg       WSConfig
	p         *process
	api       *http.Client // sign-ups, tickets and follows come from 127.0.0.1
	users     []wsAccount
	followers []wsAccount
}

type wsAccount struct{ name, id, token string }

// newWSMediaedge starts mediaedge, makes the accounts (each from one of
// the source addresses, whose per-address sign-up limit is 30 at once,
// then one a second), and restarts it so the baseline RSS holds no argon2
// buffers.
func newWSMediaedge(ctx context.Context, cfg WSConfig, dir string, clients []*http.Client) (*wsMediaedge, error) {
	p, err := startMediaedge(ctx, cfg.Mediaedge, dir, benchToken)
	if err != nil {
		return nil, err
	}
	m := &wsMediaedge{cfg: cfg, p: p, api: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute}}
	all := make([]wsAccount, cfg.Users+cfg.Followers)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4) // the server hashes 2 x cores at once and sheds waiters after 5 s
	for i := range all {
		g.Go(func() error {
			name := fmt.Sprintf("wsu%d", i)
			if i >= cfg.Users {
				name = fmt.Sprintf("wsf%d", i-cfg.Users)
			}
			a, err := m.account(gctx, clients[i%len(clients)], name)
			all[i] = a
			return err
		})
	}
	if err := g.Wait(); err != nil {
		p.Stop()
		return nil, err
	}
	m.users, m.followers = all[:cfg.Users], all[cfg.Users:]
	p.Stop()
	if m.p, err = startMediaedge(ctx, cfg.Mediaedge, dir, benchToken); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *wsMediaedge) account(ctx context.Context, hc *http.Client, name string) (wsAccount, error) {
	a := wsAccount{name: name}
	const pw = "a long enough password"
	var u struct{ ID string }
	if err := m.call(ctx, hc, "POST", "/v1/users", "", map[string]string{"username": name, "password": pw, "display_name": name}, http.StatusCreated, &u); err != nil {
		return a, fmt.Errorf("sign up %s: %w", name, err)
	}
	var s struct{ Token string }
	if err := m.call(ctx, hc, "POST", "/v1/sessions", "", map[string]string{"username": name, "password": pw}, http.StatusCreated, &s); err != nil {
		return a, fmt.Errorf("log in %s: %w", name, err)
	}
	a.id, a.token = u.ID, s.Token
	return a, nil
}

// call makes one JSON request, retrying 429 and 503 (the hashing budget).
func (m *wsMediaedge) call(ctx context.Context, hc *http.Client, method, path, token string, in any, want int, out any) error {
	var body []byte
	if in != nil {
		body, _ = json.Marshal(in)
	}
	for try := 0; ; try++ {
		req, err := http.NewRequestWithContext(ctx, method, m.p.Base+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) && try < 60 {
			wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			select {
			case <-time.After(time.Duration(max(wait, 1)) * time.Second):
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		if resp.StatusCode != want {
			return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
		}
		if out != nil {
			return json.Unmarshal(b, out)
		}
		return nil
	}
}

func (m *wsMediaedge) name() string { return "mediaedge" }
func (m *wsMediaedge) pid() int     { return m.p.cmd.Process.Pid }

func (m *wsMediaedge) open(ctx context.Context, i int, hc *http.Client) (*websocket.Conn, error) {
	var tk struct{ Ticket string }
	if err := m.call(ctx, m.api, "POST", "/v1/ws/ticket", m.users[i%len(m.users)].token, nil, http.StatusCreated, &tk); err != nil {
		return nil, err
	}
	c, err := wsDial(ctx, "ws"+strings.TrimPrefix(m.p.Base, "http")+"/v1/ws?ticket="+tk.Ticket, hc)
	if err != nil {
		return nil, err
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"hello"}`)); err != nil {
		c.CloseNow()
		return nil, err
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			c.CloseNow()
			return nil, fmt.Errorf("waiting for ready: %w", err)
		}
		var f struct{ Type string }
		if json.Unmarshal(b, &f) == nil && f.Type == "ready" {
			return c, nil
		}
	}
}

func (m *wsMediaedge) keys(_ context.Context, _ *websocket.Conn, b []byte) []string {
	var f struct {
		Type, Kind, Actor string
		Data              struct {
			UserID string `json:"user_id"`
		}
	}
	if json.Unmarshal(b, &f) != nil || f.Type != "update" || f.Kind != "follow" {
		return nil
	}
	return []string{f.Actor + "/" + f.Data.UserID}
}

// event k: follower k/Users follows user k%Users.
func (m *wsMediaedge) event(k int) (int, string, func(context.Context) error) {
	u, f := m.users[k%len(m.users)], m.followers[k/len(m.users)]
	return k % len(m.users), f.id + "/" + u.id, func(ctx context.Context) error {
		return m.call(ctx, m.api, "PUT", "/v1/users/@"+u.name+"/follow", f.token, nil, http.StatusOK, nil)
	}
}

func (m *wsMediaedge) maxEvents() int { return len(m.users) * len(m.followers) }

// --- Centrifugo ---

type wsCentrifugo struct {
	cfg            WSConfig
	p              *process
	api            *http.Client
	secret, apiKey string
}

func newWSCentrifugo(ctx context.Context, cfg WSConfig, dir string) (*wsCentrifugo, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	c := &wsCentrifugo{cfg: cfg, secret: wsRandHex(), apiKey: wsRandHex(),
		api: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute}}
	conf := map[string]any{
		"client": map[string]any{
			"token":                              map[string]any{"hmac_secret_key": c.secret},
			"allowed_origins":                    []string{"*"},
			"subscribe_to_user_personal_channel": map[string]any{"enabled": true, "personal_channel_namespace": "personal"},
		},
		"channel": map[string]any{"namespaces": []any{map[string]any{
			"name": "personal", "history_size": 1000, "history_ttl": "72h", "force_recovery": true, "allow_user_limited_channels": true,
		}}},
		"http_api": map[string]any{"key": c.apiKey},
		"health":   map[string]any{"enabled": true},
		"log":      map[string]any{"level": "error"},
	}
	b, _ := json.Marshal(conf)
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	p, err := startProcess(ctx, "centrifugo", cfg.Centrifugo, []string{"--config", path,
		"--http_server.address", "127.0.0.1", "--http_server.port", "PORT"}, "/health")
	if err != nil {
		return nil, err
	}
	c.p = p
	return c, nil
}

func wsRandHex() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// token is a connection JWT (HS256) for user u.
func (c *wsCentrifugo) token(u int) string {
	enc := base64.RawURLEncoding
	claims, _ := json.Marshal(map[string]any{"sub": "u" + strconv.Itoa(u), "exp": time.Now().Add(24 * time.Hour).Unix()})
	msg := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(c.secret))
	mac.Write([]byte(msg))
	return msg + "." + enc.EncodeToString(mac.Sum(nil))
}

func (c *wsCentrifugo) name() string { return "centrifugo v6" }
func (c *wsCentrifugo) pid() int     { return c.p.cmd.Process.Pid }

// cfReply is a Centrifugo JSON protocol reply or push (one per line).
type cfReply struct {
	ID    int             `json:"id"`
	Error json.RawMessage `json:"error"`
	Push  *struct {
		Pub *struct {
			Data struct {
				K string `json:"k"`
			} `json:"data"`
		} `json:"pub"`
	} `json:"push"`
}

func (c *wsCentrifugo) open(ctx context.Context, i int, hc *http.Client) (*websocket.Conn, error) {
	ws, err := wsDial(ctx, "ws"+strings.TrimPrefix(c.p.Base, "http")+"/connection/websocket", hc)
	if err != nil {
		return nil, err
	}
	cmd, _ := json.Marshal(map[string]any{"id": 1, "connect": map[string]any{"token": c.token(i % c.cfg.Users)}})
	if err := ws.Write(ctx, websocket.MessageText, cmd); err != nil {
		ws.CloseNow()
		return nil, err
	}
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			ws.CloseNow()
			return nil, fmt.Errorf("waiting for connect: %w", err)
		}
		for line := range bytes.Lines(b) {
			var r cfReply
			if json.Unmarshal(line, &r) != nil || r.ID != 1 {
				continue
			}
			if len(r.Error) > 0 {
				ws.CloseNow()
				return nil, fmt.Errorf("connect: %s", r.Error)
			}
			return ws, nil
		}
	}
}

func (c *wsCentrifugo) keys(ctx context.Context, ws *websocket.Conn, b []byte) []string {
	var out []string
	for line := range bytes.Lines(b) {
		line = bytes.TrimSpace(line)
		if string(line) == "{}" { // the server's ping: answer, or be disconnected
			_ = ws.Write(ctx, websocket.MessageText, []byte("{}"))
			continue
		}
		var r cfReply
		if json.Unmarshal(line, &r) == nil && r.Push != nil && r.Push.Pub != nil {
			out = append(out, r.Push.Pub.Data.K)
		}
	}
	return out
}

func (c *wsCentrifugo) event(k int) (int, string, func(context.Context) error) {
	u, key := k%c.cfg.Users, "e"+strconv.Itoa(k)
	return u, key, func(ctx context.Context) error {
		body, _ := json.Marshal(map[string]any{"channel": "personal:#u" + strconv.Itoa(u), "data": map[string]string{"k": key}})
		req, err := http.NewRequestWithContext(ctx, "POST", c.p.Base+"/api/publish", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", c.apiKey)
		resp, err := c.api.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var r struct {
			Error json.RawMessage `json:"error"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &r) != nil || len(r.Error) > 0 {
			return fmt.Errorf("publish: %s: %s", resp.Status, b)
		}
		return nil
	}
}

// maxEvents: Centrifugo publishes as often as asked; the run is the same
// length as mediaedge's.
func (c *wsCentrifugo) maxEvents() int { return c.cfg.Users * c.cfg.Followers }

func printWS(out io.Writer, cfg WSConfig, rep WSReport) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ws: %d idle sockets from %d source addresses over %d users; then %d connected, events to one user each (%d sockets/user)\n",
		cfg.Conns, cfg.SourceAddrs, cfg.Users, cfg.Connected, cfg.Connected/cfg.Users)
	if rep.Capped {
		fmt.Fprintf(tw, "(sockets capped by RLIMIT_NOFILE %d; raise the hard limit for more)\n", rep.NoFile)
	}
	fmt.Fprintln(tw, "target\tsockets\topen s\tRSS before MiB\tRSS idle MiB\tKiB/socket\tsockets/GiB\t100k est. GiB\tevents\toffered/s\tsent/s\tframes\tlost\tp50\tp99\tmax")
	row := func(t WSTarget) {
		est := float64(t.RSSBefore)/(1<<30) + 100_000*t.BytesPerConn()/(1<<30)
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%d\t%d\t%.1f\t%.0f\t%.2f\t%d\t%.0f\t%.0f\t%d\t%d\t%s\t%s\t%s\n",
			t.Name, t.Conns, t.OpenTime.Seconds(), t.RSSBefore>>20, t.RSSAfter>>20, t.BytesPerConn()/1024, t.ConnsPerGiB(), est,
			t.Events, t.OfferedPerSec, t.SentPerSec, t.Delivered, t.Lost,
			t.P50.Round(10*time.Microsecond), t.P99.Round(10*time.Microsecond), t.Max.Round(time.Millisecond))
	}
	row(rep.Ours)
	if rep.Ref != nil {
		row(*rep.Ref)
		fmt.Fprintf(tw, "ratio (sockets/GiB, ours/theirs)\t%.2fx\n", rep.Ratio())
		if rep.Ref.P99 > 0 {
			fmt.Fprintf(tw, "p99 ratio (ours/theirs, lower is better)\t%.2fx\n", float64(rep.Ours.P99)/float64(rep.Ref.P99))
		}
	} else {
		fmt.Fprintln(tw, "centrifugo: not run (no binary: set CENTRIFUGO_BIN; scripts/install-deps.sh bench builds it)")
	}
	tw.Flush()
}
