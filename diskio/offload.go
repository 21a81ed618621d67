package diskio

/*
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { OP_FSYNC = 1, OP_FDATASYNC = 2, OP_PWRITE = 3, OP_SLEEP = 4 };

typedef struct {
	int op;
	int fd;
	const void *buf;
	size_t len;
	off_t off;
	int notify;
	long ret;
	int err;
	long tid;
} diskio_req;

static void *diskio_run(void *arg) {
	diskio_req *r = arg;
	long ret = -1;
	r->tid = syscall(SYS_gettid);
	switch (r->op) {
	case OP_FSYNC:
		do { ret = fsync(r->fd); } while (ret < 0 && errno == EINTR);
		break;
	case OP_FDATASYNC:
		do { ret = fdatasync(r->fd); } while (ret < 0 && errno == EINTR);
		break;
	case OP_PWRITE:
		do { ret = pwrite(r->fd, r->buf, r->len, r->off); } while (ret < 0 && errno == EINTR);
		break;
	case OP_SLEEP: {
		struct timespec ts = { r->off / 1000000000, r->off % 1000000000 };
		ret = nanosleep(&ts, NULL);
		break;
	}
	}
	r->ret = ret;
	r->err = ret < 0 ? errno : 0;
	int notify = r->notify;
	// After this write the goroutine may free r: touch nothing of it.
	char b = 1;
	while (write(notify, &b, 1) < 0 && errno == EINTR) {}
	return NULL;
}

// diskio_start starts the thread with every signal blocked (it inherits
// the mask set around pthread_create), so no signal meant for the process
// (SIGCHLD of an ffmpeg, SIGTERM) is delivered on it: Go's handlers run on
// Go's threads. The stack is small but leaves room for the static TLS of the
// libraries linked in (libvips and its codecs), which glibc takes from it.
static int diskio_start(diskio_req *r) {
	pthread_attr_t a;
	pthread_t t;
	sigset_t all, old;
	int e = pthread_attr_init(&a);
	if (e != 0) return e;
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 256 << 10);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	e = pthread_create(&t, &a, diskio_run, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
	return e;
}
*/
import "C"

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Fsync is fsync(2) on fd, off the scheduler.
func Fsync(fd uintptr) error {
	_, err := run(C.OP_FSYNC, fd, nil, 0)
	return err
}

// Fdatasync is fdatasync(2) on fd, off the scheduler.
func Fdatasync(fd uintptr) error {
	_, err := run(C.OP_FDATASYNC, fd, nil, 0)
	return err
}

// Pwrite writes all of p at off of fd (pwrite(2), repeated after a short
// write), off the scheduler.
func Pwrite(fd uintptr, p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		k, err := run(C.OP_PWRITE, fd, p[n:], off+int64(n))
		n += k
		if err != nil {
			return n, err
		}
		if k == 0 {
			return n, fmt.Errorf("pwrite: %w", syscall.EIO)
		}
	}
	return n, nil
}

// sleep is nanosleep(2) off the scheduler, for tests.
func sleep(d time.Duration) error {
	_, err := run(C.OP_SLEEP, 0, nil, int64(d))
	return err
}

// lastTID is the thread id of the last call's C thread, for tests.
var lastTID atomic.Int64

// fallbacks counts the calls made on the caller's thread because no C
// thread could be started; offloaded those made on a C thread.
var fallbacks, offloaded atomic.Int64

// Offloaded is how many calls were made on a C thread, off the scheduler.
func Offloaded() int64 { return offloaded.Load() }

// Fallbacks is how many calls were made on the caller's thread (holding its
// P, as os.File does) because no C thread could be started.
func Fallbacks() int64 { return fallbacks.Load() }

// leaked keeps what a call could not safely free (see run).
var (
	leakMu sync.Mutex
	leaked []any
)

// run makes one call on a C thread and waits for it on a pipe. If no thread
// can be started it makes the call here, as os.File would.
func run(op C.int, fd uintptr, p []byte, off int64) (int, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return direct(op, fd, p, off)
	}
	// C memory: the thread uses it after this cgo call returns.
	req := (*C.diskio_req)(C.calloc(1, C.sizeof_diskio_req))
	if req == nil {
		pr.Close()
		pw.Close()
		return direct(op, fd, p, off)
	}
	pin := new(runtime.Pinner)
	if len(p) > 0 {
		pin.Pin(&p[0])
		req.buf = unsafe.Pointer(&p[0])
		req.len = C.size_t(len(p))
	}
	req.op, req.fd, req.off = op, C.int(fd), C.off_t(off)
	// Fd puts the write end in blocking mode, which is what the thread
	// wants; the read end stays with the netpoller.
	req.notify = C.int(pw.Fd())
	release := func() {
		pin.Unpin()
		C.free(unsafe.Pointer(req))
		pr.Close()
		pw.Close()
	}
	if C.diskio_start(req) != 0 {
		release()
		return direct(op, fd, p, off)
	}
	offloaded.Add(1)
	var b [1]byte
	if _, err := io.ReadFull(pr, b[:]); err != nil {
		// Cannot happen (the read end is ours and open), but if it did the
		// thread may still write req and read the pinned bytes and pw: keep
		// them all rather than free memory a thread may use.
		leakMu.Lock()
		leaked = append(leaked, pin, pr, pw)
		leakMu.Unlock()
		return 0, fmt.Errorf("diskio: wait for the syscall: %w", err)
	}
	ret, errno := int(req.ret), syscall.Errno(req.err)
	lastTID.Store(int64(req.tid))
	release()
	if ret < 0 {
		return 0, errno
	}
	return ret, nil
}

// direct makes the call on this thread (no C thread could be started).
func direct(op C.int, fd uintptr, p []byte, off int64) (int, error) {
	fallbacks.Add(1)
	switch op {
	case C.OP_FSYNC:
		return 0, ignoringEINTR(func() error { return syscall.Fsync(int(fd)) })
	case C.OP_FDATASYNC:
		return 0, ignoringEINTR(func() error { return syscall.Fdatasync(int(fd)) })
	case C.OP_PWRITE:
		return syscall.Pwrite(int(fd), p, off)
	default:
		time.Sleep(time.Duration(off))
		return 0, nil
	}
}

func ignoringEINTR(fn func() error) error {
	for {
		if err := fn(); err != syscall.EINTR {
			return err
		}
	}
}
