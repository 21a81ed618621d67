package bench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mediaedge/mediaedge/internal/testenv"
)

// centrifugoBinary finds Centrifugo: CENTRIFUGO_BIN, or where
// scripts/install-deps.sh test builds it.
func centrifugoBinary(t *testing.T) string {
	t.Helper()
	return testenv.RefTool(t, "centrifugo", testenv.CentrifugoVersion, "CENTRIFUGO_BIN")
}

// TestWSSmall runs the WebSocket benchmark at a toy size: every socket
// opens on both servers, every event reaches every socket of its user, and
// a table with the ratio comes out. It asserts no timing.
func TestWSSmall(t *testing.T) {
	cfg := WSConfig{Mediaedge: edgeBinary(t), Centrifugo: centrifugoBinary(t),
		Conns: 50, Users: 5, Connected: 20, Followers: 2, Rate: 20, Duration: time.Second, SourceAddrs: 3, Dir: t.TempDir()}
	var out bytes.Buffer
	rep, err := WS(context.Background(), cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range []WSTarget{rep.Ours, *rep.Ref} {
		// 10 events (2 followers x 5 users), each to the 4 sockets of its user.
		if tg.Conns != 50 || tg.RSSAfter <= 0 || tg.Events != 10 || tg.Delivered != 40 || tg.Lost != 0 || tg.P99 <= 0 {
			t.Errorf("%s: %+v", tg.Name, tg)
		}
	}
	if !strings.Contains(out.String(), "ratio") {
		t.Error("no table printed")
	}
}

// TestWSFull runs the CLI's benchmark when MEDIAEDGE_BENCH_FULL=1.
func TestWSFull(t *testing.T) {
	if os.Getenv("MEDIAEDGE_BENCH_FULL") != "1" {
		t.Skip("set MEDIAEDGE_BENCH_FULL=1 for the full-size run")
	}
	cfg := DefaultWSConfig()
	cfg.Mediaedge, cfg.Centrifugo = edgeBinary(t), centrifugoBinary(t)
	var out bytes.Buffer
	_, err := WS(context.Background(), cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
}
