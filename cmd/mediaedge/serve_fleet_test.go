package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/mediaedge/mediaedge/edge"
	"github.com/mediaedge/mediaedge/transform"
	"github.com/mediaedge/mediaedge/transform/video"
)

// parseFleetFlags is serve's fleet and limit flags parsed from args.
func parseFleetFlags(t *testing.T, args ...string) serveConfig {
	t.Helper()
	cfg := serveConfig{Edge: edge.DefaultConfig(), Transform: transform.DefaultConfig(), Video: video.DefaultConfig()}
	f := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	bindLimitFlags(f, &cfg)
	bindFleetFlags(f, &cfg)
	if err := f.Parse(args); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestFleetForwardWaitCoversTheLongestRender: a forward waits for the
// owner's headers at least as long as the owner may take to render, or a
// result a lone edge serves is a 502 in a fleet.
func TestFleetForwardWaitCoversTheLongestRender(t *testing.T) {
	for _, args := range [][]string{
		nil, // the defaults: a video job may take 2 x 120 s after a 5 s queue
		{"--transform-timeout", "100s", "--video-timeout", "5m", "--video-queue-wait", "30s"},
	} {
		cfg := parseFleetFlags(t, append([]string{"--fleet-bind", "127.0.0.1:7946"}, args...)...)
		fc, err := cfg.Fleet.config("http://127.0.0.1:8080", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := fc.Validate(); err != nil {
			t.Fatal(err)
		}
		longest := cfg.Video.QueueWait + 2*cfg.Video.Timeout + 2*cfg.Transform.Timeout // the copy, then ffmpeg
		if fc.ResponseHeaderTimeout <= longest {
			t.Errorf("%v: forwards wait %v for headers; a render may take %v", args, fc.ResponseHeaderTimeout, longest)
		}
		if fc.ResponseHeaderTimeout > longest+time.Minute {
			t.Errorf("%v: forwards wait %v, far beyond the longest render %v", args, fc.ResponseHeaderTimeout, longest)
		}
	}
}

func TestFleetFlagsRequireAKeyOffLoopback(t *testing.T) {
	const key = "00112233445566778899aabbccddeeff"
	for _, tc := range []struct {
		args []string
		want string // in the error; "" = valid
	}{
		{[]string{"--fleet-bind", "10.0.0.5:7946", "--fleet-http", "http://10.0.0.5:8080"}, "--fleet-key: required"},
		{[]string{"--fleet-bind", "10.0.0.5:7946", "--fleet-http", "http://10.0.0.5:8080", "--fleet-key", key}, ""},
		{[]string{"--fleet-bind", "10.0.0.5:7946", "--fleet-http", "http://10.0.0.5:8080", "--fleet-insecure"}, ""},
		{[]string{"--fleet-bind", "127.0.0.1:7946"}, ""},
		{[]string{"--fleet-insecure"}, "--fleet-insecure: needs --fleet-bind"},
	} {
		cfg := parseFleetFlags(t, tc.args...)
		errs := cfg.Fleet.validate("127.0.0.1:8080")
		var msgs []string
		for _, err := range errs {
			msgs = append(msgs, err.Error())
		}
		got := strings.Join(msgs, "; ")
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%v: errors %q, want %q", tc.args, got, tc.want)
			continue
		}
		if tc.want != "" || cfg.Fleet.Bind == "" {
			continue
		}
		// What the flags allow, fleet allows: a fleet without a key off
		// loopback only with --fleet-insecure.
		fc, err := cfg.Fleet.config("http://127.0.0.1:8080", nil)
		if err == nil {
			fc.Name = "a"
			err = fc.Validate()
		}
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
		}
	}
}
