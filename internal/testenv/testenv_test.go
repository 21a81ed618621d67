package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestVersionsMatchInstallScript keeps the versions here and in
// scripts/install-deps.sh from drifting apart: a mismatch would make tests
// look for a tool where the script never puts it.
func TestVersionsMatchInstallScript(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "scripts", "install-deps.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"TUSD_VERSION=" + TusdVersion, "IMAGINARY_VERSION=" + ImaginaryVersion, "CENTRIFUGO_VERSION=" + CentrifugoVersion} {
		if !strings.Contains(string(b), want) {
			t.Errorf("scripts/install-deps.sh does not set %s", want)
		}
	}
}

func TestRefPath(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/x")
	if got := RefPath("tusd", "v1"); got != "/x/mediaedge/ref/tusd-v1/tusd" {
		t.Fatal(got)
	}
}

// fakeTB records how Tool ended a test.
type fakeTB struct {
	testing.TB
	failed, skipped bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Fatalf(string, ...any) { f.failed = true; runtime.Goexit() }
func (f *fakeTB) Skipf(string, ...any)  { f.skipped = true; runtime.Goexit() }

func run(fn func(t testing.TB)) *fakeTB {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() { defer close(done); fn(f) }()
	<-done
	return f
}

func TestMissingFailsUnderCI(t *testing.T) {
	t.Setenv("CI", "true")
	f := run(func(tb testing.TB) { Tool(tb, "no-such-tool-mediaedge") })
	if !f.failed || f.skipped {
		t.Fatalf("under CI a missing tool must fail: %+v", f)
	}
	t.Setenv("CI", "")
	f = run(func(tb testing.TB) { Tool(tb, "/no/such/tool") })
	if f.failed || !f.skipped {
		t.Fatalf("outside CI a missing tool skips: %+v", f)
	}
	f = run(func(tb testing.TB) {
		if p := Tool(tb, "sh"); p == "" {
			tb.Fatalf("empty")
		}
	})
	if f.failed || f.skipped {
		t.Fatalf("sh is on PATH: %+v", f)
	}
}
