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
// How: each call is queued to a C worker thread that makes the syscall and
// writes one byte to a pipe; the goroutine reads the pipe through the
// netpoller. Memory the worker reads is pinned (runtime.Pinner) for the
// call. Workers start on demand (one more only when every idle one already
// has a call waiting, at most 64) and leave after 10 s without work, so an
// idle process keeps none.
//
// Why workers and not a thread per call, as this package first did: the
// scheduler places a new thread behind the running ones (CFS's start
// debit), while a sleeping worker that is woken runs at once. On one busy
// core (GOMAXPROCS=1, a goroutine hashing) a call's round trip was 20 ms at
// the median with a thread per call, 40 µs with a woken worker; so every
// 1 MiB direct write and every WAL sync waited a time slice before it was
// even submitted.
//
// Neither Go nor golang.org/x/sys has this: Go's os.File waits for regular
// files in the syscall, and io_uring (the kernel's way) is refused by
// Docker's default seccomp profile.
package diskio
