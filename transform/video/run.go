package video

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Converter runs ffmpeg jobs with a deadline, bounded concurrency and a
// private temp folder each.
type Converter struct {
	cfg   Config
	slots chan struct{} // one token per running job
	// onStart, when set (tests only), is told each child's pid, so a test can
	// check the process is gone after a kill.
	onStart func(pid int)
	// obs, when set, is told how every job ended (SetObserver).
	obs Observer
}

// Job describes one finished ffmpeg job for an Observer.
type Job struct {
	// Kind names the work: "mp4" (AnimatedToMP4), "poster", "hls"
	// (PackageHLS's ffmpeg run) or "probe" (ffprobe, also PackageHLS's first step).
	Kind string
	// Ran: the job got a slot and started; false when it was refused
	// (ErrBusy) or its caller gave up waiting.
	Ran bool
	// Duration is from the slot to the end of the job (0 when !Ran).
	Duration time.Duration
	// Err is nil when every process of the job exited 0; else the refusal,
	// or the failure of the ffmpeg/ffprobe process that ended the job
	// (ErrCorrupt: it exited non-zero; ErrTimeout: killed at the deadline;
	// context.Canceled: killed because the caller went away; or it did not
	// start). Failures after the processes (reading their output) are the
	// caller's and not reported here.
	Err error
}

// Observer is told how each job ended: the edge's metrics are one. It is
// called on the job's goroutine and must not block.
type Observer interface {
	VideoJob(Job)
}

// SetObserver sets the converter's observer. Call it before the converter
// is used (the edge does so as it is built): the field is not guarded.
func (c *Converter) SetObserver(o Observer) { c.obs = o }

// New validates cfg and returns a Converter.
func New(cfg Config) (*Converter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Converter{cfg: cfg, slots: make(chan struct{}, cfg.MaxConcurrent)}, nil
}

// Config returns the converter's configuration.
func (c *Converter) Config() Config { return c.cfg }

// job is one unit of ffmpeg work: a slot, a deadline and a temp folder.
type job struct {
	ctx    context.Context
	cancel context.CancelFunc
	dir    string
	c      *Converter
	kind   string    // for the observer
	began  time.Time // the slot was taken
	err    error     // the process failure that ended the job, for the observer
}

// start takes a slot (ErrBusy after QueueWait) and makes the job's temp
// folder; done releases both. The deadline starts once the slot is taken, so
// queueing does not eat into the job's own time.
func (c *Converter) start(ctx context.Context, kind string) (*job, error) {
	wait := time.NewTimer(c.cfg.QueueWait)
	defer wait.Stop()
	select {
	case c.slots <- struct{}{}:
	case <-wait.C:
		c.observe(Job{Kind: kind, Err: ErrBusy})
		return nil, ErrBusy
	case <-ctx.Done():
		c.observe(Job{Kind: kind, Err: ctxErr(ctx)})
		return nil, ctxErr(ctx)
	}
	began := time.Now()
	dir, err := os.MkdirTemp(c.cfg.TempDir, "mediaedge-video-")
	if err != nil {
		<-c.slots
		err = fmt.Errorf("video: temp folder: %w", err)
		c.observe(Job{Kind: kind, Ran: true, Duration: time.Since(began), Err: err})
		return nil, err
	}
	jctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	return &job{ctx: jctx, cancel: cancel, dir: dir, c: c, kind: kind, began: began}, nil
}

func (c *Converter) observe(j Job) {
	if c.obs != nil {
		c.obs.VideoJob(j)
	}
}

// done runs after the job's processes have been waited for (run never
// returns with its child alive), so nothing writes into dir any more.
func (j *job) done() {
	j.cancel()
	_ = os.RemoveAll(j.dir)
	<-j.c.slots
	j.c.observe(Job{Kind: j.kind, Ran: true, Duration: time.Since(j.began), Err: j.err})
}

// ctxErr names why ctx ended: a deadline is ErrTimeout (504); a caller that
// went away gets context.Canceled, which nobody answers.
func ctxErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ErrTimeout
	}
	return ctx.Err()
}

// tail keeps the last n bytes written to it: ffmpeg's stderr for the error
// log, bounded however much ffmpeg prints.
type tail struct {
	buf []byte
	n   int
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.n {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.n:]...)
	}
	return len(p), nil
}

// run executes bin (ffmpeg or ffprobe) with args and waits for it. At the
// job's deadline the whole process group is killed and reaped before run
// returns ErrTimeout. exec.CommandContext is not used: it kills only the
// direct child (see doc.go for why no ffmpeg wrapper library runs it).
func (j *job) run(bin string, args []string, stdout *bytes.Buffer) (err error) {
	defer func() {
		if err != nil && j.err == nil {
			j.err = err
		}
	}()
	if err := j.ctx.Err(); err != nil {
		return ctxErr(j.ctx)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = j.dir
	errTail := &tail{n: 4096}
	cmd.Stderr = errTail
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("video: start %s: %w", bin, err)
	}
	if j.c.onStart != nil {
		j.c.onStart(cmd.Process.Pid)
	}
	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()
	select {
	case err := <-waitc:
		if err != nil {
			return fmt.Errorf("%w: %s: %v: %s", ErrCorrupt, filepath.Base(bin), err, strings.TrimSpace(string(errTail.buf)))
		}
		return nil
	case <-j.ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-waitc
		return fmt.Errorf("%s killed after %s: %w", filepath.Base(bin), j.c.cfg.Timeout, ctxErr(j.ctx))
	}
}

// Argument lists are plain []string, written in ffmpeg's own order:
// global options, then each input's options and its -i, then the output's
// options and the output. Reading one tells exactly what ffmpeg runs.

// globalArgs go first in every ffmpeg command: quiet but for errors (which
// run keeps), never read the terminal, overwrite (outputs are in the job's
// fresh folder; -nostdin would make a prompt fail instead).
var globalArgs = []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y"}
