package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// probe is a command with one flag of each kind serve uses; it records what
// the flags hold when it runs.
type probe struct {
	listen   string
	caches   []string
	timeout  time.Duration
	sign     bool
	size     int
	presets  map[string]string
	tokenEnv []string
}

func runProbe(t *testing.T, env map[string]string, args ...string) (probe, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var p probe
	root := newRootCmd()
	cmd := &cobra.Command{Use: "probe", RunE: func(*cobra.Command, []string) error { return nil }}
	f := cmd.Flags()
	f.String("config", "", "")
	f.StringVar(&p.listen, "listen", "127.0.0.1:8080", "")
	f.StringSliceVar(&p.caches, "cache-dir", nil, "")
	f.DurationVar(&p.timeout, "shutdown-timeout", 30*time.Second, "")
	f.BoolVar(&p.sign, "require-signature", false, "")
	f.IntVar(&p.size, "chunk-size", 1<<20, "")
	f.StringToStringVar(&p.presets, "preset", nil, "")
	f.StringSliceVar(&p.tokenEnv, "upload-token", nil, "")
	root.AddCommand(cmd)
	root.SetArgs(append([]string{"probe"}, args...))
	root.SetOut(&bytes.Buffer{})
	err := root.Execute()
	return p, err
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mediaedge.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigFile(t *testing.T) {
	file := writeConfig(t, `
listen: 127.0.0.1:9000
cache-dir: [/a:1GiB, /b]
shutdown-timeout: 5s
require-signature: true
chunk-size: 262144
preset:
  thumb: w=200&h=200&fit=crop
  hero: w=1600
upload-token: [tok-aaaaaaaaaaaaaaaa]
`)
	t.Run("file fills the flags", func(t *testing.T) {
		p, err := runProbe(t, nil, "--config", file)
		if err != nil {
			t.Fatal(err)
		}
		want := probe{listen: "127.0.0.1:9000", caches: []string{"/a:1GiB", "/b"}, timeout: 5 * time.Second, sign: true,
			size: 262144, presets: map[string]string{"thumb": "w=200&h=200&fit=crop", "hero": "w=1600"},
			tokenEnv: []string{"tok-aaaaaaaaaaaaaaaa"}}
		if !reflect.DeepEqual(p, want) {
			t.Fatalf("got %+v\nwant %+v", p, want)
		}
	})
	t.Run("flag beats env beats file", func(t *testing.T) {
		p, err := runProbe(t, map[string]string{"MEDIAEDGE_LISTEN": "127.0.0.1:7000", "MEDIAEDGE_CACHE_DIR": "/e1,/e2"},
			"--config", file, "--listen", "127.0.0.1:6000")
		if err != nil {
			t.Fatal(err)
		}
		if p.listen != "127.0.0.1:6000" || !reflect.DeepEqual(p.caches, []string{"/e1", "/e2"}) || p.timeout != 5*time.Second {
			t.Fatalf("precedence: %+v", p)
		}
	})
	t.Run("config named by env", func(t *testing.T) {
		p, err := runProbe(t, map[string]string{"MEDIAEDGE_CONFIG": file})
		if err != nil || p.listen != "127.0.0.1:9000" {
			t.Fatalf("%+v %v", p, err)
		}
	})
	t.Run("every bad key reported", func(t *testing.T) {
		bad := writeConfig(t, "listn: x\nshutdown-timeout: soon\nchunk-size:\ncache-dir: /ok\n")
		_, err := runProbe(t, nil, "--config", bad)
		if err == nil {
			t.Fatal("bad config accepted")
		}
		for _, want := range []string{`unknown key "listn"`, "shutdown-timeout", "chunk-size: no value"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q: %v", want, err)
			}
		}
	})
	t.Run("missing file", func(t *testing.T) {
		if _, err := runProbe(t, nil, "--config", filepath.Join(t.TempDir(), "nope.yaml")); err == nil {
			t.Fatal("a missing config file was ignored")
		}
	})
}

// TestServeFlagsValidate: the serve command's config is checked before
// anything is opened, and every problem is reported.
func TestServeFlagsValidate(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"serve", "--data", t.TempDir(), "--listen", "nope", "--upload-token", "short", "--max-upload-size", "lots"})
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), "max-upload-size") {
		t.Fatalf("bad size accepted: %v", err)
	}
	root = newRootCmd()
	root.SetOut(&out)
	root.SetArgs([]string{"serve", "--data", t.TempDir(), "--listen", "nope", "--upload-token", "short"})
	err = root.Execute()
	if err == nil || !strings.Contains(err.Error(), "listen") || !strings.Contains(err.Error(), "upload-token") {
		t.Fatalf("want both problems reported: %v", err)
	}
}

// TestServeLimitFlags: the limits DESIGN.md calls configurable are flags
// listed by `serve --help`, reach the packages' configs (environment twins
// too), and a bad value is refused at start naming its flag, every one at
// once, before anything is opened.
func TestServeLimitFlags(t *testing.T) {
	limits := []string{"max-source-pixels", "max-output-side", "max-frames", "transform-workers",
		"transform-queue", "transform-timeout", "video-timeout", "video-workers", "video-queue-wait",
		"gif-max-frames", "gif-max-pixels", "video-crf", "hls-crf", "video-preset", "video-animation-preset",
		"hls-max-side", "hls-segment-seconds", "hls-stale-after", "cache-policy", "cache-fail-threshold",
		"cache-probe-interval", "cache-write-deadline", "cache-open-files", "cache-sync-fills",
		"max-transform-source", "transform-source-memory", "max-upload-size", "cache-max-original"}
	root := newRootCmd()
	var help bytes.Buffer
	root.SetOut(&help)
	root.SetArgs([]string{"serve", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, f := range limits {
		if !strings.Contains(help.String(), "--"+f+" ") {
			t.Errorf("serve --help does not list --%s", f)
		}
	}

	bad := map[string]string{
		"max-source-pixels": "0", "max-output-side": "99999", "max-frames": "-1", "transform-workers": "0",
		"transform-queue": "-1", "transform-timeout": "0s", "video-timeout": "0s", "video-workers": "0",
		"gif-max-frames": "0", "video-crf": "52", "hls-crf": "-1", "video-preset": "fastest", "video-animation-preset": "quick",
		"hls-max-side": "8", "hls-segment-seconds": "31", "hls-stale-after": "0s", "cache-policy": "mru",
		"cache-fail-threshold": "0", "cache-write-deadline": "0s", "cache-open-files": "-1",
		"max-transform-source": "0", "transform-source-memory": "0",
	}
	data := t.TempDir()
	args := []string{"serve", "--data", data}
	for f, v := range bad {
		args = append(args, "--"+f+"="+v)
	}
	root = newRootCmd()
	root.SetOut(&bytes.Buffer{})
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		t.Fatal("bad limits accepted")
	}
	for f := range bad {
		if !strings.Contains(err.Error(), f+" ") {
			t.Errorf("the error does not name --%s:\n%v", f, err)
		}
	}
	if entries, _ := os.ReadDir(data); len(entries) != 0 {
		t.Errorf("a refused start left files in --data: %v", entries)
	}

	// The environment twin reaches the config too.
	t.Setenv("MEDIAEDGE_GIF_MAX_FRAMES", "0")
	root = newRootCmd()
	root.SetOut(&bytes.Buffer{})
	root.SetArgs([]string{"serve", "--data", t.TempDir()})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "gif-max-frames 0") {
		t.Fatalf("MEDIAEDGE_GIF_MAX_FRAMES=0 accepted: %v", err)
	}
}

// TestServeRefusesMissingCacheDir: a --cache-dir that does not exist (an
// unmounted disk) refuses the start naming the flag, instead of running
// without a cache.
func TestServeRefusesMissingCacheDir(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "not-mounted")
	root := newRootCmd()
	root.SetOut(&bytes.Buffer{})
	root.SetArgs([]string{"serve", "--data", t.TempDir(), "--cache-dir", missing + ":1GiB"})
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), "--cache-dir "+missing) {
		t.Fatalf("missing cache folder accepted: %v", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("the missing folder was created")
	}
}

// serveErr runs `serve` with args on a fresh --data and returns its error;
// every call here is refused by Validate before anything is opened (the
// caller adds a bad flag when the flags under test are good).
func serveErr(t *testing.T, args ...string) error {
	t.Helper()
	root := newRootCmd()
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	root.SetArgs(append([]string{"serve", "--data", t.TempDir()}, args...))
	return root.Execute()
}

// TestServePushWebhookValidate: --push-webhook must be an absolute http(s)
// URL with a host; anything else is refused at start naming the flag,
// instead of failing every push later.
func TestServePushWebhookValidate(t *testing.T) {
	for _, bad := range []string{"relay.example.com/push", "ftp://relay.example.com/push", "http:///push", "https://", "http://[::1/push", "/push"} {
		err := serveErr(t, "--push-webhook", bad)
		if err == nil || !strings.Contains(err.Error(), "--push-webhook") {
			t.Errorf("--push-webhook %q accepted: %v", bad, err)
		}
	}
	for _, good := range []string{"https://relay.example.com/push", "http://127.0.0.1:9000/hook?x=1"} {
		// --node-id 5000 makes the start fail in Validate either way.
		err := serveErr(t, "--push-webhook", good, "--node-id", "5000")
		if err == nil || !strings.Contains(err.Error(), "--node-id") || strings.Contains(err.Error(), "push-webhook") {
			t.Errorf("--push-webhook %q refused: %v", good, err)
		}
	}
}

// TestServeUnspecifiedListenNeedsPublicURL: serve on every interface
// (the image's 0.0.0.0:8080) without --public-url is refused naming it, as
// returned media URLs would say http://0.0.0.0:8080; with it, it passes.
func TestServeUnspecifiedListenNeedsPublicURL(t *testing.T) {
	data := t.TempDir()
	root := newRootCmd()
	root.SetOut(&bytes.Buffer{})
	root.SetArgs([]string{"serve", "--data", data, "--listen", "0.0.0.0:0"})
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), "public-url") {
		t.Fatalf("--listen 0.0.0.0 without --public-url accepted: %v", err)
	}
	if entries, _ := os.ReadDir(data); len(entries) != 0 {
		t.Errorf("a refused start left files in --data: %v", entries)
	}
	t.Setenv("MEDIAEDGE_PUBLIC_URL", "https://media.example.com")
	err = serveErr(t, "--listen", "0.0.0.0:0", "--node-id", "5000")
	if err == nil || strings.Contains(err.Error(), "public-url") {
		t.Fatalf("--listen 0.0.0.0 with MEDIAEDGE_PUBLIC_URL: %v", err)
	}
}
