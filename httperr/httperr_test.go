package httperr

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	secret := errors.New("dial tcp 10.0.0.7:9042: connection refused")
	tests := []struct {
		name       string
		method     string
		err        error
		wantStatus int
		wantCode   string
		wantParam  string
		wantRetry  string
	}{
		{"param", "GET", BadParam("w", "w must be 1..8192"), 400, "invalid_parameter", "w", ""},
		{"plain error is 500", "GET", secret, 500, "internal", "", ""},
		{"wrapped keeps status", "GET", Wrap(503, "busy", "try again", secret), 503, "busy", "", ""},
		{"retry after", "GET", &Error{Status: 503, Code: "busy", Message: "busy", RetryAfter: 2}, 503, "busy", "", "2"},
		{"head has no body", "HEAD", NotFound("no such media"), 404, "not_found", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			rec.Header().Set("ETag", `"stale"`)
			Write(rec, httptest.NewRequest(tt.method, "/m/x", nil), nil, tt.err)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After %q, want %q", got, tt.wantRetry)
			}
			if rec.Header().Get("ETag") != "" {
				t.Error("ETag survived onto an error")
			}
			if strings.Contains(rec.Body.String(), "10.0.0.7") {
				t.Errorf("internal cause leaked: %s", rec.Body)
			}
			if tt.method == "HEAD" {
				if rec.Body.Len() != 0 {
					t.Errorf("HEAD body %q", rec.Body)
				}
				return
			}
			var b body
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if b.Error.Code != tt.wantCode || b.Error.Param != tt.wantParam || b.Error.Message == "" {
				t.Errorf("body %+v", b)
			}
		})
	}
}

func TestErrorsAs(t *testing.T) {
	cause := errors.New("boom")
	err := Wrap(http.StatusBadGateway, "store", "store unavailable", cause)
	if !errors.Is(err, cause) {
		t.Error("Wrap must keep the cause for errors.Is")
	}
}

// TestLogLevels: faults log at error, the client's own errors not at all
// (unless they carry a cause), and answers that are not faults at debug:
// a client that left, and load shed on purpose (a 503 with Retry-After and
// no cause), which at error level would flood the log under overload.
func TestLogLevels(t *testing.T) {
	secret := errors.New("dial tcp 10.0.0.7:9042: connection refused")
	for _, tt := range []struct {
		name string
		err  error
		want string // the level logged, "" for none
	}{
		{"fault", secret, "ERROR"},
		{"store down", Wrap(503, "store_unavailable", "try again", secret), "ERROR"},
		{"shed", &Error{Status: 503, Code: "overloaded", Message: "retry shortly", RetryAfter: 1}, "DEBUG"},
		{"503 without retry", &Error{Status: 503, Code: "x", Message: "down"}, "ERROR"},
		{"client left", Wrap(StatusClientClosed, "client_closed", "gone", errors.New("context canceled")), "DEBUG"},
		{"bad param", BadParam("w", "w must be 1..8192"), ""},
		{"4xx with cause", Wrap(400, "body_incomplete", "ended early", secret), "WARN"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf strings.Builder
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			Write(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil), log, tt.err)
			got := ""
			if _, rest, ok := strings.Cut(buf.String(), "level="); ok {
				got, _, _ = strings.Cut(rest, " ")
			}
			if got != tt.want {
				t.Errorf("logged at %q, want %q (%s)", got, tt.want, buf.String())
			}
		})
	}
}
