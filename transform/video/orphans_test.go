//go:build linux

package video

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestOrphanHelper is not a test: TestChildDiesWithServer runs the test
// binary as a "server" that starts one ffprobe job, which blocks for ever,
// and prints the child's pid.
func TestOrphanHelper(t *testing.T) {
	src := os.Getenv("MEDIAEDGE_ORPHAN_HELPER")
	if src == "" {
		t.Skip("helper process for TestChildDiesWithServer")
	}
	cfg := DefaultConfig()
	cfg.TempDir = os.Getenv("MEDIAEDGE_ORPHAN_TEMP")
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.onStart = func(pid int, _ string) { os.Stdout.WriteString(strconv.Itoa(pid) + "\n") }
	_, _ = c.Probe(context.Background(), src, "video/mp4")
}

// TestChildDiesWithServer: a server killed with SIGKILL (no chance to kill
// its children) does not leave its ffmpeg/ffprobe running: the kernel kills
// them too.
func TestChildDiesWithServer(t *testing.T) {
	testTemp := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOrphanHelper$")
	cmd.Env = append(os.Environ(), "MEDIAEDGE_ORPHAN_HELPER="+fifo(t), "MEDIAEDGE_ORPHAN_TEMP="+testTemp)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, perr := strconv.Atoi(string(line[:max(0, len(line)-1)]))
	if err != nil || perr != nil {
		t.Fatalf("helper: %q %v %v", line, err, perr)
	}
	// A pidfd becomes readable when the process ends: no polling.
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd of %d: %v", pid, err)
	}
	defer unix.Close(fd)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) }) // should it have survived
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 10_000)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			t.Fatalf("ffprobe %d still runs 10 s after its server was killed (%v)", pid, err)
		}
		break
	}
}

// TestStaleTempSwept: New removes the job folders a killed server left (our
// prefixes, older than two job deadlines) and nothing else.
func TestStaleTempSwept(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.TempDir = dir
	old := time.Now().Add(-3 * cfg.Timeout)
	entries := map[string]bool{ // name: swept
		"mediaedge-video-dead":   true,
		"mediaedge-poster-dead":  true,
		"mediaedge-video-live":   false, // recent: may be a live job's
		"someone-elses-old-file": false,
	}
	for name := range entries {
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "source"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if name != "mediaedge-video-live" {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	newConvWith(t, cfg)
	for name, swept := range entries {
		_, err := os.Stat(filepath.Join(dir, name))
		if gone := errors.Is(err, os.ErrNotExist); gone != swept {
			t.Errorf("%s: removed %v, want %v", name, gone, swept)
		}
	}
}
