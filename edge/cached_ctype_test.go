package edge_test

import (
	"bytes"
	"context"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/mediaedge/mediaedge/edge"
	"github.com/mediaedge/mediaedge/edgecache"
	"github.com/mediaedge/mediaedge/edgecache/vfs"
	"github.com/mediaedge/mediaedge/edgecache/vfs/errorfs"
	"github.com/mediaedge/mediaedge/transform"
)

// webpTransformer renders every spec as the same WebP bytes and counts its
// renders.
type webpTransformer struct {
	data []byte
	runs atomic.Int64
}

func (f *webpTransformer) Config() transform.Config { return transform.DefaultConfig() }

func (f *webpTransformer) Process(context.Context, []byte, string, transform.Spec) (transform.Result, error) {
	f.runs.Add(1)
	return transform.Result{Data: f.data, ContentType: "image/webp", Format: "webp", Width: 10, Height: 10, Frames: 1}, nil
}

// TestUncachedRenditionContentType: a rendition the edge cache cannot store
// (a disk failing its writes, an entry larger than the disk's budget) is
// served from the bytes the fill made, with their Content-Type: an empty one
// with nosniff leaves the browser unable to show the image.
func TestUncachedRenditionContentType(t *testing.T) {
	tests := []struct {
		name  string
		cache func(t *testing.T) *edgecache.Cache
	}{
		{"disk write fails", func(t *testing.T) *edgecache.Cache {
			bad := &errorfs.Toggle{Prefix: "/d1/", Err: syscall.EIO, Match: func(op errorfs.Op) bool { return op.Kind == errorfs.OpWrite }}
			cc := edgecache.DefaultConfig()
			cc.FS = errorfs.Wrap(vfs.NewMem(), bad)
			cc.Disks = []edgecache.DiskConfig{{Path: "/d1", Budget: 64 << 20}}
			cc.CreateDirs = true
			c := openCache(t, cc)
			bad.On()
			t.Cleanup(func() {
				if bad.Injected() == 0 {
					t.Error("no write failed: the rendition was not served uncached")
				}
			})
			return c
		}},
		{"larger than the disk", func(t *testing.T) *edgecache.Cache {
			cc := edgecache.DefaultConfig()
			cc.Disks = []edgecache.DiskConfig{{Path: t.TempDir(), Budget: 100}}
			return openCache(t, cc)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tf := &webpTransformer{data: bytes.Repeat([]byte("RIFF-webp"), 200)}
			cache := tt.cache(t)
			e := newEnv(t, false, func(_ *edge.Config, d *edge.Deps) { d.Cache, d.Transformer = cache, tf })
			img := e.put(t, pngImage(t, 20, 20))
			for i := range 2 {
				resp, body := do(t, "GET", e.ts.URL+"/m/"+img.ID+"?w=10&fm=webp", nil, nil)
				if resp.StatusCode != 200 || !bytes.Equal(body, tf.data) {
					t.Fatalf("GET %d: %d, %d bytes", i, resp.StatusCode, len(body))
				}
				if ct := resp.Header.Get("Content-Type"); ct != "image/webp" {
					t.Errorf("GET %d: Content-Type %q, want image/webp", i, ct)
				}
			}
			if n := tf.runs.Load(); n != 2 {
				t.Errorf("%d renders for 2 GETs: the rendition was cached after all", n)
			}
		})
	}
}

func openCache(t *testing.T, cc edgecache.Config) *edgecache.Cache {
	t.Helper()
	c, err := edgecache.Open(context.Background(), cc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c
}
