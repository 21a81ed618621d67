// Package testenv is the one rule every test that runs an outside tool
// follows: the tool is found on PATH (or where scripts/install-deps.sh builds
// the reference tools), and when it is missing the test is skipped with the
// command that installs it, except under CI=true, where it fails: a CI run
// that skipped the real nginx, ffmpeg or Chromium would prove nothing.
//
// scripts/install-deps.sh holds the list of tools (its TOOLS table) and
// `make test` checks it before any test starts, so in CI this package's
// failure is a second line of defence, not the first.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Reference tool versions; they must match scripts/install-deps.sh.
const (
	TusdVersion      = "v2.9.1"
	ImaginaryVersion = "v1.2.4"

	// CentrifugoVersion is the WebSocket benchmark's reference (bench/ws.go).
	CentrifugoVersion = "v6.9.1"
)

// CI reports whether the run is a CI run (CI=true), where nothing may skip
// for want of a tool.
func CI() bool { return os.Getenv("CI") == "true" }

// Missing skips the test with msg, or fails it under CI=true.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if CI() {
		t.Fatalf("%s; CI=true requires it (scripts/install-deps.sh test installs it)", msg)
	}
	t.Skipf("%s (scripts/install-deps.sh test installs it)", msg)
}

// Tool returns the path of the command name: an absolute path is checked
// as is, anything else is looked up on PATH.
func Tool(t testing.TB, name string) string {
	t.Helper()
	if filepath.IsAbs(name) {
		if fi, err := os.Stat(name); err != nil || fi.IsDir() {
			Missing(t, name+" is not installed")
		}
		return name
	}
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name+" is not installed")
	}
	return p
}

// RefTool returns a reference tool built from the Go module proxy (tusd,
// imaginary): $ENV_BIN (e.g. TUSD_BIN) when set, else where
// scripts/install-deps.sh puts it (~/.cache/mediaedge/ref/NAME-VERSION/NAME).
func RefTool(t testing.TB, name, version, env string) string {
	t.Helper()
	if b := os.Getenv(env); b != "" {
		return Tool(t, b)
	}
	return Tool(t, RefPath(name, version))
}

// RefPath is where scripts/install-deps.sh builds a reference tool.
func RefPath(name, version string) string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "mediaedge", "ref", name+"-"+version, name)
}
