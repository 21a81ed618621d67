package edgecache

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const crashEnv = "EDGECACHE_CRASH_DIRS"

func crashConfig(dirs []string) Config {
	var ds []DiskConfig
	for _, d := range dirs {
		ds = append(ds, DiskConfig{Path: d, Budget: 6 << 20}) // small: evictions run too
	}
	return testConfig(ds...)
}

// TestCrashChild is the child of TestKill9DuringWrites: it fills forever, large
// and small entries from 4 goroutines, and reports each fill on stdout.
func TestCrashChild(t *testing.T) {
	dirs := os.Getenv(crashEnv)
	if dirs == "" {
		t.Skip("only runs as the child of TestKill9DuringWrites")
	}
	c, err := Open(context.Background(), crashConfig(strings.Split(dirs, ",")), nil)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	out := make(chan string, 64)
	for g := 0; g < 4; g++ {
		go func() {
			var f filler
			for i := 0; ; i++ {
				key := fmt.Sprintf("crash/%d/%d", g, i)
				fill := f.fill(key)
				if i%5 == 0 { // a big one now and then: a wide window for the kill
					fill = bigFill(key)
				}
				e, err := c.GetOrFill(context.Background(), key, fill)
				if err != nil {
					out <- "error " + err.Error()
					continue
				}
				e.Close()
				out <- "filled " + key
			}
		}()
	}
	for line := range out {
		fmt.Println(line)
	}
}

func bigBody(key string) []byte { return bytes.Repeat(body(key), 8) }

func bigFill(key string) FillFunc {
	return func(_ context.Context, w io.Writer) (Meta, error) {
		b := bigBody(key)
		for len(b) > 0 {
			n := min(len(b), 4096)
			if _, err := w.Write(b[:n]); err != nil {
				return Meta{}, err
			}
			b = b[n:]
		}
		return Meta{}, nil
	}
}

func wantBody(key string) []byte {
	var g, i int
	fmt.Sscanf(key, "crash/%d/%d", &g, &i)
	if i%5 == 0 {
		return bigBody(key)
	}
	return body(key)
}

func TestKill9DuringWrites(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("child")
	}
	base := t.TempDir()
	dirs := []string{filepath.Join(base, "a"), filepath.Join(base, "b")}
	for _, d := range dirs {
		os.Mkdir(d, 0o755)
	}
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+strings.Join(dirs, ","))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		filled := 0
		for filled < 150+round*37 && sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "error ") {
				t.Errorf("child: %s", line)
			}
			if strings.HasPrefix(line, "filled ") {
				filled++
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		go io.Copy(io.Discard, stdout)
		cmd.Wait()
		if filled == 0 {
			t.Fatal("the child filled nothing")
		}

		// Restart: every entry served is whole.
		c, err := Open(context.Background(), crashConfig(dirs), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
		served := 0
		for _, e := range c.snapshot() {
			ent, err := c.Get(context.Background(), e.key)
			if err != nil {
				continue // a miss is allowed, a partial entry is not
			}
			got, err := io.ReadAll(ent.File)
			ent.Close()
			if err != nil || !bytes.Equal(got, wantBody(e.key)) {
				t.Fatalf("round %d: %q served %d bytes, want %d", round, e.key, len(got), len(wantBody(e.key)))
			}
			served++
		}
		if served == 0 {
			t.Fatalf("round %d: nothing survived the crash", round)
		}
		for _, d := range dirs {
			if names, _ := os.ReadDir(filepath.Join(d, tmpDir)); len(names) != 0 {
				t.Errorf("round %d: %d temp files left in %s after the scan", round, len(names), d)
			}
		}
		c.Close()
		t.Logf("round %d: killed after %d fills; %d entries served whole after restart", round, filled, served)
	}
}
