package bench

// Video benchmark: MP4 against GIF bytes for a set of animated GIFs (the
// reason to serve MP4) with conversion time, and the latency of the first HLS
// playlist plus first segment for a 1080p phone-like video, cold (packaged on
// that request) and warm, all through a running `mediaedge serve`.
//
// The GIF set mixes GIFs made the way GIFs are made (ffmpeg palettegen +
// paletteuse) from synthetic sources and from real camera footage, with real
// GIFs that ship inside this module's own dependencies (terminal recordings,
// a film leader, a line-art globe), found in the Go module cache. More can
// be named in VideoConfig.GIFs.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// VideoConfig configures the video benchmark.
type VideoConfig struct {
	Mediaedge string   // the mediaedge binary
	Dir       string   // work folder ("" = a temp folder, removed)
	GIFs      []string // extra GIF files to measure
	// Small runs a quick version (two small generated GIFs, a 6 s 360p
	// clip): for tests.
	Small bool
}

// GIFResult is one GIF's conversion.
type GIFResult struct {
	Name          string
	Frames        int
	GIFBytes      int64
	MP4Bytes      int64
	Ratio         float64 // GIF bytes / MP4 bytes
	ConvertMillis int64   // first request, converted on it
}

// VideoReport is the result.
type VideoReport struct {
	GIFs             []GIFResult
	MedianRatio      float64
	MedianConvertMS  int64
	HLSClip          string
	HLSCold, HLSWarm time.Duration
}

type gifSource struct{ name, lavfi, file string }

// generatedGIFs are made with palettegen/paletteuse, the way real GIFs are
// made, so that sizes are fair.
func generatedGIFs(small bool) []gifSource {
	if small {
		return []gifSource{
			{name: "testsrc2 160x120 2s", lavfi: "testsrc2=size=160x120:rate=10:duration=2"},
			{name: "mandelbrot 160x90 2s", lavfi: "mandelbrot=size=160x90:rate=10,trim=duration=2"},
		}
	}
	gs := []gifSource{
		{name: "testsrc2 480x270 4s", lavfi: "testsrc2=size=480x270:rate=15:duration=4"},
		{name: "mandelbrot 480x270 4s", lavfi: "mandelbrot=size=480x270:rate=15,trim=duration=4"},
		{name: "life 400x300 5s (adversarial)", lavfi: "life=size=400x300:rate=10:mold=10:ratio=0.5,trim=duration=5"},
	}
	// Real camera footage made into a GIF, as reaction GIFs are made.
	for _, m := range moduleFiles("github.com/u2takey/ffmpeg-go@*/examples/sample_data/head-pose-face-detection-male-short.mp4") {
		gs = append(gs, gifSource{name: "camera footage 480x270 6s", file: m})
		break
	}
	return gs
}

// moduleFiles globs the Go module cache (where this module's dependencies
// live), newest version last.
func moduleFiles(pattern string) []string {
	dir := os.Getenv("GOMODCACHE")
	if dir == "" {
		if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
			dir = strings.TrimSpace(string(out))
		}
	}
	if dir == "" {
		return nil
	}
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	return m
}

// realGIFs are animated GIFs shipped in modules' docs: the module cache holds
// them (scripts/install-deps.sh bench downloads ffmpeg-go's as data).
func realGIFs() []string {
	var out []string
	for _, p := range []string{
		"github.com/schollz/progressbar/v3@*/examples/*/*.gif",
		"github.com/u2takey/ffmpeg-go@*/docs/*.gif",
		"github.com/h2non/bimg@*/testdata/test.gif",
	} {
		out = append(out, moduleFiles(p)...)
	}
	return out
}

// Video runs the benchmark.
func Video(ctx context.Context, cfg VideoConfig, out io.Writer) (VideoReport, error) {
	var rep VideoReport
	dir, cleanup, err := benchDir(cfg.Dir)
	if err != nil {
		return rep, err
	}
	defer cleanup()
	type gifFile struct {
		name string
		data []byte
	}
	var gifs []gifFile
	for i, g := range generatedGIFs(cfg.Small) {
		p := filepath.Join(dir, fmt.Sprintf("g%d.gif", i))
		args := []string{"-v", "error", "-y"}
		vf := "split[a][b];[a]palettegen[p];[b][p]paletteuse"
		if g.file != "" {
			args = append(args, "-t", "6", "-i", g.file, "-vf", "fps=12,scale=480:-2:flags=lanczos,"+vf)
		} else {
			args = append(args, "-f", "lavfi", "-i", g.lavfi+","+vf)
		}
		if out, err := exec.CommandContext(ctx, "ffmpeg", append(args, p)...).CombinedOutput(); err != nil {
			return rep, fmt.Errorf("make %s: %v %s", g.name, err, out)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return rep, err
		}
		gifs = append(gifs, gifFile{g.name, b})
	}
	var extra []string
	if !cfg.Small {
		extra = realGIFs()
	}
	seen := map[[32]byte]bool{}
	for _, p := range append(extra, cfg.GIFs...) {
		b, err := os.ReadFile(p)
		if err != nil {
			return rep, err
		}
		if h := sha256.Sum256(b); !seen[h] {
			seen[h] = true
			gifs = append(gifs, gifFile{"real: " + filepath.Base(filepath.Dir(p)) + "/" + filepath.Base(p), b})
		}
	}

	me, err := startMediaedge(ctx, cfg.Mediaedge, filepath.Join(dir, "me"), benchToken)
	if err != nil {
		return rep, err
	}
	defer me.Stop()
	var ratios []float64
	var times []int64
	for _, g := range gifs {
		id, err := benchUpload(ctx, me.Base, g.data)
		if err != nil {
			return rep, err
		}
		t0 := time.Now()
		mp4, err := fetchBody(ctx, me.Base+"/m/"+id+".mp4")
		if err != nil {
			return rep, fmt.Errorf("%s: %w", g.name, err)
		}
		el := time.Since(t0)
		r := GIFResult{Name: g.name, GIFBytes: int64(len(g.data)), MP4Bytes: int64(len(mp4)), ConvertMillis: el.Milliseconds()}
		r.Ratio = float64(r.GIFBytes) / float64(r.MP4Bytes)
		r.Frames = countFrames(ctx, mp4, dir)
		ratios = append(ratios, r.Ratio)
		times = append(times, r.ConvertMillis)
		rep.GIFs = append(rep.GIFs, r)
	}
	rep.MedianRatio = median(ratios)
	rep.MedianConvertMS = int64(median(toFloats(times)))

	secs, size, rate := "30", "1920x1080", "6M"
	if cfg.Small {
		secs, size, rate = "6", "640x360", "800k"
	}
	rep.HLSClip = fmt.Sprintf("%s s %s H.264/AAC, keyframe every 2 s", secs, size)
	clip := filepath.Join(dir, "phone.mp4")
	if out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size="+size+":rate=30:duration="+secs,
		"-f", "lavfi", "-i", "sine=duration="+secs, "-c:v", "libx264", "-preset", "veryfast", "-b:v", rate, "-pix_fmt", "yuv420p",
		"-g", "60", "-c:a", "aac", "-shortest", clip).CombinedOutput(); err != nil {
		return rep, fmt.Errorf("make the phone clip: %v %s", err, out)
	}
	raw, err := os.ReadFile(clip)
	if err != nil {
		return rep, err
	}
	id, err := benchUpload(ctx, me.Base, raw)
	if err != nil {
		return rep, err
	}
	first := func() (time.Duration, error) {
		t0 := time.Now()
		if _, err := fetchBody(ctx, me.Base+"/m/"+id+"/hls/index.m3u8"); err != nil {
			return 0, err
		}
		if _, err := fetchBody(ctx, me.Base+"/m/"+id+"/hls/seg_00000.m4s"); err != nil {
			return 0, err
		}
		return time.Since(t0), nil
	}
	if rep.HLSCold, err = first(); err != nil {
		return rep, err
	}
	if rep.HLSWarm, err = first(); err != nil {
		return rep, err
	}
	printVideo(out, rep)
	return rep, nil
}

func printVideo(out io.Writer, rep VideoReport) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "video: animated GIF to MP4 (first request converts)")
	fmt.Fprintln(tw, "gif\tframes\tgif bytes\tmp4 bytes\tgif/mp4\tconvert ms")
	for _, g := range rep.GIFs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1fx\t%d\n", g.Name, g.Frames, g.GIFBytes, g.MP4Bytes, g.Ratio, g.ConvertMillis)
	}
	tw.Flush()
	fmt.Fprintf(out, "median over %d GIFs: MP4 %.1fx smaller than GIF (goal 5x); median conversion %d ms\n",
		len(rep.GIFs), rep.MedianRatio, rep.MedianConvertMS)
	fmt.Fprintf(out, "HLS, %s: first playlist + first segment cold (packaged on the request) %s, warm %s\n",
		rep.HLSClip, rep.HLSCold.Round(time.Millisecond), rep.HLSWarm.Round(time.Millisecond))
}

// countFrames asks ffprobe how many frames the MP4 has (0 if it cannot say).
func countFrames(ctx context.Context, mp4 []byte, dir string) int {
	p := filepath.Join(dir, "count.mp4")
	if err := os.WriteFile(p, mp4, 0o644); err != nil {
		return 0
	}
	defer os.Remove(p)
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=nb_frames", "-of", "csv=p=0", p).Output()
	if err != nil {
		return 0
	}
	var n int
	fmt.Sscan(string(out), &n)
	return n
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func toFloats(v []int64) []float64 {
	f := make([]float64, len(v))
	for i, x := range v {
		f[i] = float64(x)
	}
	return f
}

func benchUpload(ctx context.Context, base string, raw []byte) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/upload", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+benchToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var up struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&up); err != nil || up.ID == "" {
		return "", fmt.Errorf("upload: %s %v", resp.Status, err)
	}
	return up.ID, nil
}

// fetchBody GETs url and returns the body of a 200.
func fetchBody(ctx context.Context, url string) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("GET %s: %s %s", url, resp.Status, bytes.TrimSpace(b))
	}
	return b, err
}
