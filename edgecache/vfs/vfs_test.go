package vfs_test

import (
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/mediaedge/mediaedge/diskio"
	"github.com/mediaedge/mediaedge/edgecache/vfs"
	"github.com/mediaedge/mediaedge/edgecache/vfs/errorfs"
)

// The same behaviour from the OS and the in-memory FS: what the cache relies on.
func TestFileSystems(t *testing.T) {
	for name, mk := range map[string]func(t *testing.T) (vfs.FS, string){
		"os":  func(t *testing.T) (vfs.FS, string) { return vfs.Default, t.TempDir() },
		"mem": func(t *testing.T) (vfs.FS, string) { return vfs.NewMem(), "/root" },
	} {
		t.Run(name, func(t *testing.T) {
			fsys, root := mk(t)
			dir := filepath.Join(root, "a", "b")
			if err := fsys.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "f")
			f, err := fsys.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fsys.Create(p); !errors.Is(err, fs.ErrExist) {
				t.Errorf("second Create: %v, want ErrExist", err)
			}
			f.Write([]byte("hello world"))
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			f.Close()
			r, err := fsys.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			// Removed and renamed-over files stay readable through open handles.
			if err := fsys.Rename(p, p+"2"); err != nil {
				t.Fatal(err)
			}
			if err := fsys.Remove(p + "2"); err != nil {
				t.Fatal(err)
			}
			if n, _ := r.Seek(0, io.SeekEnd); n != 11 {
				t.Errorf("size %d", n)
			}
			r.Seek(6, io.SeekStart)
			b, _ := io.ReadAll(r)
			buf := make([]byte, 5)
			if _, err := r.ReadAt(buf, 0); err != nil || string(b) != "world" || string(buf) != "hello" {
				t.Errorf("read %q %q %v", b, buf, err)
			}
			r.Close()
			if _, err := fsys.Open(p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Open of a removed file: %v", err)
			}
			if names, err := fsys.List(filepath.Join(root, "a")); err != nil || len(names) != 1 || names[0] != "b" {
				t.Errorf("List: %v %v", names, err)
			}
			if err := fsys.SyncDir(dir); err != nil {
				t.Error(err)
			}
			// A folder replaced by a file: ENOTDIR below it.
			if err := fsys.Remove(dir); err != nil {
				t.Fatal(err)
			}
			g, _ := fsys.Create(dir)
			g.Close()
			if _, err := fsys.Create(filepath.Join(dir, "x")); !errors.Is(err, syscall.ENOTDIR) {
				t.Errorf("Create under a file: %v, want ENOTDIR", err)
			}
		})
	}
}

func TestErrorFSToggle(t *testing.T) {
	tg := &errorfs.Toggle{Prefix: "/bad/", Err: syscall.EIO, Match: func(op errorfs.Op) bool { return op.Kind.IsWrite() }}
	fsys := errorfs.Wrap(vfs.NewMem(), tg)
	fsys.MkdirAll("/bad", 0o755)
	fsys.MkdirAll("/good", 0o755)
	f, err := fsys.Create("/bad/f")
	if err != nil {
		t.Fatal(err)
	}
	tg.On()
	if _, err := f.Write([]byte("x")); !errors.Is(err, syscall.EIO) {
		t.Errorf("write under /bad/: %v", err)
	}
	if _, err := fsys.Open("/bad/f"); err != nil {
		t.Errorf("reads are not matched: %v", err)
	}
	if g, err := fsys.Create("/good/f"); err != nil {
		t.Errorf("other prefix: %v", err)
	} else {
		g.Close()
	}
	tg.Off()
	if _, err := f.Write([]byte("x")); err != nil {
		t.Errorf("after Off: %v", err)
	}
	if tg.Injected() != 1 {
		t.Errorf("injected %d", tg.Injected())
	}
}

// TestSync: an OS file's sync goes through diskio (off the scheduler), and
// reports the OS's errors; the in-memory and fault-injecting files sync as
// they do.
func TestSync(t *testing.T) {
	dir := t.TempDir()
	f, err := vfs.Default.Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	before := diskio.Offloaded()
	if err := vfs.Sync(f); err != nil {
		t.Fatal(err)
	}
	if err := vfs.Default.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	if n := diskio.Offloaded() - before; n != 2 {
		t.Errorf("%d syncs went through diskio, want 2 (the file, the folder)", n)
	}
	f.Close()
	if err := vfs.Sync(f); err == nil {
		t.Error("sync of a closed file: no error")
	}

	mem := vfs.NewMem()
	if err := mem.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	mf, err := mem.Create("/d/f")
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	before = diskio.Offloaded()
	if err := vfs.Sync(mf); err != nil {
		t.Errorf("mem file: %v", err)
	}
	if diskio.Offloaded() != before {
		t.Error("a mem file's sync went through diskio")
	}
}
