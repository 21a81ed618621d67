package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func runHealth(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"health"}, args...))
	err := root.Execute()
	return out.String(), err
}

// TestHealthCommand: `mediaedge health` (the container health check)
// succeeds only on a 200 from /readyz; a 503, a hang past --timeout or no
// server at all fail it, the error saying why.
func TestHealthCommand(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	hang := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/hang":
			select { // until the probe gives up, or the test ends
			case <-hang:
			case <-r.Context().Done():
			}
		case r.URL.Path != "/readyz":
			http.NotFound(w, r)
		case ready.Load():
			_, _ = w.Write([]byte("ready\n"))
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":{"code":"not_ready"}}`))
		}
	}))
	t.Cleanup(ts.Close)
	t.Cleanup(func() { close(hang) }) // runs first: Close waits for handlers
	listen := ts.Listener.Addr().String()

	if out, err := runHealth(t, nil, "--url", ts.URL+"/readyz"); err != nil || !strings.Contains(out, "200") {
		t.Fatalf("ready server: %q %v", out, err)
	}
	// The URL is derived from the environment twin of --listen, the one
	// the server reads, so the image's probe needs no flags.
	if out, err := runHealth(t, map[string]string{"MEDIAEDGE_LISTEN": listen}); err != nil {
		t.Fatalf("derived from MEDIAEDGE_LISTEN=%s: %q %v", listen, out, err)
	}
	ready.Store(false)
	if _, err := runHealth(t, nil, "--url", ts.URL+"/readyz"); err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "not_ready") {
		t.Fatalf("a 503 passed the health check: %v", err)
	}
	if _, err := runHealth(t, nil, "--listen", listen); err == nil {
		t.Fatal("a 503 passed the health check (derived URL)")
	}
	start := time.Now()
	if _, err := runHealth(t, nil, "--url", ts.URL+"/hang", "--timeout", "200ms"); err == nil {
		t.Fatal("a hanging server passed the health check")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("--timeout 200ms took %v", d)
	}
	// Nothing listening.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if _, err := runHealth(t, nil, "--listen", closed); err == nil {
		t.Fatal("no server passed the health check")
	}
	if _, err := runHealth(t, nil, "--url", "127.0.0.1:8080/readyz"); err == nil || !strings.Contains(err.Error(), "--url") {
		t.Fatalf("a URL without a scheme: %v", err)
	}
}

// TestHealthTarget: an address that binds every interface is asked on
// loopback.
func TestHealthTarget(t *testing.T) {
	for listen, want := range map[string]string{
		"0.0.0.0:8080":   "http://127.0.0.1:8080/readyz",
		":8080":          "http://127.0.0.1:8080/readyz",
		"[::]:8080":      "http://[::1]:8080/readyz",
		"10.0.0.5:9000":  "http://10.0.0.5:9000/readyz",
		"localhost:8080": "http://localhost:8080/readyz",
	} {
		got, err := healthOptions{Listen: listen, Timeout: time.Second}.target()
		if err != nil || got != want {
			t.Errorf("--listen %s: %q %v, want %q", listen, got, err, want)
		}
	}
}
