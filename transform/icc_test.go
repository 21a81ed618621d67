package transform

import (
	"context"

	"encoding/binary"
	"github.com/mediaedge/mediaedge/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// jpegICC is the ICC profile in a JPEG's APP2 ICC_PROFILE segments.
func jpegICC(t *testing.T, b []byte) []byte {
	t.Helper()
	var p []byte
	for i := 2; i+4 < len(b) && b[i] == 0xFF; {
		marker, n := b[i+1], int(binary.BigEndian.Uint16(b[i+2:]))
		seg := b[i+4 : i+2+n]
		if marker == 0xE2 && len(seg) > 14 && string(seg[:11]) == "ICC_PROFILE" {
			p = append(p, seg[14:]...)
		}
		if marker == 0xDA {
			break
		}
		i += 2 + n
	}
	if p == nil {
		t.Fatal("no ICC profile in the JPEG")
	}
	return p
}

// srgbJPEG is a JPEG carrying libvips' built-in sRGB profile (an lcms
// matrix/TRC profile with 1024-point curves), made with the vips CLI.
func srgbJPEG(t *testing.T) []byte {
	t.Helper()
	vipsCLI(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jpg"), filepath.Join(dir, "srgb.jpg")
	if err := os.WriteFile(in, readTestdata(t, "landscape_1.jpg"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"icc_transform", in, out, "srgb", "--input-profile", "srgb"},
	} {
		if o, err := exec.Command("vips", args...).CombinedOutput(); err != nil {
			t.Fatalf("vips %v: %v %s", args, err, o)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// paraProfile is a minimal matrix/TRC profile with sRGB's primaries and a
// parametric (type 3) curve of gamma g: 2.4 is sRGB's curve, as compact
// profiles write it.
func paraProfile(g float64, red [3]float64) []byte {
	fixed := func(v float64) []byte { return binary.BigEndian.AppendUint32(nil, uint32(int32(v*65536))) }
	xyz := func(v [3]float64) []byte {
		b := append([]byte("XYZ "), 0, 0, 0, 0)
		for _, x := range v {
			b = append(b, fixed(x)...)
		}
		return b
	}
	para := append([]byte("para"), 0, 0, 0, 0, 0, 3, 0, 0)
	for _, v := range []float64{g, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045} {
		para = append(para, fixed(v)...)
	}
	tags := []struct {
		sig  string
		data []byte
	}{{"rXYZ", xyz(red)}, {"gXYZ", xyz(srgbPrimaries[1])}, {"bXYZ", xyz(srgbPrimaries[2])},
		{"rTRC", para}, {"gTRC", para}, {"bTRC", para}}
	p := make([]byte, 128)
	copy(p[16:], "RGB XYZ ")
	p = binary.BigEndian.AppendUint32(p, uint32(len(tags)))
	off := 128 + 4 + 12*len(tags)
	var body []byte
	for _, tg := range tags {
		p = append(p, tg.sig...)
		p = binary.BigEndian.AppendUint32(p, uint32(off+len(body)))
		p = binary.BigEndian.AppendUint32(p, uint32(len(tg.data)))
		body = append(body, tg.data...)
	}
	p = append(p, body...)
	binary.BigEndian.PutUint32(p, uint32(len(p)))
	return p
}

func TestIsSRGBProfile(t *testing.T) {
	vipsBuiltin := jpegICC(t, srgbJPEG(t))
	prophoto := jpegICC(t, readTestdata(t, "icc_prophoto.jpg"))
	for _, tc := range []struct {
		name string
		p    []byte
		want bool
	}{
		{"libvips' built-in sRGB (lcms, curv 1024)", vipsBuiltin, true},
		{"compact sRGB (para type 3, gamma 2.4)", paraProfile(2.4, srgbPrimaries[0]), true},
		{"ProPhoto RGB", prophoto, false},
		{"sRGB primaries, gamma 2.2 curve", paraProfile(2.2, srgbPrimaries[0]), false},
		{"a wider red primary", paraProfile(2.4, [3]float64{0.4500, 0.2225, 0.0139}), false},
		{"truncated", vipsBuiltin[:len(vipsBuiltin)/2], false},
		{"header only", vipsBuiltin[:132], false},
		{"empty", nil, false},
	} {
		if got := isSRGBProfile(tc.p); got != tc.want {
			t.Errorf("%s: isSRGBProfile = %v, want %v", tc.name, got, tc.want)
		}
	}
	// A LUT tag makes lcms ignore the matrix: not trusted as sRGB.
	lut := append([]byte(nil), vipsBuiltin...)
	n := int(binary.BigEndian.Uint32(lut[128:]))
	copy(lut[132+12*(n-1):], "A2B0")
	if isSRGBProfile(lut) {
		t.Error("a profile with an A2B0 tag passed as sRGB")
	}
}

// TestSRGBProfileSkipsConversion: an image tagged sRGB is not colour
// converted (the header reports no profile to apply), and its rendition's
// pixels equal those of the same image untagged, where ProPhoto's still
// need the conversion (TestColourProfileToSRGB).
func TestSRGBProfileSkipsConversion(t *testing.T) {
	tagged := srgbJPEG(t)
	hdr, err := probe(tagged)
	if err != nil {
		t.Fatal(err)
	}
	if hdr.icc {
		t.Error("an sRGB-tagged JPEG still asks for a colour conversion")
	}
	if hdr, err := probe(readTestdata(t, "icc_prophoto.jpg")); err != nil || !hdr.icc {
		t.Errorf("ProPhoto JPEG: icc %v, %v; want a conversion", hdr.icc, err)
	}
	dir := t.TempDir()
	in, untagged := filepath.Join(dir, "tagged.jpg"), filepath.Join(dir, "untagged.jpg")
	if err := os.WriteFile(in, tagged, 0o644); err != nil {
		t.Fatal(err)
	}
	if o, err := exec.Command("vips", "copy", in, untagged+"[strip,Q=95]").CombinedOutput(); err != nil {
		t.Fatalf("vips copy: %v %s", err, o)
	}
	plain, _ := os.ReadFile(untagged)
	p := newProc(t)
	a, err := run(t, p, tagged, "image/jpeg", "", "w=60&fm=png", "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := run(t, p, plain, "image/jpeg", "", "w=60&fm=png", "")
	if err != nil {
		t.Fatal(err)
	}
	if d := meanAbsDiff(t, a.Data, b.Data); d > 1.5 {
		t.Errorf("tagged and untagged sRGB differ by %.2f/255", d)
	}
}

// BenchmarkSRGBTaggedPNG is the slow colour path of issue 16: a 1600x1200
// PNG tagged with an sRGB profile to a 400 px JPEG. With the identity
// skipped no lcms transform is built.
func BenchmarkSRGBTaggedPNG(b *testing.B) {
	testenv.Tool(b, "vips")
	dir := b.TempDir()
	in, out := filepath.Join(dir, "in.jpg"), filepath.Join(dir, "tagged.png")
	if err := os.WriteFile(in, photo(b, 1600, 1200), 0o644); err != nil {
		b.Fatal(err)
	}
	if o, err := exec.Command("vips", "icc_transform", in, out, "srgb", "--input-profile", "srgb").CombinedOutput(); err != nil {
		b.Fatalf("vips: %v %s", err, o)
	}
	src, _ := os.ReadFile(out)
	p := newProc(b)
	spec, err := Parse(p.Config(), "", mustQuery(b, "w=400&fm=jpg"), "")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := p.Process(context.Background(), src, "image/png", spec); err != nil {
			b.Fatal(err)
		}
	}
}
