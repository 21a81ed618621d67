package exifstrip

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/mediaedge/mediaedge/internal/testmedia"
)

// TestApplyChunked: Apply through one-byte reads, and ApplyTo over
// fixed-size chunks (as the upload store keeps them), give the same bytes;
// the chunks no patch touches are unchanged, so only the others need
// rewriting.
func TestApplyChunked(t *testing.T) {
	orig := testmedia.GPSJPEG()
	ps, err := Find(bytes.NewReader(orig), int64(len(orig)))
	if err != nil || len(ps) == 0 {
		t.Fatalf("Find = %d patches, %v", len(ps), err)
	}
	want, err := io.ReadAll(Apply(bytes.NewReader(orig), ps))
	if err != nil {
		t.Fatal(err)
	}
	slow, err := io.ReadAll(Apply(iotest.OneByteReader(bytes.NewReader(orig)), ps))
	if err != nil || !bytes.Equal(slow, want) {
		t.Fatalf("one-byte reads differ (err %v)", err)
	}
	for _, chunk := range []int{1, 7, 512, 4096, 1 << 20} {
		var got []byte
		touched := 0
		for off := 0; off < len(orig); off += chunk {
			c := bytes.Clone(orig[off:min(off+chunk, len(orig))])
			ApplyTo(c, int64(off), ps)
			if !bytes.Equal(c, orig[off:off+len(c)]) {
				touched++
			}
			got = append(got, c...)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("chunk %d: ApplyTo differs from Apply", chunk)
		}
		if chunk == 4096 && touched > 2 {
			t.Errorf("%d 4 KiB chunks touched; the EXIF and XMP fit in 2", touched)
		}
	}
	if sha256.Sum256(want) == sha256.Sum256(orig) {
		t.Error("nothing changed")
	}
}

func TestApplyBadPatches(t *testing.T) {
	in := []byte("0123456789")
	for name, ps := range map[string][]Patch{
		"overlap":      {{Off: 2, Data: []byte("ab")}, {Off: 3, Data: []byte("c")}},
		"out of order": {{Off: 5, Data: []byte("a")}, {Off: 2, Data: []byte("b")}},
		"negative":     {{Off: -1, Data: []byte("a")}},
	} {
		if _, err := io.ReadAll(Apply(bytes.NewReader(in), ps)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	_, err := io.ReadAll(Apply(bytes.NewReader(in), []Patch{{Off: 9, Data: []byte("xy")}}))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("patch past the end: err = %v, want io.ErrUnexpectedEOF", err)
	}
	got, err := io.ReadAll(Apply(bytes.NewReader(in), []Patch{{Off: 0, Data: []byte("ab")}, {Off: 8, Data: []byte("yz")}}))
	if err != nil || string(got) != "ab234567yz" {
		t.Errorf("Apply = %q, %v", got, err)
	}
	if got, err := io.ReadAll(Apply(bytes.NewReader(in), nil)); err != nil || !bytes.Equal(got, in) {
		t.Errorf("no patches: %q, %v", got, err)
	}
}
