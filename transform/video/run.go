package video

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Converter runs ffmpeg jobs with a deadline, bounded concurrency and a
// private temp folder each.
type Converter struct {
	cfg   Config
	slots chan struct{} // one token per running job
	// onStart, when set (tests only), is told each child's pid and binary,
	// so a test can check the process is gone after a kill, or that no
	// ffmpeg decoded a source that was refused.
	onStart func(pid int, bin string)
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
	// start, the copy of its source into the job's folder included).
	// Failures after the processes (reading their output) are the caller's
	// and not reported here.
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

// Temp entry names. Sweeps touch only names with mediaedge's prefixes.
const (
	tempPrefix = "mediaedge-video-" // a job's folder (Converter.start)
	// PosterPrefix named the edge's own copy of a video for a poster
	// before the converter copied it into its job folder (PosterFrom);
	// copies a killed server of that version left are still swept.
	PosterPrefix = "mediaedge-poster-"
)

// New validates cfg and returns a Converter. It first removes the job
// folders a killed server left in cfg.TempDir: a folder last changed more
// than two deadlines ago (the longest a job lives: PackageHLS's probe and
// packaging, each with its own deadline) belongs to no live job.
func New(cfg Config) (*Converter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Best effort: a folder that cannot be read now fails the first job
	// with its own error.
	_ = RemoveStale(cfg.TempDir, 2*cfg.Timeout, tempPrefix, PosterPrefix)
	return &Converter{cfg: cfg, slots: make(chan struct{}, cfg.MaxConcurrent)}, nil
}

// RemoveStale removes the entries of dir ("" = os.TempDir()) whose names
// start with one of prefixes and that were last modified more than age ago.
// A SIGKILLed or OOM-killed server never runs its cleanups; its ffmpeg
// children die with it (Pdeathsig in run), its temp files stay until this
// runs at the next start. dir is often a shared /tmp, so only mediaedge's
// own prefixes are ever passed.
func RemoveStale(dir string, age time.Duration, prefixes ...string) error {
	if dir == "" {
		dir = os.TempDir()
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("video: sweep %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(e.Name(), p) }) {
			continue
		}
		fi, err := e.Info()
		if err != nil || time.Since(fi.ModTime()) <= age {
			continue // gone already, or may be a live job's
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Config returns the converter's configuration.
func (c *Converter) Config() Config { return c.cfg }

// job is one unit of ffmpeg work: a slot, a deadline and a temp folder.
type job struct {
	parent context.Context // the caller's: next takes a fresh deadline from it
	ctx    context.Context
	cancel context.CancelFunc
	dir    string
	c      *Converter
	kind   string    // for the observer
	began  time.Time // the slot was taken (or the phase began: next)
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
	dir, err := os.MkdirTemp(c.cfg.TempDir, tempPrefix)
	if err != nil {
		<-c.slots
		err = fmt.Errorf("video: temp folder: %w", err)
		c.observe(Job{Kind: kind, Ran: true, Duration: time.Since(began), Err: err})
		return nil, err
	}
	jctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	return &job{parent: ctx, ctx: jctx, cancel: cancel, dir: dir, c: c, kind: kind, began: began}, nil
}

// next reports the job so far to the observer as finished and goes on as a
// job of another kind, with a deadline of its own, in the same slot and
// folder: PackageHLS probes the source it copied and then packages it
// without letting go of either in between, and the observer still counts
// a probe and a packaging as before.
func (j *job) next(kind string) {
	j.cancel()
	j.c.observe(Job{Kind: j.kind, Ran: true, Duration: time.Since(j.began), Err: j.err})
	j.kind, j.began, j.err = kind, time.Now(), nil
	j.ctx, j.cancel = context.WithTimeout(j.parent, j.c.cfg.Timeout)
}

// Source opens a video's bytes (the chunk store's reader, for the edge and
// the HLS packager) for a job to copy into its folder; ctx carries the
// job's deadline, and the job closes what it returns.
type Source func(ctx context.Context) (io.ReadCloser, error)

// input is a job's video: a file on disk already, or a Source.
type input struct {
	path string
	src  Source
}

// local returns the path ffmpeg reads. A Source is copied into the job's
// folder here, once the job holds its slot and within one Timeout, after
// which the job's deadline starts again for ffmpeg: ffmpeg
// must seek (an MP4's index may sit at its end), and copying before the
// slot let every queued request hold a full copy of its video on disk, one
// per distinct poster time, however few jobs could run.
func (in input) local(j *job) (path string, err error) {
	if in.src == nil {
		return in.path, nil
	}
	defer func() {
		if err != nil && j.ctx.Err() != nil {
			err = fmt.Errorf("video: copy source: %w", ctxErr(j.ctx))
		}
		if err != nil && j.err == nil {
			j.err = err // ffmpeg never started: the observer counts the job failed
		}
	}()
	r, err := in.src(j.ctx)
	if err != nil {
		return "", fmt.Errorf("video: open source: %w", err)
	}
	defer r.Close()
	path = filepath.Join(j.dir, "source")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("video: copy source: %w", err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return "", fmt.Errorf("video: copy source: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("video: copy source: %w", err)
	}
	// ffmpeg gets a whole Timeout of its own: a large original read from a
	// slow store must not leave it too little (the copy had its own).
	j.cancel()
	j.ctx, j.cancel = context.WithTimeout(j.parent, j.c.cfg.Timeout)
	return path, nil
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
func (j *job) run(bin string, args []string, stdout io.Writer) (err error) {
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
	// Setpgid: a kill at the deadline reaches ffmpeg's own children too.
	// Pdeathsig: if the server dies without a chance to kill (SIGKILL, the
	// OOM killer), the kernel kills the child instead of leaving it
	// decoding for nobody. It fires when the thread that forked exits; Go
	// keeps its threads for the life of the process (only a goroutine that
	// exits locked to one ends it, and such a thread runs nothing else),
	// so in practice that is the server's death.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("video: start %s: %w", bin, err)
	}
	if j.c.onStart != nil {
		j.c.onStart(cmd.Process.Pid, filepath.Base(bin))
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
