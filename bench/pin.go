package bench

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
)

// Pinning puts every server a benchmark starts (mediaedge and its reference
// alike) on one set of CPUs and the load generator on another. Unpinned, on
// a small machine, the servers and the load generator fight over the same
// cores and a ratio measures the scheduler as much as the servers: issue 16
// found 0.61x (cached renditions) unpinned that was 0.24x pinned. taskset
// (util-linux, in every Debian) sets the servers' affinity, inherited by
// their workers; the load generator is the bench process itself, which
// cmd/mediaedge re-executes under taskset (PinSelf) so every thread the Go
// runtime starts inherits it.
type Pinning struct {
	Server string // CPU list for servers, e.g. "1"; empty: unpinned
	Client string // CPU list for the load generator, e.g. "0"
}

// DefaultPinning is servers on CPU 1 and the load generator on CPU 0 when
// the machine has at least two CPUs and taskset, and no pinning otherwise
// (the reason is the second answer).
func DefaultPinning() (Pinning, string) {
	if runtime.NumCPU() < 2 {
		return Pinning{}, "one CPU: nothing to pin apart"
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return Pinning{}, "taskset not found (util-linux)"
	}
	return Pinning{Server: "1", Client: "0"}, ""
}

// pinning is what serverCommand applies; cmd/mediaedge sets it once, before
// any benchmark runs.
var pinning Pinning

// SetPinning chooses the CPUs of the servers benchmarks start from now on.
func SetPinning(p Pinning) { pinning = p }

// String says what a benchmark's output should say about pinning.
func (p Pinning) String() string {
	if p.Server == "" {
		return "unpinned: servers and load generator share every CPU"
	}
	return fmt.Sprintf("pinned: servers on CPU %s, load generator on CPU %s (taskset)", p.Server, p.Client)
}

// serverCommand is exec.Command for a server, under taskset when pinned.
func serverCommand(bin string, args ...string) *exec.Cmd {
	if pinning.Server == "" {
		return exec.Command(bin, args...)
	}
	return exec.Command("taskset", append([]string{"-c", pinning.Server, bin}, args...)...)
}

// pinnedEnv marks a process already re-executed under taskset.
const pinnedEnv = "MEDIAEDGE_BENCH_PINNED"

// PinSelf re-executes the running program under taskset -c p.Client, once:
// it returns only in the re-executed process (or when p pins nothing);
// otherwise it exits with the child's status.
func PinSelf(p Pinning) error {
	if p.Client == "" {
		return nil
	}
	if _, ok := PinnedByParent(); ok {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("pin: %w", err)
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return fmt.Errorf("pin: %w", err)
	}
	env := append(os.Environ(), pinnedEnv+"="+p.Server+"/"+p.Client)
	// exec, not a child: signals and the exit status stay the user's.
	return syscall.Exec(taskset, append([]string{"taskset", "-c", p.Client, exe}, os.Args[1:]...), env)
}

// PinnedByParent is the pinning PinSelf re-executed this process with:
// inside it, runtime.NumCPU counts only the load generator's CPUs.
func PinnedByParent() (Pinning, bool) {
	server, client, ok := strings.Cut(os.Getenv(pinnedEnv), "/")
	if !ok || server == "" || client == "" {
		return Pinning{}, false
	}
	return Pinning{Server: server, Client: client}, true
}
