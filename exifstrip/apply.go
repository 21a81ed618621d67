package exifstrip

import (
	"errors"
	"fmt"
	"io"
)

// Apply returns a reader of the bytes of r with patches applied, for
// re-hashing and re-writing the file in one pass. r must start at offset 0
// of the file the patches were found in. patches must be sorted by offset
// and must not overlap, as Find returns them; otherwise the first Read
// fails. Reaching the end of r before the last patch is an error too
// (io.ErrUnexpectedEOF), not io.EOF: the bytes were not those Find read.
func Apply(r io.Reader, patches []Patch) io.Reader {
	a := &applier{r: r, p: patches}
	for i, p := range patches {
		if p.Off < 0 || i > 0 && p.Off < patches[i-1].End() {
			a.err = fmt.Errorf("exifstrip: patch %d at %d is out of order or overlaps", i, p.Off)
			break
		}
	}
	return a
}

type applier struct {
	r   io.Reader
	p   []Patch // the patches not yet wholly behind pos
	pos int64   // offset of the next byte read
	err error
}

func (a *applier) Read(b []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	n, err := a.r.Read(b)
	ApplyTo(b[:n], a.pos, a.p)
	a.pos += int64(n)
	for len(a.p) > 0 && a.p[0].End() <= a.pos {
		a.p = a.p[1:]
	}
	if errors.Is(err, io.EOF) && len(a.p) > 0 {
		a.err = fmt.Errorf("exifstrip: input ended at %d, before the patch at %d: %w", a.pos, a.p[0].Off, io.ErrUnexpectedEOF)
		return n, a.err
	}
	return n, err
}

// ApplyTo writes into buf, which holds the file's bytes from offset off on,
// the parts of patches that fall inside it: one fixed-size chunk of an
// upload can be patched on its own. patches must be sorted by offset.
func ApplyTo(buf []byte, off int64, patches []Patch) {
	end := off + int64(len(buf))
	for _, p := range patches {
		if p.Off >= end {
			return
		}
		if p.End() <= off {
			continue
		}
		lo, hi := max(p.Off, off), min(p.End(), end)
		copy(buf[lo-off:hi-off], p.Data[lo-p.Off:hi-p.Off])
	}
}
