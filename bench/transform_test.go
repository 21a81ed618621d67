package bench

import (
	"github.com/mediaedge/mediaedge/internal/testenv"

	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestTransformSmall runs the transform benchmark on small sources: every
// case must succeed on our processor, every target must have run Rounds
// rounds with CPU counted, and every output must be scored against the
// reference with a plausible SSIM (a wrong reference size, a decode that
// failed or a swapped frame would land far below 0.5). imaginary and
// imgproxy join when IMAGINARY_BIN and IMGPROXY_BIN name them
// (scripts/bench.sh sets the first); the in-process processor then is
// "ours" for the ratios, as no mediaedge binary is given.
func TestTransformSmall(t *testing.T) {
	testenv.Tool(t, "vips")
	testenv.Tool(t, "ffmpeg")
	cfg := DefaultTransformConfig()
	cfg.Requests, cfg.Concurrency, cfg.SourceScale, cfg.IdleWait = 4, 2, 0.1, 10*time.Millisecond
	cfg.Imaginary, cfg.Imgproxy = os.Getenv("IMAGINARY_BIN"), os.Getenv("IMGPROXY_BIN")
	var out bytes.Buffer
	rep, err := Transform(context.Background(), cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ours != "mediaedge" {
		t.Errorf("ours is %q without the binary, want the in-process processor", rep.Ours)
	}
	if len(rep.Cases) != len(transformCases()) {
		t.Fatalf("%d cases reported, want %d", len(rep.Cases), len(transformCases()))
	}
	refs := 0
	for _, b := range []string{cfg.Imaginary, cfg.Imgproxy} {
		if b != "" {
			refs++
		}
	}
	for _, c := range rep.Cases {
		if len(c.Targets) != 1+refs {
			t.Errorf("%s: %d targets, want mediaedge and %d references", c.Case, len(c.Targets), refs)
		}
		if len(c.Ratios) != refs {
			t.Errorf("%s: %d ratios, want one per reference (%d)", c.Case, len(c.Ratios), refs)
		}
		for _, tg := range c.Targets {
			if len(tg.Rounds) != Rounds {
				t.Errorf("%s, %s: %d rounds, want %d", c.Case, tg.Name, len(tg.Rounds), Rounds)
			}
			if tg.Refused {
				if isOurs(tg.Name) {
					t.Errorf("%s: %s refused it", c.Case, tg.Name)
				}
				continue // imaginary 1.2.4 has no AVIF encoder
			}
			var cpu time.Duration
			for _, r := range tg.Rounds {
				cpu += r.CPUPerReq
			}
			// A server's CPU is read in 10 ms ticks, which a short round of
			// small images may not reach: the in-process processor's, read
			// by getrusage, must show in every round, a server's over all.
			if cpu <= 0 || (tg.Name == "mediaedge" && tg.Median.CPUPerReq <= 0) {
				t.Errorf("%s, %s: no CPU counted (median %s, rounds %+v)", c.Case, tg.Name, tg.Median.CPUPerReq, tg.Rounds)
			}
			if m := tg.Median; m.ReqPerSec <= 0 || m.MeanBytes <= 0 || (isOurs(tg.Name) && m.Errors != 0) {
				t.Errorf("%s, %s: median round %+v", c.Case, tg.Name, m)
			}
			if q := tg.Quality; q.SSIM <= 0.5 || q.SSIM > 1 || q.Bytes <= 0 || q.Width <= 0 || q.Height <= 0 {
				t.Errorf("%s, %s: quality output %+v, want SSIM in (0.5, 1] and bytes", c.Case, tg.Name, q)
			}
		}
		if ours, ok := c.Target("mediaedge"); !ok || ours.Quality.Width != scaled(transformCaseByName(t, c.Case).width, cfg.SourceScale) {
			t.Errorf("%s: our quality output %+v, want the case's width", c.Case, ours.Quality)
		}
	}
	text := out.String()
	for _, want := range []string{"target  ", "CPU/req", "SSIM", "rounds in rotating order", pinning.String(), "VmRSS"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if refs == 0 && !strings.Contains(text, "note: imgproxy not given") {
		t.Error("no note for the missing imgproxy")
	}
	m := rep.Memory
	// Rounds loads and one quality output per case.
	if want := (Rounds*cfg.Requests + 1) * len(transformCases()); m.Transforms != want || m.Start == 0 || m.AfterLoad == 0 || m.AfterIdle == 0 {
		t.Errorf("memory report %+v, want RSS read three times around %d transforms", m, want)
	}
}

func transformCaseByName(t *testing.T, name string) transformCase {
	t.Helper()
	for _, c := range transformCases() {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no case %q", name)
	return transformCase{}
}

// TestTransformRatios checks the per-round pairing on made-up rounds: a
// round the reference refused is left out, and the spreads divide the
// right way round (reference CPU over ours, our req/s over theirs).
func TestTransformRatios(t *testing.T) {
	round := func(rps float64, cpu time.Duration) TransformResult {
		return TransformResult{ReqPerSec: rps, CPUPerReq: cpu}
	}
	cr := TransformCaseReport{Targets: []TransformTarget{
		{Name: "mediaedge", Rounds: []TransformResult{round(10, 100*time.Millisecond), round(20, 50*time.Millisecond), round(10, 100*time.Millisecond)},
			Quality: TransformQuality{Bytes: 90}},
		{Name: "imgproxy", Rounds: []TransformResult{round(5, 200*time.Millisecond), round(0, 0), round(20, 110*time.Millisecond)},
			Quality: TransformQuality{Bytes: 100}},
	}}
	got := transformRatios(cr, "mediaedge")
	if len(got) != 1 {
		t.Fatalf("%+v", got)
	}
	r := got[0]
	if r.Reference != "imgproxy" || r.Rounds != 2 || r.CPU != (Spread{1.1, 2, 2}) || r.Throughput != (Spread{0.5, 2, 2}) || r.Bytes != 0.9 {
		t.Fatalf("%+v", r)
	}
	if m := medianRound(cr.Targets[1].Rounds); m.CPUPerReq != 200*time.Millisecond {
		t.Fatalf("median round %+v, want the 200 ms one of the two that served", m)
	}
}

// TestTransformSSIM scores a lossless rendering against the reference and
// a JPEG q30 of the source: 1 for the first, lower but plausible for the
// second, each compared at its own size (160x120, then 320x240).
func TestTransformSSIM(t *testing.T) {
	testenv.Tool(t, "vips")
	testenv.Tool(t, "ffmpeg")
	dir := t.TempDir()
	src, err := cameraLike(320, 240, "png")
	if err != nil {
		t.Fatal(err)
	}
	srcPath := dir + "/src.png"
	if err := os.WriteFile(srcPath, src, 0o644); err != nil {
		t.Fatal(err)
	}
	ref := newSSIMReference(dir, srcPath, 320, 240)
	ctx := context.Background()
	// The reference at 160x120 is itself a lossless output of that size.
	if err := lanczosReference(ctx, srcPath, 320, 240, 160, 120, dir+"/half.png"); err != nil {
		t.Fatal(err)
	}
	half, err := os.ReadFile(dir + "/half.png")
	if err != nil {
		t.Fatal(err)
	}
	s, w, h, err := ref.score(ctx, "same", half)
	if err != nil || s < 0.9999 || w != 160 || h != 120 {
		t.Fatalf("identical: SSIM %v at %dx%d, %v", s, w, h, err)
	}
	if err := runTool(ctx, "vips", "copy", srcPath, dir+"/q30.jpg[Q=30]"); err != nil {
		t.Fatal(err)
	}
	q30, err := os.ReadFile(dir + "/q30.jpg")
	if err != nil {
		t.Fatal(err)
	}
	s, w, h, err = ref.score(ctx, "q30", q30)
	if err != nil || s >= 0.9999 || s < 0.5 || w != 320 || h != 240 {
		t.Fatalf("JPEG q30: SSIM %v at %dx%d, %v", s, w, h, err)
	}
	if _, err := parseSSIMAll("no summary"); err == nil {
		t.Fatal("parsed SSIM from nothing")
	}
	if v, err := parseSSIMAll("[Parsed_ssim_2 @ 0x1] SSIM R:0.906170 (10.27) G:0.788009 (6.73) B:0.835706 (7.84) All:0.843295 (8.049177)\n"); err != nil || v != 0.843295 {
		t.Fatalf("parse: %v %v", v, err)
	}
}

// TestTransformFull runs the benchmark at full size when
// MEDIAEDGE_BENCH_FULL=1 (go test -run TransformFull -v ./bench/).
func TestTransformFull(t *testing.T) {
	if os.Getenv("MEDIAEDGE_BENCH_FULL") != "1" {
		t.Skip("set MEDIAEDGE_BENCH_FULL=1 for the full-size run")
	}
	cfg := DefaultTransformConfig()
	cfg.Imaginary, cfg.Imgproxy = os.Getenv("IMAGINARY_BIN"), os.Getenv("IMGPROXY_BIN")
	var out bytes.Buffer
	_, err := Transform(context.Background(), cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
}
