package bench

import (
	"github.com/mediaedge/mediaedge/internal/testenv"

	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// edgeBinary builds `mediaedge` for the benchmarks that run it as a server.
func edgeBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(t.TempDir(), "mediaedge")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/mediaedge")
	cmd.Dir = filepath.Dir(filepath.Dir(file))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// tusdBinary finds tusd: TUSD_BIN, or where scripts/install-deps.sh test
// builds it (the smoke test runs in `make test`, so CI has it).
func tusdBinary(t *testing.T) string {
	t.Helper()
	return testenv.RefTool(t, "tusd", testenv.TusdVersion, "TUSD_BIN")
}

// TestUploadSmall runs the upload benchmark at a small size: both targets
// take every upload, and the large upload's download comes back whole.
func TestUploadSmall(t *testing.T) {
	cfg := DefaultUploadConfig()
	cfg.Mediaedge, cfg.Tusd = edgeBinary(t), tusdBinary(t)
	cfg.Uploads, cfg.Size, cfg.Patch, cfg.RSSSize = 2, 3<<20+7, 1<<20, 8<<20
	var out bytes.Buffer
	rep, err := Upload(context.Background(), cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if rep.OursMBps <= 0 || rep.TusdMBps <= 0 || rep.SinkMBps <= 0 || rep.TusdDurableMBps <= 0 || rep.TusdDurableMBps > rep.TusdMBps || rep.RSSAll <= 0 {
		t.Errorf("report %+v", rep)
	}
	if !strings.Contains(out.String(), "ratio") {
		t.Error("no table printed")
	}
	// CPU per MiB is read in 10 ms ticks, so at this size it may be 0; the
	// SHA-256 floor is measured in memory and never is.
	if rep.SHA256MBps <= 0 || rep.OursCPU < 0 || rep.TusdCPU < 0 {
		t.Errorf("CPU per MiB %v / %v, SHA-256 %.0f MB/s", rep.OursCPU, rep.TusdCPU, rep.SHA256MBps)
	}
	for _, line := range []string{"server CPU per MiB received", "SHA-256 on one core", "digest sink / tusd per round", "mediaedge / digest sink per round"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("no %q line printed", line)
		}
	}
}

// TestUploadFull runs the benchmark when MEDIAEDGE_BENCH_FULL=1.
func TestUploadFull(t *testing.T) {
	if os.Getenv("MEDIAEDGE_BENCH_FULL") != "1" {
		t.Skip("set MEDIAEDGE_BENCH_FULL=1 for the full-size run")
	}
	cfg := DefaultUploadConfig()
	cfg.Mediaedge, cfg.Tusd = edgeBinary(t), tusdBinary(t)
	var out bytes.Buffer
	_, err := Upload(context.Background(), cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
}
