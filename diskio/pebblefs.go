package diskio

import "github.com/cockroachdb/pebble/v2/vfs"

// FS wraps a Pebble file system so that its files' syncs (the WAL's at each
// synced commit, the manifest's, each sstable's) run off the scheduler.
// Everything else is the wrapped file system's.
func FS(fs vfs.FS) vfs.FS { return syncFS{fs} }

type syncFS struct{ vfs.FS }

func (s syncFS) Unwrap() vfs.FS { return s.FS }

func wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil || f == nil || f.Fd() == vfs.InvalidFd {
		return f, err
	}
	return syncFile{f}, nil
}

func (s syncFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	return wrap(s.FS.Create(name, cat))
}

func (s syncFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	return wrap(s.FS.Open(name, opts...))
}

func (s syncFS) OpenReadWrite(name string, cat vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return wrap(s.FS.OpenReadWrite(name, cat, opts...))
}

func (s syncFS) OpenDir(name string) (vfs.File, error) { return wrap(s.FS.OpenDir(name)) }

func (s syncFS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	return wrap(s.FS.ReuseForWrite(oldname, newname, cat))
}

// syncFile is a Pebble file whose syncs go through Fsync and Fdatasync.
type syncFile struct{ vfs.File }

func (f syncFile) Sync() error     { return Fsync(f.Fd()) }
func (f syncFile) SyncData() error { return Fdatasync(f.Fd()) }

// SyncTo syncs the whole file (fdatasync), which is what Pebble's own file
// does when sync_file_range is not used, and says so (fullSync).
func (f syncFile) SyncTo(int64) (bool, error) {
	if err := Fdatasync(f.Fd()); err != nil {
		return false, err
	}
	return true, nil
}
