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

typedef struct diskio_req {
	struct diskio_req *next; // the queue's
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

static void diskio_do(diskio_req *r) {
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
}

// The workers (why workers: see doc.go): requests wait in a FIFO; a
// worker that finds none sleeps on the condition variable, and leaves after
// idle_secs (10) without work, so an idle process keeps no threads.
enum { MAX_WORKERS = 64 };
static int idle_secs = 10; // tests shorten it

static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;
static diskio_req *q_head, *q_tail;
static int q_workers, q_idle, q_len;

static void *diskio_worker(void *arg) {
	(void)arg;
	pthread_mutex_lock(&q_mu);
	for (;;) {
		while (q_head == NULL) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += idle_secs;
			q_idle++;
			int e = pthread_cond_timedwait(&q_cv, &q_mu, &until);
			q_idle--;
			if (e == ETIMEDOUT && q_head == NULL) {
				q_workers--;
				pthread_mutex_unlock(&q_mu);
				return NULL;
			}
		}
		diskio_req *r = q_head;
		q_head = r->next;
		if (q_head == NULL) q_tail = NULL;
		q_len--;
		pthread_mutex_unlock(&q_mu);
		diskio_do(r);
		pthread_mutex_lock(&q_mu);
	}
}

// diskio_start queues r and makes sure a worker will take it at once: an
// idle one is woken, or, when every idle worker already has a request of
// its own waiting, a new one is started (up to MAX_WORKERS; past it r
// waits for the next worker to finish). A new worker starts with every signal
// blocked (it inherits the mask set around pthread_create), so no signal
// meant for the process (SIGCHLD of an ffmpeg, SIGTERM) is delivered on
// it: Go's handlers run on Go's threads. The stack is small but leaves
// room for the static TLS of the libraries linked in (libvips and its
// codecs), which glibc takes from it. It returns non-zero, with r not
// queued, only when no worker exists and none could be started.
static int diskio_start(diskio_req *r) {
	int e = 0;
	r->next = NULL;
	pthread_mutex_lock(&q_mu);
	if (q_len + 1 > q_idle && q_workers < MAX_WORKERS) {
		pthread_attr_t a;
		pthread_t t;
		sigset_t all, old;
		e = pthread_attr_init(&a);
		if (e == 0) {
			pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
			pthread_attr_setstacksize(&a, 256 << 10);
			sigfillset(&all);
			pthread_sigmask(SIG_BLOCK, &all, &old);
			e = pthread_create(&t, &a, diskio_worker, NULL);
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			pthread_attr_destroy(&a);
		}
		if (e == 0) {
			q_workers++;
		} else if (q_workers == 0) {
			pthread_mutex_unlock(&q_mu);
			return e;
		}
	}
	if (q_tail) q_tail->next = r; else q_head = r;
	q_tail = r;
	q_len++;
	pthread_cond_signal(&q_cv);
	pthread_mutex_unlock(&q_mu);
	return 0;
}

// diskio_set_idle sets how long a worker waits for work before it leaves,
// for tests.
static void diskio_set_idle(int secs) {
	pthread_mutex_lock(&q_mu);
	idle_secs = secs;
	pthread_cond_broadcast(&q_cv); // idle workers wait again with the new time
	pthread_mutex_unlock(&q_mu);
}

// diskio_idle is the number of workers waiting for work, for tests.
static int diskio_idle(void) {
	pthread_mutex_lock(&q_mu);
	int n = q_idle;
	pthread_mutex_unlock(&q_mu);
	return n;
}

// diskio_workers is the number of worker threads now, for tests.
static int diskio_workers(void) {
	pthread_mutex_lock(&q_mu);
	int n = q_workers;
	pthread_mutex_unlock(&q_mu);
	return n;
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

// workers is the number of C worker threads now, and idle those waiting
// for work, for tests.
func workers() int { return int(C.diskio_workers()) }
func idle() int    { return int(C.diskio_idle()) }

// setIdle sets how long an idle worker waits for work before it leaves,
// for tests.
func setIdle(secs int) { C.diskio_set_idle(C.int(secs)) }

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
