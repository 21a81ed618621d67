package push

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// clock is a clock tests move.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestTicketOneTimeAndExpiry(t *testing.T) {
	clk := &clock{time.Unix(1_700_000_000, 0)}
	tk := newTickets(testKey, nil, 30*time.Second, 100, clk.now)

	s, exp := tk.issue(42, 0xfeed)
	if !exp.Equal(clk.t.Add(30 * time.Second)) {
		t.Fatalf("expiry %v", exp)
	}
	if c, err := tk.redeem(s); err != nil || c.uid != 42 || c.session != 0xfeed || !c.issued.Equal(clk.t) {
		t.Fatalf("first use: %+v, %v; want user 42, session 0xfeed, issued %v", c, err, clk.t)
	}
	if _, err := tk.redeem(s); !errors.Is(err, ErrTicketUsed) {
		t.Fatalf("second use: %v, want ErrTicketUsed", err)
	}

	s2, _ := tk.issue(42, 0)
	clk.t = clk.t.Add(30 * time.Second) // exactly at expiry: no longer valid
	if _, err := tk.redeem(s2); !errors.Is(err, ErrTicketExpired) {
		t.Fatalf("expired: %v", err)
	}
	// The used nonce is forgotten once its ticket expired.
	tk.sweep()
	if n := tk.inUse(); n != 0 {
		t.Fatalf("%d nonces remembered after expiry", n)
	}
}

func TestTicketForgeryAndRotation(t *testing.T) {
	clk := &clock{time.Unix(1_700_000_000, 0)}
	otherKey := []byte(strings.Repeat("k", 32))
	old := newTickets(otherKey, nil, 30*time.Second, 100, clk.now)
	cur := newTickets(testKey, [][]byte{otherKey}, 30*time.Second, 100, clk.now)
	strict := newTickets(testKey, nil, 30*time.Second, 100, clk.now)

	s, _ := old.issue(7, 1)
	if c, err := cur.redeem(s); err != nil || c.uid != 7 {
		t.Fatalf("a ticket of the previous key: %+v, %v", c, err)
	}
	s, _ = old.issue(7, 1)
	if _, err := strict.redeem(s); !errors.Is(err, ErrTicketInvalid) {
		t.Fatalf("a ticket of another key: %v", err)
	}
	s, _ = cur.issue(7, 1)
	b := []byte(s)
	b[3] ^= 1 // another user id
	for _, bad := range []string{string(b), s[:len(s)-2], "", "!!!"} {
		if _, err := cur.redeem(bad); !errors.Is(err, ErrTicketInvalid) {
			t.Errorf("redeem(%q): %v, want ErrTicketInvalid", bad, err)
		}
	}
}

// TestTicketFirstFormat: a ticket of the format before sessions (32 bytes
// signed), issued by an edge not yet upgraded, still opens a socket, as a
// login of unknown session; one of the new format cut to that length does
// not verify.
func TestTicketFirstFormat(t *testing.T) {
	clk := &clock{time.Unix(1_700_000_000, 0)}
	tk := newTickets(testKey, nil, 30*time.Second, 100, clk.now)
	var b [ticketLenV1]byte
	binary.BigEndian.PutUint64(b[0:], 9)
	binary.BigEndian.PutUint64(b[8:], uint64(clk.t.Add(30*time.Second).UnixMilli()))
	copy(b[16:ticketBodyV1], "0123456789abcdef")
	copy(b[ticketBodyV1:], sign(testKey, b[:ticketBodyV1]))
	if c, err := tk.redeem(base64.RawURLEncoding.EncodeToString(b[:])); err != nil || c.uid != 9 || c.session != 0 {
		t.Fatalf("first-format ticket: %+v, %v; want user 9, session 0", c, err)
	}
	s, _ := tk.issue(9, 5)
	raw, _ := base64.RawURLEncoding.DecodeString(s)
	cut := append(raw[:ticketBodyV1:ticketBodyV1], raw[ticketBody:]...)
	if _, err := tk.redeem(base64.RawURLEncoding.EncodeToString(cut)); !errors.Is(err, ErrTicketInvalid) {
		t.Fatalf("a new ticket without its session: %v, want ErrTicketInvalid", err)
	}
}

func TestTicketSetBounded(t *testing.T) {
	clk := &clock{time.Unix(1_700_000_000, 0)}
	tk := newTickets(testKey, nil, 30*time.Second, 2, clk.now)
	for range 2 {
		s, _ := tk.issue(1, 0)
		if _, err := tk.redeem(s); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := tk.issue(1, 0)
	if _, err := tk.redeem(s); !errors.Is(err, errTicketsFull) {
		t.Fatalf("full set: %v, want errTicketsFull (fail closed)", err)
	}
	clk.t = clk.t.Add(31 * time.Second)
	s, _ = tk.issue(1, 0)
	if _, err := tk.redeem(s); err != nil {
		t.Fatalf("after the others expired: %v", err)
	}
}

// TestTicketRoutes: what a client sees over HTTP.
func TestTicketRoutes(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name, method, path, auth string
		wantStatus               int
		wantCode                 string
	}{
		{"ticket needs a session", "POST", "/v1/ws/ticket", "", 401, "unauthenticated"},
		{"ticket with a session", "POST", "/v1/ws/ticket", "Bearer user-5", 201, ""},
		{"socket needs a ticket", "GET", "/v1/ws", "", 400, "invalid_parameter"},
		{"socket with a forged ticket", "GET", "/v1/ws?ticket=AAAA", "", 401, "invalid_ticket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.srv.URL+tt.path, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Ticket string
				Error  struct{ Code string }
			}
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tt.wantStatus || body.Error.Code != tt.wantCode {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body.Error.Code, tt.wantStatus, tt.wantCode)
			}
			if tt.wantStatus == 201 && (body.Ticket == "" || resp.Header.Get("Cache-Control") != "no-store") {
				t.Fatalf("ticket %q, Cache-Control %q", body.Ticket, resp.Header.Get("Cache-Control"))
			}
		})
	}

	t.Run("a used ticket opens no second socket", func(t *testing.T) {
		tk := e.ticket(5)
		c := e.dialTicket(tk)
		c.send(`{"type":"hello"}`)
		c.expect("ready")
		resp, err := http.Get(e.srv.URL + "/v1/ws?ticket=" + tk)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("second use: %d, want 401", resp.StatusCode)
		}
	})
}
