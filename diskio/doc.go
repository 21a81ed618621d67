// Package diskio runs file syscalls that wait on the device (fsync,
// fdatasync, O_DIRECT writes) on a thread outside Go's scheduler, so the
// goroutine that asked waits the way a network read does: parked, with its
// P free for the others.
//
// Why: a goroutine in a syscall keeps its P until sysmon takes it back, and
// sysmon looks at most every 20 µs and, after a millisecond of finding
// nothing to take, backs off to every 10 ms. Short syscalls (a socket read, a
// buffered write) return before it looks, so it backs off, and then a
// 1-3 ms fsync holds the P for its whole length. With GOMAXPROCS=1 (a server
// pinned to one core, or a one-CPU container) that is every goroutine of the
// process waiting with the CPU idle. Measured on one pinned core:
// `bench chat` accepted 647 direct sends/s with GOMAXPROCS=1 against 1,526
// with GOMAXPROCS=4 on the same core, and `bench upload` with O_DIRECT chunk
// writes 0.54-0.61x tusd against 0.78-0.91x. More Ps than CPUs is no answer:
// `bench transformhit`'s p99 went from 3-4 ms to 21 ms as the threads took
// turns on the core.
//
// How: each call starts a detached C thread (pthread_create, about 10 µs)
// that makes the syscall and writes one byte to a pipe; the goroutine reads
// the pipe through the netpoller. A thread per call rather than a pool: the
// calls are rare next to their own cost (one per WAL sync or 1 MiB chunk),
// and a thread that only lives for its call leaves nothing to shut down.
// Memory the thread reads is pinned (runtime.Pinner) for the call.
//
// Neither Go nor golang.org/x/sys has this: Go's os.File waits for regular
// files in the syscall, and io_uring (the kernel's way) is refused by
// Docker's default seccomp profile.
package diskio
