package transform

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"net/url"
	"testing"
)

// pngChunk is one chunk of a hand-made PNG.
type pngChunk struct {
	typ  string
	data []byte
}

// makePNG writes a w x h 8-bit PNG of colour type colour from pix (rows of
// w x bands bytes), filtering row y with filter filters[y % len], and puts
// extra chunks before the image data. The IDAT payload is split in idats
// chunks. Go's encoder picks its own filters; this one makes every filter
// type appear, on every kind of row.
func makePNG(t testing.TB, w, h int, colour byte, pix []byte, filters []byte, idats int, extra ...pngChunk) []byte {
	t.Helper()
	bands := map[byte]int{0: 1, 2: 3, 4: 2, 6: 4}[colour]
	stride := w * bands
	var raw bytes.Buffer
	for y := 0; y < h; y++ {
		row, up := pix[y*stride:(y+1)*stride], make([]byte, stride)
		if y > 0 {
			up = pix[(y-1)*stride : y*stride]
		}
		f := filters[y%len(filters)]
		raw.WriteByte(f)
		for x := 0; x < stride; x++ {
			var a, c int
			if x >= bands {
				a, c = int(row[x-bands]), int(up[x-bands])
			}
			b := int(up[x])
			var pred int
			switch f {
			case 1:
				pred = a
			case 2:
				pred = b
			case 3:
				pred = (a + b) / 2
			case 4:
				pred = int(paethRef(a, b, c))
			}
			raw.WriteByte(row[x] - byte(pred))
		}
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr, uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, colour
	chunks := append([]pngChunk{{"IHDR", ihdr}}, extra...)
	zb := z.Bytes()
	part := (len(zb) + idats - 1) / idats
	for i := 0; i < len(zb); i += part {
		chunks = append(chunks, pngChunk{"IDAT", zb[i:min(i+part, len(zb))]})
	}
	chunks = append(chunks, pngChunk{"IEND", nil})
	out := append([]byte(nil), pngSignature...)
	for _, c := range chunks {
		out = binary.BigEndian.AppendUint32(out, uint32(len(c.data)))
		body := append([]byte(c.typ), c.data...)
		out = append(out, body...)
		out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(body))
	}
	return out
}

// paethRef is the PNG specification's Paeth predictor, written as the
// specification writes it (not as the C code does).
func paethRef(a, b, c int) byte {
	p := a + b - c
	pa, pb, pc := abs(p-a), abs(p-b), abs(p-c)
	switch {
	case pa <= pb && pa <= pc:
		return byte(a)
	case pb <= pc:
		return byte(b)
	}
	return byte(c)
}

// photoPix is w x h x bands bytes of smooth gradients plus noise, so every
// predictor has work to do and wraps around 255 somewhere.
func photoPix(w, h, bands int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	pix := make([]byte, w*h*bands)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for b := 0; b < bands; b++ {
				pix[(y*w+x)*bands+b] = byte(x*3+y*5+b*70) + byte(rng.IntN(24))
			}
		}
	}
	return pix
}

func u32(v ...uint32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.BigEndian.AppendUint32(b, x)
	}
	return b
}

// TestRawPNGMatchesLibvips: every PNG the fast path takes gives the same
// output, byte for byte, as libvips' own loader (the path every other PNG
// takes): each colour type it takes, every filter type on every kind of row
// (the first, the first pixel of a row), several IDAT chunks, and the
// ancillary chunks it reads (pHYs) or passes over (gAMA, text, a suggested
// palette), to a JPEG (which carries the resolution), a PNG and a WebP.
func TestRawPNGMatchesLibvips(t *testing.T) {
	allFilters := []byte{0, 1, 2, 3, 4, 4, 3, 2, 1}
	cases := []struct {
		name   string
		colour byte
		w, h   int
		extra  []pngChunk
		idats  int
	}{
		{name: "grey", colour: 0, w: 97, h: 61, idats: 1},
		{name: "grey+alpha", colour: 4, w: 64, h: 40, idats: 2},
		{name: "RGB, pHYs and gAMA", colour: 2, w: 301, h: 203, idats: 3, extra: []pngChunk{
			{"pHYs", append(u32(2835, 2835), 1)}, {"gAMA", u32(45455)}, {"tEXt", []byte("Comment\x00hello")}}},
		{name: "RGB, suggested palette", colour: 2, w: 50, h: 9, idats: 1, extra: []pngChunk{{"PLTE", make([]byte, 12)}}},
		{name: "RGBA", colour: 6, w: 129, h: 77, idats: 1},
		{name: "1 pixel wide", colour: 2, w: 1, h: 30, idats: 1},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bands := map[byte]int{0: 1, 2: 3, 4: 2, 6: 4}[c.colour]
			src := makePNG(t, c.w, c.h, c.colour, photoPix(c.w, c.h, bands, uint64(i)), allFilters, c.idats, c.extra...)
			raw, ok := parseRawPNG(src)
			if !ok {
				t.Fatal("the fast path refused it")
			}
			for _, tw := range []int{c.w, max(1, c.w/3)} {
				for _, f := range []string{"jpg", "png", "webp"} {
					// Each image is read once: the loader streams (sequential).
					fast, err := thumbnailPNG(raw, tw, 10000, sizeDown, interestingNone)
					if err != nil {
						t.Fatal(err)
					}
					slow, err := thumbnail(src, tw, 10000, sizeDown, interestingNone, false, false, 0)
					if err != nil {
						t.Fatal(err)
					}
					a, err1 := fast.save(f, 80)
					b, err2 := slow.save(f, 80)
					fast.free()
					slow.free()
					if err1 != nil || err2 != nil {
						t.Fatal(err1, err2)
					}
					if !bytes.Equal(a, b) {
						t.Errorf("width %d, %s: the fast path's %d bytes differ from libvips' loader's %d", tw, f, len(a), len(b))
					}
				}
			}
		})
	}
}

// TestRawPNGRefuses: what the fast path does not take is left to libvips'
// loader, and a file it parsed but cannot decode falls back there too.
func TestRawPNGRefuses(t *testing.T) {
	pix := photoPix(20, 10, 3, 1)
	good := makePNG(t, 20, 10, 2, pix, []byte{4}, 1)
	if _, ok := parseRawPNG(good); !ok {
		t.Fatal("a plain RGB PNG was refused")
	}
	ihdrAt := len(pngSignature) + 8
	withIHDR := func(mod func(h []byte)) []byte {
		b := bytes.Clone(good)
		mod(b[ihdrAt : ihdrAt+13])
		binary.BigEndian.PutUint32(b[ihdrAt+13:], crc32.ChecksumIEEE(b[ihdrAt-4:ihdrAt+13]))
		return b
	}
	refused := map[string][]byte{
		"16 bits":                withIHDR(func(h []byte) { h[8] = 16 }),
		"interlaced":             withIHDR(func(h []byte) { h[12] = 1 }),
		"palette":                withIHDR(func(h []byte) { h[9] = 3 }),
		"too large":              withIHDR(func(h []byte) { binary.BigEndian.PutUint32(h, 1<<20); binary.BigEndian.PutUint32(h[4:], 1<<10) }),
		"transparency":           makePNG(t, 20, 10, 2, pix, []byte{0}, 1, pngChunk{"tRNS", make([]byte, 6)}),
		"EXIF":                   makePNG(t, 20, 10, 2, pix, []byte{0}, 1, pngChunk{"eXIf", []byte("MM\x00*")}),
		"unknown critical chunk": makePNG(t, 20, 10, 2, pix, []byte{0}, 1, pngChunk{"ABCD", nil}),
		"bad CRC":                func() []byte { b := bytes.Clone(good); b[len(b)-20] ^= 1; return b }(),
		"no IEND":                good[:len(good)-12],
		"truncated":              good[:len(good)/2],
		"not a PNG":              []byte("GIF89a"),
	}
	for name, b := range refused {
		if _, ok := parseRawPNG(b); ok {
			t.Errorf("%s: taken by the fast path", name)
		}
	}
	// Parsed, but the data does not inflate to the header's size, or a row
	// has an unknown filter: refused at decode, so libvips' loader decides.
	short := makePNG(t, 20, 9, 2, pix[:20*9*3], []byte{0}, 1)
	p, _ := parseRawPNG(short)
	p.h = 10 // as if the header said 10 rows
	if _, err := thumbnailPNG(p, 10, 10, sizeDown, interestingNone); err != errRawPNGRefused {
		t.Errorf("data a row short: %v, want the fast path to refuse", err)
	}
	filter9 := makePNG(t, 20, 10, 2, pix, []byte{9}, 1)
	if p, ok := parseRawPNG(filter9); !ok {
		t.Fatal("filter 9 is only seen at decode")
	} else if _, err := thumbnailPNG(p, 10, 10, sizeDown, interestingNone); err != errRawPNGRefused {
		t.Errorf("unknown filter: %v, want the fast path to refuse", err)
	}
	// Through the processor, such a file gets libvips' answer: an error,
	// not a crash and not a picture.
	proc, err := NewProcessor(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	spec, err := Parse(DefaultConfig(), "", url.Values{"w": {"10"}, "fm": {"jpg"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := proc.Process(context.Background(), filter9, "image/png", spec); err == nil {
		t.Error("a PNG with an unknown row filter was transformed")
	}
	if res, err := proc.Process(context.Background(), good, "image/png", spec); err != nil || res.Width != 10 {
		t.Errorf("a plain PNG through the processor: %+v %v", res.Width, err)
	}
}

// FuzzRawPNG: whatever the bytes, parsing and decoding neither crash nor
// read out of bounds (the C side indexes only within the size the header
// gave, which the parser bounded).
func FuzzRawPNG(f *testing.F) {
	pix := photoPix(16, 8, 4, 3)
	f.Add(makePNG(f, 16, 8, 6, pix, []byte{0, 1, 2, 3, 4}, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := parseRawPNG(b)
		if !ok {
			return
		}
		if im, err := thumbnailPNG(p, 8, 8, sizeDown, interestingNone); err == nil {
			_, _ = im.save("png", 100)
			im.free()
		}
	})
}
