package bench

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/mediaedge/mediaedge/internal/cassandratest"
)

func TestGenReader(t *testing.T) {
	g := newGen(3*mib + 17)
	b, err := io.ReadAll(g)
	if err != nil || len(b) != 3*mib+17 {
		t.Fatalf("read %d bytes, %v", len(b), err)
	}
	if bytes.Equal(b[:mib], b[mib:2*mib]) {
		t.Error("blocks repeat: chunks would be identical")
	}
}

// TestChunkstoreReport runs the benchmark at toy sizes against both stores and
// checks a report with ratios comes out; it asserts no timing.
func TestChunkstoreReport(t *testing.T) {
	cfg := ChunkstoreConfig{Size: 3 * mib, RSSSize: 4 * mib, Concurrency: 2, Dir: t.TempDir(),
		CassandraHosts: cassandratest.Hosts(t)}
	var out strings.Builder
	rep, err := Chunkstore(context.Background(), cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 4 {
		t.Fatalf("rows %+v", rep.Rows)
	}
	for _, r := range rep.Rows {
		if r.OursMBps <= 0 || r.RefMBps <= 0 {
			t.Errorf("row %+v has no measurement", r)
		}
	}
	if len(rep.RSS) != 2 {
		t.Fatalf("want RSS for embedded and cassandra, got %+v", rep.RSS)
	}
	for _, r := range rep.RSS {
		if r.BaseRSS <= 0 || r.PeakRSSWrite <= 0 || r.PeakRSSRead <= 0 || r.PeakHeap == 0 {
			t.Errorf("RSS row %+v has no measurement", r)
		}
	}
	t.Log("\n" + out.String())
	if !strings.Contains(out.String(), "ratio") || !strings.Contains(out.String(), "Go heap") {
		t.Errorf("output lacks the table:\n%s", out.String())
	}
}
