package userstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/ids"
	"github.com/mediaedge/mediaedge/social/users"
)

// CountingHasher is a cheap argon2id (1 MiB, one pass: tests only) that
// counts its calls, so a test can see a request never reached it.
type CountingHasher struct {
	inner            users.Argon2
	Hashes, Verifies atomic.Int64
}

// NewCountingHasher returns a fast test hasher.
func NewCountingHasher() *CountingHasher {
	return &CountingHasher{inner: users.Argon2{Params: argon2id.Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}}}
}

func (c *CountingHasher) Hash(p string) (string, error) { c.Hashes.Add(1); return c.inner.Hash(p) }
func (c *CountingHasher) Verify(p, h string) (bool, error) {
	c.Verifies.Add(1)
	return c.inner.Verify(p, h)
}

// fakeSockets records the closes the handler asked for ("user U except
// E", "session U S") and answers err.
type fakeSockets struct {
	mu    sync.Mutex // guards calls and err
	calls []string
	err   error
}

func (f *fakeSockets) CloseUser(_ context.Context, uid int64, except uint64) error {
	return f.record(fmt.Sprintf("user %d except %d", uid, except))
}

func (f *fakeSockets) CloseSession(_ context.Context, uid int64, session uint64) error {
	return f.record(fmt.Sprintf("session %d %d", uid, session))
}

func (f *fakeSockets) record(call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	return f.err
}

func (f *fakeSockets) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// api drives one handler through a real HTTP server.
type api struct {
	t      *testing.T
	h      *users.Handler
	srv    *httptest.Server
	clock  *socialtest.Clock
	hasher *CountingHasher
	b      Backend
	mine   []int64 // users made through the API: the outbox is checked for theirs
}

// sessionTag is the tag AuthenticateSession gives token's session.
func (a *api) sessionTag(token string) uint64 {
	a.t.Helper()
	req := httptest.NewRequest("GET", "/v1/users/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	_, tag, err := a.h.AuthenticateSession(context.Background(), req)
	if err != nil {
		a.t.Fatal(err)
	}
	return tag
}

// resp is one answer: status, headers and the decoded JSON body.
type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r resp) str(k string) string { s, _ := r.body[k].(string); return s }

func (r resp) errCode() (code, param string) {
	e, _ := r.body["error"].(map[string]any)
	code, _ = e["code"].(string)
	param, _ = e["param"].(string)
	return code, param
}

// do sends a request; hdr holds extra headers ("Authorization" is set from
// token when non-empty). The client address is "client" unless hdr says.
func (a *api) do(method, path, token, body string, hdr ...string) resp {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.srv.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("X-Test-Client", "client")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := a.srv.Client().Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			a.t.Fatalf("%s %s: %d body %q is not a JSON object: %v", method, path, res.StatusCode, raw, err)
		}
	}
	return out
}

// want checks an answer's status and, for errors, its code and param.
func (a *api) want(r resp, status int, codeParam ...string) resp {
	a.t.Helper()
	if r.status != status {
		a.t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	if len(codeParam) > 0 {
		code, param := r.errCode()
		if code != codeParam[0] || len(codeParam) > 1 && param != codeParam[1] {
			a.t.Fatalf("error %s (param %q), want %v: %s", code, param, codeParam, r.raw)
		}
	}
	return r
}

func jsonBody(kv ...any) string {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// register signs a user up and returns its id.
func (a *api) register(name, password string, hdr ...string) int64 {
	a.t.Helper()
	r := a.want(a.do("POST", "/v1/users", "", jsonBody("username", name, "password", password), hdr...), http.StatusCreated)
	id, err := strconv.ParseInt(r.str("id"), 10, 64)
	if err != nil || r.str("username") != strings.ToLower(name) || r.header.Get("Location") != "/v1/users/"+r.str("id") {
		a.t.Fatalf("register %s: %s %v", name, r.raw, r.header)
	}
	if !slices.Contains(a.mine, id) {
		a.mine = append(a.mine, id)
	}
	return id
}

// login returns a session token.
func (a *api) login(name, password string) string {
	a.t.Helper()
	r := a.want(a.do("POST", "/v1/sessions", "", jsonBody("username", name, "password", password)), http.StatusCreated)
	if len(r.str("token")) != 43 || r.str("user_id") == "" || r.str("expires_at") == "" {
		a.t.Fatalf("login %s: %s", name, r.raw)
	}
	return r.str("token")
}

// loginFrom is one login attempt from the client address addr.
func (a *api) loginFrom(addr, name, password string) resp {
	a.t.Helper()
	return a.do("POST", "/v1/sessions", "", jsonBody("username", name, "password", password), "X-Test-Client", addr)
}

// outbox checks the events of the API's users are exactly want, in order,
// each "kind actor->target" with the names of who.
func (a *api) outbox(who map[int64]string, want ...string) {
	a.t.Helper()
	var got []string
	for _, e := range OutboxOf(a.t, a.b, a.mine) {
		s := e.Kind + " " + who[e.Actor]
		var d struct {
			UserID string `json:"user_id"`
		}
		_ = json.Unmarshal(e.Data, &d)
		if id, err := strconv.ParseInt(d.UserID, 10, 64); err == nil {
			s += "->" + who[id]
		}
		for _, to := range e.To {
			s += " to " + who[to]
		}
		got = append(got, s)
	}
	if !slices.Equal(got, want) {
		a.t.Fatalf("outbox:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// RunHTTP runs the end-to-end cases: the handler over open's store, behind
// a real HTTP server, with a fake clock and a cheap counting hasher.
func RunHTTP(t *testing.T, open Opener) {
	gen, err := ids.New(1022)
	if err != nil {
		t.Fatal(err)
	}
	setup := func(t *testing.T, edit ...func(*users.Config)) *api {
		b := open(t)
		clock := socialtest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
		hasher := NewCountingHasher()
		cfg := users.DefaultConfig()
		cfg.Store, cfg.IDs, cfg.Now, cfg.Hasher = b.Store, gen, clock.Now, hasher
		cfg.ClientAddr = func(r *http.Request) string { return r.Header.Get("X-Test-Client") }
		for _, e := range edit {
			e(&cfg)
		}
		h, err := users.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return &api{t: t, h: h, srv: srv, clock: clock, hasher: hasher, b: b}
	}

	t.Run("sign up, log in, follow, page, block, log out", func(t *testing.T) {
		a := setup(t)
		sfx := suffix()
		alice, bob := "alice_"+sfx, "bob_"+sfx
		aliceID := a.register("Alice_"+sfx, "correct horse") // case folds
		bobID := a.register(bob, "battery staple")
		who := map[int64]string{aliceID: "alice", bobID: "bob"}
		a.want(a.do("POST", "/v1/users", "", jsonBody("username", "ALICE_"+sfx, "password", "whatever1")), http.StatusConflict, "username_taken", "username")

		// A wrong password and an unknown user: the same answer, after the same work.
		before := a.hasher.Verifies.Load()
		wrong := a.want(a.do("POST", "/v1/sessions", "", jsonBody("username", alice, "password", "not it!!")), http.StatusUnauthorized, "invalid_credentials")
		unknown := a.want(a.do("POST", "/v1/sessions", "", jsonBody("username", "nobody_"+sfx, "password", "not it!!")), http.StatusUnauthorized, "invalid_credentials")
		if wrong.raw != unknown.raw || a.hasher.Verifies.Load()-before != 2 {
			t.Fatalf("wrong password %s and unknown user %s differ, or %d hashes for 2", wrong.raw, unknown.raw, a.hasher.Verifies.Load()-before)
		}
		aliceTok, bobTok := a.login(alice, "correct horse"), a.login("BOB_"+sfx, "battery staple")

		p := a.want(a.do("GET", "/v1/users/@"+alice, "", ""), http.StatusOK)
		if p.str("id") != strconv.FormatInt(aliceID, 10) || p.str("display_name") != alice || p.body["password_hash"] != nil {
			t.Fatalf("profile %s", p.raw)
		}
		avatar := chunkstore.NewID()
		p = a.want(a.do("PATCH", "/v1/users/me", aliceTok, jsonBody("bio", "hi there", "display_name", "Alice A.", "avatar", avatar)), http.StatusOK)
		if p.str("bio") != "hi there" || p.str("display_name") != "Alice A." || p.str("avatar") != avatar {
			t.Fatalf("patched %s", p.raw)
		}
		a.want(a.do("PATCH", fmt.Sprintf("/v1/users/%d", bobID), aliceTok, jsonBody("bio", "pwned")), http.StatusForbidden, "forbidden")

		path := func(id int64, rest string) string { return fmt.Sprintf("/v1/users/%d%s", id, rest) }
		r := a.want(a.do("PUT", path(aliceID, "/follow"), bobTok, ""), http.StatusOK)
		if r.body["following"] != true || r.str("user_id") != strconv.FormatInt(aliceID, 10) {
			t.Fatalf("follow %s", r.raw)
		}
		a.want(a.do("PUT", path(aliceID, "/follow"), bobTok, ""), http.StatusOK) // idempotent: no second event
		followers := []int64{bobID}
		for i := range 4 {
			name := fmt.Sprintf("fan%d_%s", i, sfx)
			id := a.register(name, "password"+name)
			who[id] = fmt.Sprintf("fan%d", i)
			a.want(a.do("PUT", "/v1/users/@"+alice+"/follow", a.login(name, "password"+name), ""), http.StatusOK)
			followers = append(followers, id)
		}
		slices.Sort(followers)
		if got := a.pages(path(aliceID, "/followers"), 2); !slices.Equal(got, followers) {
			t.Fatalf("followers paged %v, want %v", got, followers)
		}
		if got := a.pages(path(bobID, "/following"), 100); !slices.Equal(got, []int64{aliceID}) {
			t.Fatalf("bob follows %v", got)
		}
		if p := a.want(a.do("GET", path(aliceID, ""), "", ""), http.StatusOK); p.body["followers_count"] != 5.0 || p.body["following_count"] != 0.0 {
			t.Fatalf("counts %s", p.raw)
		}

		// A block removes bob's follow and refuses a new one until unblocked.
		a.want(a.do("PUT", path(bobID, "/block"), aliceTok, ""), http.StatusOK)
		if got := a.pages(path(aliceID, "/followers"), 100); slices.Contains(got, bobID) || len(got) != 4 {
			t.Fatalf("followers after the block %v", got)
		}
		a.want(a.do("PUT", path(aliceID, "/follow"), bobTok, ""), http.StatusForbidden, "blocked")
		a.want(a.do("DELETE", path(bobID, "/block"), aliceTok, ""), http.StatusOK)
		a.want(a.do("PUT", path(aliceID, "/follow"), bobTok, ""), http.StatusOK)
		a.want(a.do("DELETE", path(aliceID, "/follow"), bobTok, ""), http.StatusOK)

		// Logout: the token stops working at once.
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", "Bearer "+bobTok)
		if id, err := a.h.Authenticate(context.Background(), req); err != nil || id != bobID {
			t.Fatalf("Authenticate: %d %v", id, err)
		}
		a.want(a.do("DELETE", "/v1/sessions", bobTok, ""), http.StatusNoContent)
		a.want(a.do("PUT", path(aliceID, "/follow"), bobTok, ""), http.StatusUnauthorized, "unauthenticated")
		if _, err := a.h.Authenticate(context.Background(), req); err == nil {
			t.Fatal("Authenticate took a revoked token")
		}
		a.want(a.do("DELETE", "/v1/sessions", bobTok, ""), http.StatusUnauthorized, "unauthenticated")

		a.outbox(who,
			"user.created alice", "user.created bob",
			"profile.updated alice",
			"follow bob->alice to alice",
			"user.created fan0", "follow fan0->alice to alice",
			"user.created fan1", "follow fan1->alice to alice",
			"user.created fan2", "follow fan2->alice to alice",
			"user.created fan3", "follow fan3->alice to alice",
			"block alice->bob", "unblock alice->bob",
			"follow bob->alice to alice", "unfollow bob->alice")
	})

	t.Run("Idempotency-Key replays the same user", func(t *testing.T) {
		a := setup(t)
		name := "idem_" + suffix()
		id := a.register(name, "password1", "Idempotency-Key", "k-1")
		r := a.want(a.do("POST", "/v1/users", "", jsonBody("username", name, "password", "password1"), "Idempotency-Key", "k-1"), http.StatusCreated)
		if r.str("id") != strconv.FormatInt(id, 10) || r.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay %s %v", r.raw, r.header)
		}
		a.want(a.do("POST", "/v1/users", "", jsonBody("username", name, "password", "password1"), "Idempotency-Key", "k-2"), http.StatusConflict, "username_taken")
		a.outbox(map[int64]string{id: "u"}, "user.created u")
	})

	t.Run("expired and bad tokens", func(t *testing.T) {
		a := setup(t)
		name := "exp_" + suffix()
		a.register(name, "password1")
		tok := a.login(name, "password1")
		a.clock.Advance(30*24*time.Hour - time.Second)
		a.want(a.do("GET", "/v1/users/me", tok, ""), http.StatusOK)
		a.clock.Advance(time.Second)
		r := a.want(a.do("GET", "/v1/users/me", tok, ""), http.StatusUnauthorized, "unauthenticated")
		if !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
			t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
		}
		a.want(a.do("GET", "/v1/users/me", "AAAA", ""), http.StatusUnauthorized, "unauthenticated")
		a.want(a.do("GET", "/v1/users/me", strings.Repeat("A", 43), ""), http.StatusUnauthorized, "unauthenticated")
		if r := a.want(a.do("GET", "/v1/users/me", "", ""), http.StatusUnauthorized, "unauthenticated"); r.header.Get("WWW-Authenticate") == "" {
			t.Fatal("no WWW-Authenticate")
		}
	})

	t.Run("a password change ends every other session", func(t *testing.T) {
		a := setup(t)
		sfx := suffix()
		name, other := "pw_"+sfx, "pwother_"+sfx
		id := a.register(name, "old password")
		otherID := a.register(other, "their password")
		tokA, tokB := a.login(name, "old password"), a.login(name, "old password")
		tokOther := a.login(other, "their password")
		change := func(tok, path, current, next string) resp {
			return a.do("PUT", path, tok, jsonBody("current_password", current, "new_password", next))
		}

		// Refused: nothing changes, every session still works.
		a.want(change(tokA, "/v1/users/me/password", "wrong password", "new password"), http.StatusUnauthorized, "invalid_credentials", "current_password")
		a.want(change(tokA, "/v1/users/me/password", "old password", "short"), http.StatusBadRequest, "invalid_parameter", "new_password")
		a.want(change(tokA, "/v1/users/me/password", "old password", strings.Repeat("p", 1025)), http.StatusBadRequest, "invalid_parameter", "new_password")
		a.want(a.do("PUT", "/v1/users/me/password", tokA, jsonBody("new_password", "new password")), http.StatusBadRequest, "invalid_parameter", "current_password")
		a.want(change(tokA, fmt.Sprintf("/v1/users/%d/password", otherID), "their password", "new password"), http.StatusForbidden, "forbidden")
		a.want(change("", "/v1/users/me/password", "old password", "new password"), http.StatusUnauthorized, "unauthenticated")
		for _, tok := range []string{tokA, tokB, tokOther} {
			a.want(a.do("GET", "/v1/users/me", tok, ""), http.StatusOK)
		}
		a.want(a.do("POST", "/v1/sessions", "", jsonBody("username", name, "password", "new password")), http.StatusUnauthorized, "invalid_credentials")
		tokC := a.login(name, "old password")

		// Changed from A (by @username: {id} is any name of oneself): B and
		// C end at once, A and the other user's session go on.
		r := a.want(change(tokA, "/v1/users/@"+name+"/password", "old password", "new password"), http.StatusNoContent)
		if r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control %q", r.header.Get("Cache-Control"))
		}
		a.want(a.do("GET", "/v1/users/me", tokB, ""), http.StatusUnauthorized, "unauthenticated")
		a.want(a.do("GET", "/v1/users/me", tokC, ""), http.StatusUnauthorized, "unauthenticated")
		if me := a.want(a.do("GET", "/v1/users/me", tokA, ""), http.StatusOK); me.str("id") != strconv.FormatInt(id, 10) {
			t.Fatalf("me %s", me.raw)
		}
		a.want(a.do("GET", "/v1/users/me", tokOther, ""), http.StatusOK)
		a.want(a.do("POST", "/v1/sessions", "", jsonBody("username", name, "password", "old password")), http.StatusUnauthorized, "invalid_credentials")
		a.login(name, "new password")
		a.want(change(tokA, "/v1/users/me/password", "old password", "newer password"), http.StatusUnauthorized, "invalid_credentials", "current_password")
		a.outbox(map[int64]string{id: "u", otherID: "other"}, "user.created u", "user.created other") // no event
	})

	t.Run("a wrong current password spends the login limits", func(t *testing.T) {
		a := setup(t)
		name := "pwguess_" + suffix()
		a.register(name, "password1")
		tok := a.login(name, "password1")
		for range 10 {
			a.want(a.do("PUT", "/v1/users/me/password", tok, jsonBody("current_password", "guess-guess", "new_password", "password2")),
				http.StatusUnauthorized, "invalid_credentials", "current_password")
		}
		before := a.hasher.Verifies.Load()
		r := a.want(a.do("PUT", "/v1/users/me/password", tok, jsonBody("current_password", "password1", "new_password", "password2")),
			http.StatusTooManyRequests, "rate_limited")
		if r.header.Get("Retry-After") == "" || a.hasher.Verifies.Load() != before {
			t.Fatalf("429 without Retry-After, or after a hash: %v", r.header)
		}
		// The same bucket as login's: a login from this address is limited too.
		a.want(a.do("POST", "/v1/sessions", "", jsonBody("username", name, "password", "password1")), http.StatusTooManyRequests, "rate_limited")
		// From another address the owner still gets in.
		a.want(a.loginFrom("elsewhere", name, "password1"), http.StatusCreated)
	})

	t.Run("log out everywhere", func(t *testing.T) {
		a := setup(t)
		sfx := suffix()
		name, other := "all_"+sfx, "allother_"+sfx
		a.register(name, "password1")
		a.register(other, "password2")
		tokA, tokB, tokOther := a.login(name, "password1"), a.login(name, "password1"), a.login(other, "password2")
		a.want(a.do("DELETE", "/v1/sessions?all=maybe", tokA, ""), http.StatusBadRequest, "invalid_parameter", "all")
		a.want(a.do("DELETE", "/v1/sessions?all=0", tokB, ""), http.StatusNoContent) // B alone
		a.want(a.do("GET", "/v1/users/me", tokB, ""), http.StatusUnauthorized, "unauthenticated")
		a.want(a.do("GET", "/v1/users/me", tokA, ""), http.StatusOK)
		tokB = a.login(name, "password1")
		a.want(a.do("DELETE", "/v1/sessions?all=1", tokA, ""), http.StatusNoContent)
		a.want(a.do("GET", "/v1/users/me", tokA, ""), http.StatusUnauthorized, "unauthenticated")
		a.want(a.do("GET", "/v1/users/me", tokB, ""), http.StatusUnauthorized, "unauthenticated")
		a.want(a.do("GET", "/v1/users/me", tokOther, ""), http.StatusOK)
		a.want(a.do("DELETE", "/v1/sessions?all=1", tokA, ""), http.StatusUnauthorized, "unauthenticated")
		a.want(a.do("GET", "/v1/users/me", a.login(name, "password1"), ""), http.StatusOK)
	})

	t.Run("logouts close the sockets of the sessions they end", func(t *testing.T) {
		socks := &fakeSockets{}
		a := setup(t, func(c *users.Config) { c.Sockets = socks })
		sfx := suffix()
		name := "sock_" + sfx
		id := a.register(name, "password1")
		tokA, tokB := a.login(name, "password1"), a.login(name, "password1")
		tagA, tagB := a.sessionTag(tokA), a.sessionTag(tokB)
		if tagA == 0 || tagB == 0 || tagA == tagB {
			t.Fatalf("session tags %d and %d: want two distinct, non-zero", tagA, tagB)
		}
		a.want(a.do("DELETE", "/v1/sessions", tokB, ""), http.StatusNoContent)
		want := []string{fmt.Sprintf("session %d %d", id, tagB)} // the other devices keep theirs
		if got := socks.got(); !slices.Equal(got, want) {
			t.Fatalf("after a single logout: closed %v, want %v", got, want)
		}
		a.want(a.do("PUT", "/v1/users/me/password", tokA, jsonBody("current_password", "password1", "new_password", "password2")), http.StatusNoContent)
		want = append(want, fmt.Sprintf("user %d except %d", id, tagA)) // the requester's stay
		if got := socks.got(); !slices.Equal(got, want) {
			t.Fatalf("after a password change: closed %v, want %v", got, want)
		}
		socks.mu.Lock()
		socks.err = errors.New("bus down") // logged; the sessions are revoked, the answer stays 204
		socks.mu.Unlock()
		a.want(a.do("DELETE", "/v1/sessions?all=1", tokA, ""), http.StatusNoContent)
		want = append(want, fmt.Sprintf("user %d except 0", id))
		if got := socks.got(); !slices.Equal(got, want) {
			t.Fatalf("after a log-out-everywhere: closed %v, want %v", got, want)
		}
		a.want(a.do("GET", "/v1/users/me", tokA, ""), http.StatusUnauthorized, "unauthenticated")
	})

	t.Run("a user lists their sessions and ends one", func(t *testing.T) {
		socks := &fakeSockets{}
		a := setup(t, func(c *users.Config) { c.Sockets = socks })
		name := "dev_" + suffix()
		id := a.register(name, "password1")
		tokA := a.login(name, "password1")
		a.clock.Advance(time.Minute)
		tokB := a.login(name, "password1")
		name2 := "dev2_" + suffix()
		a.register(name2, "password1")
		other := a.login(name2, "password1")
		r := a.want(a.do("GET", "/v1/sessions", tokA, ""), http.StatusOK)
		if r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control %q", r.header.Get("Cache-Control"))
		}
		list, _ := r.body["sessions"].([]any)
		var ids []string
		var current []bool
		for _, x := range list {
			m := x.(map[string]any)
			ids = append(ids, m["id"].(string))
			current = append(current, m["current"] == true)
		}
		// Newest first: B (a minute later), then A, the requester's.
		tagB := a.sessionTag(tokB)
		idA, idB := fmt.Sprintf("%016x", a.sessionTag(tokA)), fmt.Sprintf("%016x", tagB)
		if !slices.Equal(ids, []string{idB, idA}) || !slices.Equal(current, []bool{false, true}) {
			t.Fatalf("sessions %v current %v; want [%s %s] [false true]", ids, current, idB, idA)
		}
		a.want(a.do("DELETE", "/v1/sessions/"+fmt.Sprintf("%016x", a.sessionTag(other)), tokA, ""), http.StatusNotFound, "not_found")
		a.want(a.do("DELETE", "/v1/sessions/xyz", tokA, ""), http.StatusBadRequest, "invalid_parameter")
		a.want(a.do("DELETE", "/v1/sessions/"+idB, tokA, ""), http.StatusNoContent)
		a.want(a.do("GET", "/v1/users/me", tokB, ""), http.StatusUnauthorized, "unauthenticated")
		a.want(a.do("GET", "/v1/users/me", other, ""), http.StatusOK)
		if got, want := socks.got(), []string{fmt.Sprintf("session %d %d", id, tagB)}; !slices.Equal(got, want) {
			t.Fatalf("closed %v, want %v", got, want)
		}
		r = a.want(a.do("GET", "/v1/sessions", tokA, ""), http.StatusOK)
		if list, _ := r.body["sessions"].([]any); len(list) != 1 {
			t.Fatalf("%d sessions after ending one, want 1", len(list))
		}
		a.want(a.do("GET", "/v1/sessions", "", ""), http.StatusUnauthorized, "unauthenticated")
	})

	t.Run("login floods get 429 before any hash", func(t *testing.T) {
		a := setup(t, func(c *users.Config) { c.LoginPerAddress = users.Limit{Every: time.Second, Burst: 5} })
		before := a.hasher.Verifies.Load()
		status := map[int]int{}
		retry := ""
		for i := range 1000 {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/v1/sessions", strings.NewReader(jsonBody("username", fmt.Sprintf("guess%d", i), "password", "password1")))
			req.Header.Set("X-Test-Client", "203.0.113.9")
			a.h.ServeHTTP(rec, req)
			status[rec.Code]++
			if rec.Code == http.StatusTooManyRequests {
				retry = rec.Header().Get("Retry-After")
			}
		}
		if hashes := a.hasher.Verifies.Load() - before; hashes != 5 || status[401] != 5 || status[429] != 995 || retry != "1" {
			t.Fatalf("1000 logins from one address: %d hashes, statuses %v, Retry-After %q; want 5 hashes, 995 429s, 1", hashes, status, retry)
		}
	})

	// The per-account limits (defaults: 10 failures at once, then one per
	// 30 s, per account and address; 100, then one per 3 s, per account
	// from everywhere). A lockout anyone can trigger is a denial of service,
	// so one address's failures must not lock the owner out elsewhere.
	const attacker, owner = "203.0.113.66", "198.51.100.1"
	t.Run("failures from one address do not lock the account for others", func(t *testing.T) {
		a := setup(t)
		name := "alice_" + suffix()
		a.register(name, "password1", "X-Test-Client", owner)
		for range 10 {
			a.want(a.loginFrom(attacker, name, "x-wrong-x"), http.StatusUnauthorized, "invalid_credentials")
		}
		// The attack of the report: one wrong password every 30 s.
		for range 3 {
			a.want(a.loginFrom(attacker, name, "x-wrong-x"), http.StatusTooManyRequests, "rate_limited")
			a.want(a.loginFrom(owner, name, "password1"), http.StatusCreated)
			a.clock.Advance(30 * time.Second)
			a.want(a.loginFrom(attacker, name, "x-wrong-x"), http.StatusUnauthorized, "invalid_credentials")
		}
	})

	t.Run("an address failing at one account is still limited, before any hash", func(t *testing.T) {
		a := setup(t)
		name := "target_" + suffix()
		a.register(name, "password1", "X-Test-Client", owner)
		before := a.hasher.Verifies.Load()
		for range 10 {
			a.want(a.loginFrom(attacker, name, "x-wrong-x"), http.StatusUnauthorized, "invalid_credentials")
		}
		for range 5 {
			if r := a.want(a.loginFrom(attacker, name, "x-wrong-x"), http.StatusTooManyRequests, "rate_limited"); r.header.Get("Retry-After") != "30" {
				t.Fatalf("Retry-After %q, want 30", r.header.Get("Retry-After"))
			}
		}
		// Even the right password: that address has spent its tries at it.
		a.want(a.loginFrom(attacker, name, "password1"), http.StatusTooManyRequests, "rate_limited")
		if n := a.hasher.Verifies.Load() - before; n != 10 {
			t.Fatalf("%d hashes for 10 failures and 6 refusals, want 10", n)
		}
		a.clock.Advance(30 * time.Second)
		a.want(a.loginFrom(attacker, name, "x-wrong-x"), http.StatusUnauthorized, "invalid_credentials")
		a.want(a.loginFrom(attacker, name, "x-wrong-x"), http.StatusTooManyRequests, "rate_limited")
	})

	t.Run("failures from many addresses hit the account's overall limit", func(t *testing.T) {
		a := setup(t)
		name := "popular_" + suffix()
		a.register(name, "password1", "X-Test-Client", owner)
		before := a.hasher.Verifies.Load()
		codes := map[int]int{}
		for i := range 200 {
			r := a.loginFrom(fmt.Sprintf("10.0.%d.%d", i/256, i%256), name, "x-wrong-x")
			codes[r.status]++
			if r.status == http.StatusTooManyRequests && r.header.Get("Retry-After") != "3" {
				t.Fatalf("Retry-After %q, want 3", r.header.Get("Retry-After"))
			}
		}
		if n := a.hasher.Verifies.Load() - before; codes[401] != 100 || codes[429] != 100 || n != 100 {
			t.Fatalf("200 addresses failing once each: %v, %d hashes; want 100 401s, 100 429s, 100 hashes", codes, n)
		}
		// The bound on a spread-out guesser holds for everyone, briefly.
		a.want(a.loginFrom(owner, name, "password1"), http.StatusTooManyRequests, "rate_limited")
		a.clock.Advance(3 * time.Second)
		a.want(a.loginFrom(owner, name, "password1"), http.StatusCreated)
	})

	t.Run("a correct password spends none of the account's limits", func(t *testing.T) {
		a := setup(t)
		name := "busy_" + suffix()
		a.register(name, "password1", "X-Test-Client", owner)
		for range 12 {
			a.want(a.loginFrom(owner, name, "password1"), http.StatusCreated)
		}
		for range 10 {
			a.want(a.loginFrom(owner, name, "x-wrong-x"), http.StatusUnauthorized, "invalid_credentials")
		}
		a.want(a.loginFrom(owner, name, "x-wrong-x"), http.StatusTooManyRequests, "rate_limited")
	})

	t.Run("bad input is a clear 4xx and writes nothing", func(t *testing.T) {
		a := setup(t)
		sfx := suffix()
		owner := a.register("owner_"+sfx, "password1")
		tok := a.login("owner_"+sfx, "password1")
		name := "later_" + sfx // every failed sign-up below uses it; it stays free
		big := `{"username":"` + name + `","password":"password1","display_name":"` + strings.Repeat("x", 70<<10) + `"}`
		tests := []struct {
			what, method, path, token, body string
			hdr                             []string
			status                          int
			code, param                     string
		}{
			{"oversized body", "POST", "/v1/users", "", big, nil, 413, "too_large", ""},
			{"unknown field", "POST", "/v1/users", "", jsonBody("username", name, "password", "password1", "is_admin", true), nil, 400, "unknown_field", "is_admin"},
			{"malformed JSON", "POST", "/v1/users", "", `{"username": "` + name + `",`, nil, 400, "invalid_json", ""},
			{"two objects", "POST", "/v1/users", "", jsonBody("username", name, "password", "password1") + "{}", nil, 400, "invalid_json", ""},
			{"not an object", "POST", "/v1/users", "", `["x"]`, nil, 400, "invalid_json", ""},
			{"empty body", "POST", "/v1/users", "", " ", nil, 400, "invalid_json", ""},
			{"bad username", "POST", "/v1/users", "", jsonBody("username", "bad name!", "password", "password1"), nil, 400, "invalid_parameter", "username"},
			{"short username", "POST", "/v1/users", "", jsonBody("username", "ab", "password", "password1"), nil, 400, "invalid_parameter", "username"},
			{"username not a string", "POST", "/v1/users", "", jsonBody("username", 5, "password", "password1"), nil, 400, "invalid_parameter", "username"},
			{"short password", "POST", "/v1/users", "", jsonBody("username", name, "password", "short"), nil, 400, "invalid_parameter", "password"},
			{"long password", "POST", "/v1/users", "", jsonBody("username", name, "password", strings.Repeat("p", 1025)), nil, 400, "invalid_parameter", "password"},
			{"no password", "POST", "/v1/users", "", jsonBody("username", name), nil, 400, "invalid_parameter", "password"},
			{"long display name", "POST", "/v1/users", "", jsonBody("username", name, "password", "password1", "display_name", strings.Repeat("é", 51)), nil, 400, "invalid_parameter", "display_name"},
			{"bad Idempotency-Key", "POST", "/v1/users", "", jsonBody("username", name, "password", "password1"), []string{"Idempotency-Key", "has space"}, 400, "invalid_parameter", "Idempotency-Key"},
			{"form body", "POST", "/v1/users", "", "username=x", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", ""},
			{"login unknown field", "POST", "/v1/sessions", "", jsonBody("username", name, "password", "password1", "otp", "1"), nil, 400, "unknown_field", "otp"},
			{"bad cursor", "GET", fmt.Sprintf("/v1/users/%d/followers?cursor=%%21%%21", owner), "", "", nil, 400, "invalid_parameter", "cursor"},
			{"zero cursor", "GET", fmt.Sprintf("/v1/users/%d/following?cursor=AAAAAAAAAAA", owner), "", "", nil, 400, "invalid_parameter", "cursor"},
			{"empty cursor", "GET", fmt.Sprintf("/v1/users/%d/following?cursor=", owner), "", "", nil, 400, "invalid_parameter", "cursor"},
			{"limit 0", "GET", fmt.Sprintf("/v1/users/%d/followers?limit=0", owner), "", "", nil, 400, "invalid_parameter", "limit"},
			{"limit 101", "GET", fmt.Sprintf("/v1/users/%d/followers?limit=101", owner), "", "", nil, 400, "invalid_parameter", "limit"},
			{"bad id", "GET", "/v1/users/abc", "", "", nil, 400, "invalid_parameter", "id"},
			{"unknown id", "GET", "/v1/users/12345", "", "", nil, 404, "not_found", ""},
			{"unknown name", "GET", "/v1/users/@nobody_" + sfx + "/followers", "", "", nil, 404, "not_found", ""},
			{"long bio", "PATCH", "/v1/users/me", tok, jsonBody("bio", strings.Repeat("b", 501)), nil, 400, "invalid_parameter", "bio"},
			{"bad avatar", "PATCH", "/v1/users/me", tok, jsonBody("avatar", "NOT-A-MEDIA-ID"), nil, 400, "invalid_parameter", "avatar"},
			{"null display name", "PATCH", "/v1/users/me", tok, `{"display_name": null}`, nil, 400, "invalid_parameter", "display_name"},
			{"patch unknown field", "PATCH", "/v1/users/me", tok, jsonBody("username", "new_name"), nil, 400, "unknown_field", "username"},
			{"follow yourself", "PUT", fmt.Sprintf("/v1/users/%d/follow", owner), tok, "", nil, 400, "invalid_parameter", "id"},
			{"follow nobody", "PUT", "/v1/users/12345/follow", tok, "", nil, 404, "not_found", ""},
			{"follow without a token", "PUT", fmt.Sprintf("/v1/users/%d/follow", owner), "", "", nil, 401, "unauthenticated", ""},
			{"patch without a token", "PATCH", "/v1/users/me", "", jsonBody("bio", "x"), nil, 401, "unauthenticated", ""},
		}
		for _, tt := range tests {
			t.Run(tt.what, func(t *testing.T) {
				a.t = t
				r := a.want(a.do(tt.method, tt.path, tt.token, tt.body, tt.hdr...), tt.status, tt.code, tt.param)
				if msg, _ := r.body["error"].(map[string]any)["message"].(string); msg == "" {
					t.Fatalf("no message: %s", r.raw)
				}
			})
		}
		a.t = t
		p := a.want(a.do("GET", "/v1/users/me", tok, ""), http.StatusOK)
		if p.str("bio") != "" || p.str("avatar") != "" || p.str("display_name") != "owner_"+sfx {
			t.Fatalf("a refused patch changed the profile: %s", p.raw)
		}
		later := a.register(name, "password1") // no failed sign-up left a claim
		a.outbox(map[int64]string{owner: "owner", later: "later"}, "user.created owner", "user.created later")
	})

	t.Run("avatar must name stored media when the edge can tell", func(t *testing.T) {
		known := chunkstore.NewID()
		a := setup(t, func(c *users.Config) {
			c.MediaExists = func(_ context.Context, id string) (bool, error) { return id == known, nil }
		})
		name := "avatar_" + suffix()
		a.register(name, "password1")
		tok := a.login(name, "password1")
		a.want(a.do("PATCH", "/v1/users/me", tok, jsonBody("avatar", chunkstore.NewID())), http.StatusBadRequest, "invalid_parameter", "avatar")
		if p := a.want(a.do("PATCH", "/v1/users/me", tok, jsonBody("avatar", known)), http.StatusOK); p.str("avatar") != known {
			t.Fatalf("avatar %s", p.raw)
		}
		if p := a.want(a.do("PATCH", "/v1/users/me", tok, `{"avatar": null}`), http.StatusOK); p.str("avatar") != "" {
			t.Fatalf("avatar not cleared: %s", p.raw)
		}
	})
}

// pages reads a followers or following list to its end, limit per page,
// and checks that every page but the last is full and has a cursor.
func (a *api) pages(path string, limit int) []int64 {
	a.t.Helper()
	var ids []int64
	cursor := ""
	for n := 0; ; n++ {
		if n > 50 {
			a.t.Fatal("paging does not end")
		}
		q := fmt.Sprintf("%s?limit=%d", path, limit)
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		r := a.want(a.do("GET", q, "", ""), http.StatusOK)
		var page struct {
			Items []struct {
				ID       string `json:"id"`
				Username string `json:"username"`
			} `json:"items"`
			NextCursor *string `json:"next_cursor"`
		}
		if err := json.NewDecoder(bytes.NewReader([]byte(r.raw))).Decode(&page); err != nil || page.NextCursor == nil || page.Items == nil {
			a.t.Fatalf("page %s: %v", r.raw, err)
		}
		for _, it := range page.Items {
			id, err := strconv.ParseInt(it.ID, 10, 64)
			if err != nil || it.Username == "" {
				a.t.Fatalf("item %+v", it)
			}
			ids = append(ids, id)
		}
		if *page.NextCursor == "" {
			return ids
		}
		if len(page.Items) != limit {
			a.t.Fatalf("a page of %d with a next cursor (limit %d)", len(page.Items), limit)
		}
		cursor = *page.NextCursor
	}
}
