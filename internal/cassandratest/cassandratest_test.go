package cassandratest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// fakeTB records how Hosts ended a test: Skip and Fatal stop the goroutine
// as the real ones do.
type fakeTB struct {
	testing.TB
	how, msg string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skip(args ...any) {
	f.how, f.msg = "skip", fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatal(args ...any) {
	f.how, f.msg = "fatal", fmt.Sprint(args...)
	runtime.Goexit()
}

func TestHostsRule(t *testing.T) {
	for _, tc := range []struct{ ci, want string }{{"", "skip"}, {"false", "skip"}, {"true", "fatal"}} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			// Port 1 on loopback refuses at once: a node that is not there.
			t.Setenv("MEDIAEDGE_CASSANDRA", "127.0.0.1:1, 127.0.0.1:2")
			t.Setenv("CI", tc.ci)
			f := &fakeTB{TB: t}
			done := make(chan []string)
			go func() {
				defer close(done)
				done <- Hosts(f)
			}()
			if hosts := <-done; hosts != nil {
				t.Fatalf("got hosts %v with no node up", hosts)
			}
			if f.how != tc.want || !strings.Contains(f.msg, "127.0.0.1:1") {
				t.Fatalf("ended with %s %q, want %s naming the hosts", f.how, f.msg, tc.want)
			}
		})
	}
}
