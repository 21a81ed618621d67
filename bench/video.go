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
//
// Each MP4 is set against the plain command, `ffmpeg -i in.gif -pix_fmt
// yuv420p out.mp4` (x264 defaults: preset medium, CRF 23, keyframe every 250
// frames, the GIF's nominal frame rate), on bytes, SSIM and CPU. For a fair
// comparison the plain command gets the same pixels ours encodes (see
// gifPrefilter): transparency composited onto white, an odd last row or
// column cropped (yuv420p needs even sides; the plain command alone fails on
// odd ones). SSIM is measured against the GIF's own frames (see gifSSIM).

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
	MP4Bytes      int64   // our MP4 (the body, unless the edge served the GIF)
	Ratio         float64 // GIF bytes / MP4 bytes
	ConvertMillis int64   // first request, converted on it
	// CPUMillis is the server's CPU for that request, its ffmpeg children
	// included (they are reaped by it, so /proc counts them).
	CPUMillis int64
	// Served is the edge's X-Mediaedge-Served header ("" = the MP4);
	// ServedGIF is true when the body was the GIF itself.
	Served    string
	ServedGIF bool
	// SSIM is our MP4's against the GIF's frames (1 when the GIF itself was
	// served); PlainSSIM, PlainBytes and PlainCPUMillis are the plain
	// command's.
	SSIM, PlainSSIM float64
	PlainBytes      int64
	PlainCPUMillis  int64
}

// VideoReport is the result.
type VideoReport struct {
	GIFs                  []GIFResult
	MedianRatio           float64
	MedianConvertMS       int64
	MedianCPUMS           int64
	MedianPlainCPUMS      int64
	MinSSIM, MedianSSIM   float64
	MinPlain, MedianPlain float64
	// MedianVsPlain is the median of our MP4 bytes / the plain command's.
	MedianVsPlain float64
	// AtLeastPlain counts GIFs whose SSIM is at least the plain command's.
	AtLeastPlain     int
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
	serverCPU := pidCPUAll(me.cmd.Process.Pid)
	var ratios, vsPlain, ssims, plains []float64
	var times, cpus, plainCPUs []int64
	for i, g := range gifs {
		id, err := benchUpload(ctx, me.Base, g.data)
		if err != nil {
			return rep, err
		}
		c0, t0 := serverCPU(), time.Now()
		mp4, served, err := fetchServed(ctx, me.Base+"/m/"+id+".mp4")
		if err != nil {
			return rep, fmt.Errorf("%s: %w", g.name, err)
		}
		el := time.Since(t0)
		r := GIFResult{Name: g.name, GIFBytes: int64(len(g.data)), MP4Bytes: int64(len(mp4)), ConvertMillis: el.Milliseconds(),
			CPUMillis: (serverCPU() - c0).Milliseconds(), Served: served, ServedGIF: bytes.HasPrefix(mp4, []byte("GIF8"))}
		r.Ratio = float64(r.GIFBytes) / float64(r.MP4Bytes)
		gifPath := filepath.Join(dir, fmt.Sprintf("cmp%d.gif", i))
		if err := os.WriteFile(gifPath, g.data, 0o644); err != nil {
			return rep, err
		}
		if r.ServedGIF {
			r.Frames, r.SSIM = len(gifDelays(ctx, gifPath)), 1
		} else {
			oursPath := filepath.Join(dir, fmt.Sprintf("ours%d.mp4", i))
			if err := os.WriteFile(oursPath, mp4, 0o644); err != nil {
				return rep, err
			}
			r.Frames = countFrames(ctx, mp4, dir)
			if r.SSIM, err = gifSSIM(ctx, gifPath, oursPath); err != nil {
				return rep, fmt.Errorf("%s: SSIM of ours: %w", g.name, err)
			}
		}
		plainPath := filepath.Join(dir, fmt.Sprintf("plain%d.mp4", i))
		cpu, err := plainMP4(ctx, gifPath, plainPath)
		if err != nil {
			return rep, fmt.Errorf("%s: plain ffmpeg: %w", g.name, err)
		}
		r.PlainCPUMillis = cpu.Milliseconds()
		if st, err := os.Stat(plainPath); err == nil {
			r.PlainBytes = st.Size()
		}
		if r.PlainSSIM, err = gifSSIM(ctx, gifPath, plainPath); err != nil {
			return rep, fmt.Errorf("%s: SSIM of plain: %w", g.name, err)
		}
		if r.SSIM >= r.PlainSSIM {
			rep.AtLeastPlain++
		}
		ratios = append(ratios, r.Ratio)
		vsPlain = append(vsPlain, float64(r.MP4Bytes)/float64(r.PlainBytes))
		ssims = append(ssims, r.SSIM)
		plains = append(plains, r.PlainSSIM)
		times = append(times, r.ConvertMillis)
		cpus = append(cpus, r.CPUMillis)
		plainCPUs = append(plainCPUs, r.PlainCPUMillis)
		rep.GIFs = append(rep.GIFs, r)
	}
	rep.MedianRatio = median(ratios)
	rep.MedianConvertMS = median(times)
	rep.MedianCPUMS = median(cpus)
	rep.MedianPlainCPUMS = median(plainCPUs)
	rep.MinSSIM, rep.MedianSSIM = slices.Min(ssims), median(ssims)
	rep.MinPlain, rep.MedianPlain = slices.Min(plains), median(plains)
	rep.MedianVsPlain = median(vsPlain)

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
	fmt.Fprintln(tw, "video: animated GIF to MP4 (first request converts); plain = ffmpeg -i in.gif -pix_fmt yuv420p out.mp4 on the same composited, even-cropped frames")
	fmt.Fprintln(tw, "gif\tframes\tgif bytes\tmp4 bytes\tplain bytes\tmp4/plain\tSSIM\tplain SSIM\t>= plain\tgif/mp4\tconvert ms\tCPU ms\tplain CPU ms\tserved")
	for _, g := range rep.GIFs {
		ok, served := "yes", "mp4"
		if g.SSIM < g.PlainSSIM {
			ok = "NO"
		}
		if g.ServedGIF {
			served = "gif"
		}
		if g.Served != "" {
			served += " (" + g.Served + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.2f\t%.4f\t%.4f\t%s\t%.1fx\t%d\t%d\t%d\t%s\n", g.Name, g.Frames, g.GIFBytes, g.MP4Bytes,
			g.PlainBytes, float64(g.MP4Bytes)/float64(max(1, g.PlainBytes)), g.SSIM, g.PlainSSIM, ok, g.Ratio, g.ConvertMillis, g.CPUMillis, g.PlainCPUMillis, served)
	}
	tw.Flush()
	fmt.Fprintf(out, "median over %d GIFs: MP4 %.1fx smaller than GIF (goal 5x); median conversion %d ms, CPU %d ms (plain %d ms)\n",
		len(rep.GIFs), rep.MedianRatio, rep.MedianConvertMS, rep.MedianCPUMS, rep.MedianPlainCPUMS)
	fmt.Fprintf(out, "SSIM against the GIF's frames: ours min %.4f median %.4f, plain min %.4f median %.4f; ours >= plain on %d of %d GIFs; bytes ours/plain median %.2f\n",
		rep.MinSSIM, rep.MedianSSIM, rep.MinPlain, rep.MedianPlain, rep.AtLeastPlain, len(rep.GIFs), rep.MedianVsPlain)
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

// gifPrefilter is the filter our converter applies before encoding a GIF of
// w x h (transform/video gifToMP4, at full size): frames composited onto
// white, an odd last row or column cropped, yuv420p. The plain command and
// the SSIM reference get the same, so that SSIM measures the encoding only.
func gifPrefilter(w, h int) string {
	return fmt.Sprintf("format=rgba,split=2[bg][fg];[bg]lutrgb=r=255:g=255:b=255:a=255[base];"+
		"[base][fg]overlay=eof_action=pass:format=auto,crop=%d:%d:0:0,format=yuv420p", w&^1, h&^1)
}

// gifSize is the GIF's canvas size.
func gifSize(ctx context.Context, gif string) (int, int, error) {
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-f", "gif", "-show_entries", "stream=width,height",
		"-of", "csv=p=0", gif).Output()
	if err != nil {
		return 0, 0, fmt.Errorf("ffprobe %s: %w", gif, err)
	}
	var w, h int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "%d,%d", &w, &h); err != nil {
		return 0, 0, fmt.Errorf("ffprobe %s: %q: %w", gif, out, err)
	}
	return w, h, nil
}

// gifDelays lists the GIF's frame durations as ffmpeg's demuxer reads them.
func gifDelays(ctx context.Context, gif string) []string {
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-f", "gif", "-show_entries", "packet=duration",
		"-of", "csv=p=0", gif).Output()
	if err != nil {
		return nil
	}
	return strings.Fields(string(out))
}

// plainMP4 runs the plain command, `ffmpeg -i in.gif -pix_fmt yuv420p
// out.mp4`, on our prefiltered frames, and returns its CPU time.
func plainMP4(ctx context.Context, gif, out string) (time.Duration, error) {
	w, h, err := gifSize(ctx, gif)
	if err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "gif", "-i", gif,
		"-vf", gifPrefilter(w, h), "-pix_fmt", "yuv420p", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%w: %s", err, bytes.TrimSpace(b))
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// gifSSIM is the mean SSIM (ffmpeg's "All", Y, U and V weighted by plane
// size) of mp4 against the GIF's frames, one comparison per GIF frame: the
// GIF is the ssim filter's first input, so each of its frames is paired with
// the MP4 frame shown at that time. Both clocks are rounded to the GIF's
// centiseconds first (settb=1/100): the plain command retimes frames onto a
// constant rate (a 6 cs frame of a 15 fps GIF lands at 6.67 cs), and a few
// milliseconds of jitter would otherwise count as a wrong frame. It fails
// unless every GIF frame was compared.
func gifSSIM(ctx context.Context, gif, mp4 string) (float64, error) {
	w, h, err := gifSize(ctx, gif)
	if err != nil {
		return 0, err
	}
	stats := mp4 + ".ssim"
	graph := fmt.Sprintf("[0:v]%s,settb=1/100[ref];[1:v]scale=%d:%d,format=yuv420p,settb=1/100[enc];[ref][enc]ssim=stats_file=%s",
		gifPrefilter(w, h), w&^1, h&^1, stats)
	out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-f", "gif", "-i", gif, "-i", mp4,
		"-lavfi", graph, "-f", "null", "-").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%w: %s", err, bytes.TrimSpace(out))
	}
	_, all, ok := strings.Cut(string(out), " All:")
	var v float64
	if !ok {
		return 0, fmt.Errorf("no SSIM in %q", out)
	}
	if _, err := fmt.Sscan(all, &v); err != nil {
		return 0, fmt.Errorf("SSIM %q: %w", all, err)
	}
	b, err := os.ReadFile(stats)
	if err != nil {
		return 0, err
	}
	if got, want := bytes.Count(b, []byte("\n")), len(gifDelays(ctx, gif)); got != want {
		return 0, fmt.Errorf("SSIM compared %d frames, the GIF has %d", got, want)
	}
	return v, nil
}

// fetchServed GETs url and returns the body of a 200 with its
// X-Mediaedge-Served header.
func fetchServed(ctx context.Context, url string) ([]byte, string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("GET %s: %s %s", url, resp.Status, bytes.TrimSpace(b))
	}
	return b, resp.Header.Get("X-Mediaedge-Served"), err
}
