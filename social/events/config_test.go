package events

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	ext := DefaultConfig()
	ext.URL, ext.Dir = "nats://a:4222,nats://b:4222", ""
	if err := ext.Validate(); err != nil || ext.replicas() != 3 {
		t.Fatalf("external config: %v, R%d", err, ext.replicas())
	}
	bad := DefaultConfig()
	bad.Dir = ""
	bad.Stream = "has.dot"
	bad.Subject = "social.>"
	bad.Replicas = 3
	bad.DuplicateWindow = 2 * time.Second
	bad.Listen = "127.0.0.1:http"
	bad.Relay.Batch = 0
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"folder", "has.dot", "social.>", "replicas 3", "duplicate window", "bad port", "relay batch"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	cc := DefaultConsumerConfig("bad name")
	cc.Kinds = []string{"ok.*", "no>"}
	cc.MaxDeliver = 0
	cc.Heartbeat = 20 * time.Second
	err = cc.Validate()
	for _, want := range []string{"bad name", `"no>"`, "max deliver 0", "heartbeat 20s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("consumer error lacks %q: %v", want, err)
		}
	}
	if err := DefaultConsumerConfig("feed-fanout").Validate(); err != nil {
		t.Errorf("default consumer config: %v", err)
	}
}

func TestKindToken(t *testing.T) {
	for in, want := range map[string]string{
		"follow": "follow", "user.created": "user.created", "": "_", "a b": "a_b",
		"x.>": "x._", "*": "_", ".lead": "_lead", "trail.": "trail_", "a..b": "a._b",
	} {
		if got := kindToken(in); got != want {
			t.Errorf("kindToken(%q) = %q, want %q", in, got, want)
		}
	}
}
