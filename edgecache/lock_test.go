package edgecache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediaedge/mediaedge/edgecache/vfs"
)

// TestSecondWriterRefused: a folder one cache holds read-write cannot be opened
// read-write by another (on disk by flock, in memory by the FS's lock table),
// and the refused open removes nothing; read-only opens are not refused.
func TestSecondWriterRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   func() vfs.FS
		root func(t *testing.T) string
	}{
		{"disk", func() vfs.FS { return vfs.Default }, func(t *testing.T) string { return t.TempDir() }},
		{"mem", vfs.NewMem, func(*testing.T) string { return "/d1" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(DiskConfig{Path: tc.root(t), Budget: 1 << 30})
			cfg.FS, cfg.CreateDirs = tc.fs(), true
			server := mustOpen(t, cfg)
			var f filler
			getOrFillOK(t, server, &f, "k1")
			// A fill of the server in progress, as the second writer's scan would see it.
			tmp := filepath.Join(cfg.Disks[0].Path, tmpDir, fileName("k2", 1))
			tf, err := cfg.FS.Create(tmp)
			if err != nil {
				t.Fatal(err)
			}
			tf.Close()

			_, err = Open(context.Background(), cfg, nil)
			if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
				t.Fatalf("second read-write Open: %v, want ErrInUse naming pid %d", err, os.Getpid())
			}
			if _, err := cfg.FS.Stat(tmp); err != nil {
				t.Fatalf("the refused open touched the server's temp file: %v", err)
			}
			// A second disk that was free is released again when Open fails.
			other := DiskConfig{Path: cfg.Disks[0].Path + "-other", Budget: 1 << 30}
			two := cfg
			two.Disks = []DiskConfig{other, cfg.Disks[0]}
			if _, err := Open(context.Background(), two, nil); !errors.Is(err, ErrInUse) {
				t.Fatalf("Open of a free and a held folder: %v, want ErrInUse", err)
			}
			one := cfg
			one.Disks = []DiskConfig{other}
			mustOpen(t, one).Close()

			ro := cfg
			ro.ReadOnly = true
			if s := mustOpen(t, ro).Stats(); s[0].Entries != 1 {
				t.Fatalf("read-only beside the server: %+v", s[0])
			}
			server.Close()
			mustOpen(t, cfg).Close() // free again once the holder closed
		})
	}
}

// TestTempFileRemovedIsNotADiskFault: a fill whose temp file another process
// removed (what a second writer's start-up scan did to a live server) fails
// with ErrUnavailable (served uncached), and the disk stays online with its
// entries, however often it happens.
func TestTempFileRemovedIsNotADiskFault(t *testing.T) {
	for _, tc := range []struct {
		name string
		fs   func() vfs.FS
		root func(t *testing.T) string
	}{
		{"disk", func() vfs.FS { return vfs.Default }, func(t *testing.T) string { return t.TempDir() }},
		{"mem", vfs.NewMem, func(*testing.T) string { return "/d1" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tc.root(t)
			cfg := testConfig(DiskConfig{Path: root, Budget: 1 << 30})
			cfg.FS, cfg.CreateDirs = tc.fs(), true
			c := mustOpen(t, cfg)
			var f filler
			getOrFillOK(t, c, &f, "kept")
			removeTmp := func(ctx context.Context, w io.Writer) (Meta, error) {
				if _, err := w.Write([]byte("doomed")); err != nil {
					return Meta{}, err
				}
				names, err := cfg.FS.List(filepath.Join(root, tmpDir))
				if err != nil {
					return Meta{}, err
				}
				for _, n := range names {
					if err := cfg.FS.Remove(filepath.Join(root, tmpDir, n)); err != nil {
						return Meta{}, err
					}
				}
				return Meta{}, nil
			}
			for i := 0; i < 2*cfg.FailThreshold; i++ {
				_, err := c.GetOrFill(context.Background(), fmt.Sprintf("lost/%d", i), removeTmp)
				if !errors.Is(err, ErrUnavailable) {
					t.Fatalf("fill %d whose temp file was removed: %v, want ErrUnavailable", i, err)
				}
			}
			if st := c.Stats()[0]; st.State != Online || st.Errors != 0 || st.Entries != 1 {
				t.Fatalf("after %d fills lost their temp file: %s, %d errors, %d entries (%s)",
					2*cfg.FailThreshold, st.State, st.Errors, st.Entries, st.LastError)
			}
			getOrFillOK(t, c, &f, "kept")
			getOrFillOK(t, c, &f, "after")
		})
	}
}
