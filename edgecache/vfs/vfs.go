// Package vfs is the small file-system interface the edge cache reaches its disks
// through, modelled on pebble's vfs: the operating system (Default), an in-memory
// file system (NewMem) for fast tests, and, in vfs/errorfs, a wrapper that injects
// faults. Only the calls the cache makes are here ("wrap only what you call").
//
// Default hands out the *os.File itself as File, never a wrapper: http.ServeContent
// over it then reaches sendfile(2), because net's sendfile path type-asserts the
// reader to syscall.Conn, which a wrapper would hide.
package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"

	"github.com/mediaedge/mediaedge/diskio"
)

// File is an open file. *os.File satisfies it.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.Seeker
	io.Closer
	Sync() error
	Stat() (fs.FileInfo, error)
}

// FS is the set of file-system calls the cache makes. Paths are OS paths.
type FS interface {
	// Create makes a new file for writing; it fails if name exists (O_EXCL), so two
	// writers can never share a temp file.
	Create(name string) (File, error)
	// Open opens name read-only.
	Open(name string) (File, error)
	// Remove deletes a file or an empty directory. Open handles stay readable.
	Remove(name string) error
	// Rename atomically replaces newname with oldname (same file system).
	Rename(oldname, newname string) error
	// MkdirAll creates dir and its missing parents.
	MkdirAll(dir string, perm fs.FileMode) error
	// List returns the names in dir, sorted.
	List(dir string) ([]string, error)
	// Stat describes name.
	Stat(name string) (fs.FileInfo, error)
	// SyncDir makes the entries of dir (creates, renames, removes) durable.
	SyncDir(dir string) error
}

// ErrLocked: TryLock found the lock held by another holder. The error TryLock
// returns is a *LockedError, which names the holder when it can.
var ErrLocked = errors.New("vfs: locked by another holder")

// LockedError is TryLock's error when another holder has the lock.
type LockedError struct {
	Path string
	PID  int // the holder's process id as it wrote it in the lock file; 0 when unknown
}

func (e *LockedError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("lock %s: held by pid %d", e.Path, e.PID)
	}
	return fmt.Sprintf("lock %s: held by another process", e.Path)
}

// Is makes errors.Is(err, ErrLocked) hold.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Locker is the optional capability of an FS to take an exclusive advisory
// lock, so that two processes never maintain one cache folder at once.
type Locker interface {
	// TryLock creates name when missing and takes an exclusive lock on it
	// without waiting, then writes the caller's pid into it. When another
	// holder has it, the error is a *LockedError. Close releases the lock; so
	// does the holder's exit, even by SIGKILL.
	TryLock(name string) (io.Closer, error)
}

// TryLock takes the lock through fsys's Locker; an FS without one cannot
// lock, and the lock is a no-op there.
func TryLock(fsys FS, name string) (io.Closer, error) {
	if l, ok := fsys.(Locker); ok {
		return l.TryLock(name)
	}
	return io.NopCloser(nil), nil
}

// Sync makes f's data durable. An *os.File (Default's) is synced through
// diskio, off Go's scheduler: the fsync of a filled entry waits on the
// device for milliseconds, and with one P (a server on one core) the
// whole process would wait with it (see package diskio). Other files
// (NewMem's, errorfs's) sync as they do.
func Sync(f File) error {
	if of, ok := f.(*os.File); ok {
		return diskio.Fsync(of.Fd())
	}
	return f.Sync()
}

// Default is the operating system's file system.
var Default FS = osFS{}

type osFS struct{}

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (osFS) Remove(name string) error                    { return os.Remove(name) }
func (osFS) Rename(oldname, newname string) error        { return os.Rename(oldname, newname) }
func (osFS) MkdirAll(dir string, perm fs.FileMode) error { return os.MkdirAll(dir, perm) }
func (osFS) Stat(name string) (fs.FileInfo, error)       { return os.Stat(name) }

func (osFS) List(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

func (osFS) SyncDir(dir string) error {
	f, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	serr := Sync(f)
	cerr := f.Close()
	if serr != nil {
		return serr
	}
	return cerr
}

// TryLock is flock(2), LOCK_EX|LOCK_NB: advisory, held per open file (so two
// opens in one process conflict too, as two processes do) and released by the
// kernel when the holder dies, so a crashed server leaves no stale lock. An
// fcntl lock would be dropped by any close of the file in the process.
func (osFS) TryLock(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			b, _ := io.ReadAll(io.LimitReader(f, 32))
			pid, _ := strconv.Atoi(string(bytes.TrimSpace(b)))
			return nil, &LockedError{Path: name, PID: pid}
		}
		return nil, &fs.PathError{Op: "flock", Path: name, Err: err}
	}
	// The pid is for the message of whoever is refused next; a failure to
	// write it loses only that.
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
