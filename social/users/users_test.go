package users

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
)

func TestConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.LoginPerAccount = Limit{}
	cfg.MaxBody = 10
	err := cfg.Validate()
	for _, want := range []string{"store", "id generator", "login per account", "max body"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: want %q among every problem, got %v", want, err)
		}
	}
	cfg = DefaultConfig()
	cfg.Hasher = Argon2{Params: argon2id.Params{Memory: 64 << 10, Iterations: 0, Parallelism: 1, SaltLength: 16, KeyLength: 32}}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "argon2id") {
		t.Errorf("zero passes accepted: %v", err)
	}
}

// TestArgon2Defaults: the defaults are at least the library's DefaultParams
// (memory and passes), and hash and verify.
func TestArgon2Defaults(t *testing.T) {
	p := DefaultArgon2Params()
	if p.Memory < argon2id.DefaultParams.Memory || p.Iterations < argon2id.DefaultParams.Iterations ||
		p.SaltLength < argon2id.DefaultParams.SaltLength || p.KeyLength < argon2id.DefaultParams.KeyLength {
		t.Fatalf("defaults %+v weaker than argon2id.DefaultParams %+v", p, *argon2id.DefaultParams)
	}
	if testing.Short() {
		t.Skip("-short: a 64 MiB hash")
	}
	a := Argon2{Params: p}
	start := time.Now()
	h, err := a.Hash("correct horse battery staple")
	t.Logf("one default hash took %v", time.Since(start))
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=4$") {
		t.Fatalf("hash %q %v", h, err)
	}
	if ok, err := a.Verify("correct horse battery staple", h); !ok || err != nil {
		t.Fatalf("verify: %v %v", ok, err)
	}
	if ok, _ := a.Verify("wrong", h); ok {
		t.Fatal("a wrong password verified")
	}
}

func TestUsernames(t *testing.T) {
	for in, want := range map[string]string{"Alice_1": "alice_1", " bob ": "bob", "abc": "abc", strings.Repeat("x", 30): strings.Repeat("x", 30)} {
		if got, err := checkUsername(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"ab", strings.Repeat("x", 31), "a-b", "dé", "a b", "@me", ""} {
		if _, err := checkUsername(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestCursor(t *testing.T) {
	for _, id := range []int64{1, 42, 1<<62 + 7} {
		got, err := decodeCursor(encodeCursor(id))
		if err != nil || got != id {
			t.Errorf("%d: %d %v", id, got, err)
		}
	}
	for _, bad := range []string{"", "!!", "AAAAAAAAAAA", "AAAAAAAAAAAAAAAA", "_________w"} {
		if _, err := decodeCursor(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestClientAddr(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.7:5555":             "192.0.2.7",
		"[2001:db8:1:2:aaaa::1]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:bbbb::9]:1":   "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:80":      "192.0.2.7",
		"not an address":             "not an address",
		"[2001:db8:1:3:aaaa::1]:443": "2001:db8:1:3::/64",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		if got := clientAddr(r); got != want {
			t.Errorf("%s: %q, want %q", remote, got, want)
		}
	}
}
