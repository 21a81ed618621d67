package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is a reference or mediaedge server run for a benchmark, on
// 127.0.0.1 only, stopped when the benchmark ends.
type process struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	exited chan error
	Base   string // http://127.0.0.1:PORT
}

// startProcess runs bin with args (PORT replaced by a free port) and waits
// until probePath answers below 500.
func startProcess(ctx context.Context, name, bin string, args []string, probePath string) (*process, error) {
	return startProcessEnv(ctx, name, bin, args, nil, probePath)
}

// startProcessEnv is startProcess with extra environment (PORT replaced too).
func startProcessEnv(ctx context.Context, name, bin string, args, env []string, probePath string) (*process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "PORT", strconv.Itoa(port))
	}
	cmd := serverCommand(bin, args...)
	cmd.Env = os.Environ()
	for _, e := range env {
		cmd.Env = append(cmd.Env, strings.ReplaceAll(e, "PORT", strconv.Itoa(port)))
	}
	p := &process{cmd: cmd, stderr: &bytes.Buffer{}, exited: make(chan error, 1), Base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	cmd.Stdout = p.stderr
	cmd.Stderr = p.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.Base + probePath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return p, nil
			}
		}
		select {
		case err := <-p.exited:
			return nil, fmt.Errorf("%s exited (%v): %s", name, err, p.stderr.String())
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("%s did not answer on %s: %s", name, p.Base, p.stderr.String())
		}
	}
}

// Stop ends the process group (SIGTERM, then SIGKILL after 10 s).
func (p *process) Stop() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// PeakRSS is the process's high-water resident set (VmHWM) in bytes.
func (p *process) PeakRSS() int64 { return procStatus(p.cmd.Process.Pid, "VmHWM:") }

func procStatus(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), field) {
			fs := strings.Fields(sc.Text())
			if len(fs) >= 2 {
				kb, _ := strconv.ParseInt(fs[1], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// startMediaedge runs `mediaedge serve` on a fresh data folder.
func startMediaedge(ctx context.Context, bin, dir, token string, extra ...string) (*process, error) {
	args := append([]string{"serve", "--listen", "127.0.0.1:PORT", "--data", dir, "--upload-token", token, "--log-level", "warn"}, extra...)
	return startProcess(ctx, "mediaedge", bin, args, "/healthz")
}
