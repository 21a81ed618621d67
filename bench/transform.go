package bench

// Transform benchmark: cold image transforms by transform.Processor, served
// by a minimal HTTP handler in this process on 127.0.0.1 (source bytes in
// memory, so the number is the transform, not storage), against imaginary
// (same libvips, through bimg) and, when given, imgproxy, with equivalent
// parameters, at the same concurrency, in the same run. Every request asks for
// a slightly different width so that no result cache anywhere answers: each
// one is a real decode-resize-encode. When the mediaedge binary is given, the
// whole edge (upload once, then GET /m/{id}?...) runs as one more target, to
// show what routing, storage reads and caching add. The in-process
// processor's resident set is reported at the start, after the load and
// after an idle pause: libvips memory is invisible to Go's heap profiles, and
// a native leak (an image never unreferenced) shows as RSS that grows with
// the number of transforms and does not come back when idle.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mediaedge/mediaedge/transform"
)

// TransformConfig configures the transform benchmark.
type TransformConfig struct {
	// Imaginary is the imaginary binary (scripts/bench.sh builds v1.2.4 in a
	// scratch module); empty skips it, with a note in the report.
	Imaginary string
	// Imgproxy is an imgproxy binary built by hand; empty skips it.
	Imgproxy string
	// Mediaedge, when set, adds the full edge (`mediaedge serve`) as a target.
	Mediaedge string
	// Requests per case, target and round.
	Requests int
	// Concurrency is the number of requests in flight per target.
	Concurrency int
	// SourceScale shrinks the source sizes (1 = 12 MP, 2000x1500 and
	// 4096x4096); tests use a small scale to stay fast.
	SourceScale float64
	// Dir holds the sources for the references; "" = a temporary folder.
	Dir string
	// IdleWait is the pause after the load before the in-process processor's
	// resident set is read again (Go's heap returned to the OS first), to
	// tell memory that is freed late from memory that is never freed.
	IdleWait time.Duration
}

// DefaultTransformConfig is the benchmark.
func DefaultTransformConfig() TransformConfig {
	return TransformConfig{Requests: 40, Concurrency: 4, SourceScale: 1, IdleWait: 5 * time.Second}
}

// Validate reports every problem at once.
func (c TransformConfig) Validate() error {
	var errs []error
	if c.Requests <= 0 {
		errs = append(errs, errors.New("requests must be positive"))
	}
	if c.Concurrency <= 0 {
		errs = append(errs, errors.New("concurrency must be positive"))
	}
	if c.SourceScale <= 0 || c.SourceScale > 1 {
		errs = append(errs, errors.New("source scale must be in (0, 1]"))
	}
	if c.IdleWait < 0 {
		errs = append(errs, errors.New("idle wait must not be negative"))
	}
	return errors.Join(errs...)
}

// transformCase is one source and one equivalent request per target.
type transformCase struct {
	name, file string
	w, h       int    // source size at scale 1
	encode     string // source format
	width      int    // output width asked for
	ours       string // our query, without w
	imaginary  string // imaginary's query, without width
	imgproxy   string // imgproxy's processing options and extension, with %d for the width
}

func transformCases() []transformCase {
	return []transformCase{
		{
			name: "12 MP JPEG -> 800 px WebP q80", file: "photo.jpg", w: 4000, h: 3000, encode: "jpg", width: 800,
			ours:      "fm=webp&q=80",
			imaginary: "type=webp&quality=80",
			imgproxy:  "rs:fit:%d:0/q:80/plain/local:///photo.jpg@webp",
		},
		{
			name: "PNG photo -> 400 px JPEG q80", file: "photo.png", w: 2000, h: 1500, encode: "png", width: 400,
			ours:      "fm=jpg&q=80",
			imaginary: "type=jpeg&quality=80",
			imgproxy:  "rs:fit:%d:0/q:80/plain/local:///photo.png@jpg",
		},
		{
			name: "4096x4096 WebP -> 1024 px AVIF q60", file: "big.webp", w: 4096, h: 4096, encode: "webp", width: 1024,
			ours:      "fm=avif&q=60",
			imaginary: "type=avif&quality=60",
			imgproxy:  "rs:fit:%d:0/q:60/plain/local:///big.webp@avif",
		},
	}
}

// TransformResult is one target on one case.
type TransformResult struct {
	Case, Target string
	ReqPerSec    float64
	P50, P99     time.Duration
	MeanBytes    int64
	// CPUPerReq is the server's CPU time (user + system, all threads) per
	// successful request: steadier than req/s on a shared machine. For the
	// in-process processor it includes the load generator's small share.
	CPUPerReq  time.Duration
	Errors     int
	FirstError string
}

// TransformReport holds every result.
type TransformReport struct {
	Results []TransformResult
	Memory  TransformMemory
}

// TransformMemory is the resident set (VmRSS) of this process, which runs
// the in-process processor (and the load generator, and holds the sources).
type TransformMemory struct {
	Start      int64         // bytes, before the first transform
	AfterLoad  int64         // bytes, after every case
	AfterIdle  int64         // bytes, after IdleWait with Go's heap returned
	Transforms int           // successful in-process transforms in between
	Idle       time.Duration // the pause before AfterIdle
}

// Transform runs the benchmark and prints its table to out.
func Transform(ctx context.Context, cfg TransformConfig, out io.Writer) (TransformReport, error) {
	var rep TransformReport
	if err := cfg.Validate(); err != nil {
		return rep, fmt.Errorf("transform benchmark: %w", err)
	}
	dir, cleanup, err := benchDir(cfg.Dir)
	if err != nil {
		return rep, err
	}
	defer cleanup()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return rep, err
	}
	cases := transformCases()
	sources := map[string][]byte{}
	for _, c := range cases {
		w, h := scaled(c.w, cfg.SourceScale), scaled(c.h, cfg.SourceScale)
		b, err := cameraLike(w, h, c.encode)
		if err != nil {
			return rep, fmt.Errorf("make %s: %w", c.file, err)
		}
		sources[c.file] = b
		if err := os.WriteFile(filepath.Join(src, c.file), b, 0o644); err != nil {
			return rep, err
		}
	}

	ours, stopOurs, err := serveProcessor(sources)
	if err != nil {
		return rep, err
	}
	defer stopOurs()
	rep.Memory.Start = procStatus(os.Getpid(), "VmRSS:")
	type target struct {
		name string
		url  func(c transformCase, w int) string
		cpu  func() time.Duration // CPU time the server has used so far
	}
	targets := []target{{"mediaedge", func(c transformCase, w int) string {
		return ours + "/t/" + c.file + "?w=" + strconv.Itoa(w) + "&" + c.ours
	}, selfCPU}}
	if cfg.Mediaedge != "" {
		me, err := startMediaedge(ctx, cfg.Mediaedge, filepath.Join(dir, "me"), benchToken)
		if err != nil {
			return rep, err
		}
		defer me.Stop()
		ids := map[string]string{}
		for _, c := range cases {
			if ids[c.file], err = benchUpload(ctx, me.Base, sources[c.file]); err != nil {
				return rep, err
			}
		}
		targets = append(targets, target{"mediaedge edge", func(c transformCase, w int) string {
			return me.Base + "/m/" + ids[c.file] + "?w=" + strconv.Itoa(w) + "&" + c.ours
		}, pidCPU(me.cmd.Process.Pid)})
	}
	var notes []string
	if cfg.Imaginary != "" {
		im, err := startProcess(ctx, "imaginary", cfg.Imaginary, []string{"-a", "127.0.0.1", "-p", "PORT", "-mount", src, "-concurrency", "0"}, "/health")
		if err != nil {
			return rep, err
		}
		defer im.Stop()
		targets = append(targets, target{"imaginary", func(c transformCase, w int) string {
			return im.Base + "/resize?file=" + c.file + "&width=" + strconv.Itoa(w) + "&" + c.imaginary
		}, pidCPU(im.cmd.Process.Pid)})
	} else {
		notes = append(notes, "imaginary not given (IMAGINARY_BIN): no reference ratio for it")
	}
	if cfg.Imgproxy != "" {
		ip, err := startImgproxy(ctx, cfg.Imgproxy, src)
		if err != nil {
			return rep, err
		}
		defer ip.Stop()
		targets = append(targets, target{"imgproxy", func(c transformCase, w int) string {
			return ip.Base + "/insecure/" + fmt.Sprintf(c.imgproxy, w)
		}, pidCPU(ip.cmd.Process.Pid)})
	} else {
		notes = append(notes, "imgproxy not given (IMGPROXY_BIN): skipped")
	}

	for _, c := range cases {
		width := max(1, scaled(c.width, cfg.SourceScale))
		// Two rounds, targets alternating, each target's best kept: a shared
		// machine's noise then hits every target alike.
		best := make([]TransformResult, len(targets))
		for round := 0; round < 2; round++ {
			for i, t := range targets {
				// Widths never repeat within a target across rounds, so the
				// edge's result cache (the "mediaedge edge" target) stays cold.
				cpu0 := t.cpu()
				r := transformLoad(ctx, func(w int) string { return t.url(c, w) }, width, round, cfg)
				r.Case, r.Target = c.name, t.name
				if ok := cfg.Requests - r.Errors; ok > 0 {
					r.CPUPerReq = ((t.cpu() - cpu0) / time.Duration(ok)).Round(time.Millisecond)
				}
				if r.Errors == cfg.Requests && t.name == "mediaedge" {
					return rep, fmt.Errorf("transform benchmark: every %s request failed on %s: %s", t.name, c.name, r.FirstError)
				}
				if t.name == "mediaedge" {
					rep.Memory.Transforms += cfg.Requests - r.Errors
				}
				if round == 0 || r.ReqPerSec > best[i].ReqPerSec {
					best[i] = r
				}
			}
		}
		rep.Results = append(rep.Results, best...)
	}
	rep.Memory.AfterLoad = procStatus(os.Getpid(), "VmRSS:")
	select {
	case <-time.After(cfg.IdleWait):
	case <-ctx.Done():
		return rep, ctx.Err()
	}
	debug.FreeOSMemory() // Go's garbage is not what this reports
	rep.Memory.AfterIdle, rep.Memory.Idle = procStatus(os.Getpid(), "VmRSS:"), cfg.IdleWait
	printTransform(out, cfg, rep, notes)
	return rep, nil
}

func scaled(v int, scale float64) int { return max(16, int(math.Round(float64(v)*scale))) }

// serveProcessor runs the minimal handler: GET /t/{file}?params transforms
// the in-memory source with a transform.Processor of the default config.
func serveProcessor(sources map[string][]byte) (base string, stop func(), err error) {
	tcfg := transform.DefaultConfig()
	proc, err := transform.NewProcessor(tcfg)
	if err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /t/{file}", func(w http.ResponseWriter, r *http.Request) {
		src, ok := sources[r.PathValue("file")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		spec, err := transform.Parse(tcfg, "", r.URL.Query(), r.Header.Get("Accept"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		res, err := proc.Process(r.Context(), src, "", spec)
		switch {
		case errors.Is(err, transform.ErrBusy):
			w.Header().Set("Retry-After", "1")
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", res.ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(res.Data)))
		_, _ = w.Write(res.Data)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// cameraLike makes a w x h photo-like source: smooth structure (a sky
// gradient and soft blobs), texture at 4 to 64 pixel scales (value noise, as
// foliage or fabric give a photo) and per-pixel sensor noise, so that it
// decodes, shrinks and compresses like a camera picture rather than a flat
// synthetic one whose detail vanishes when downscaled. The JPEG is 4:2:0 at
// quality 92, as cameras write; the WebP is q85.
func cameraLike(w, h int, format string) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(1, 2))
	type blob struct{ x, y, r float64 }
	blobs := make([]blob, 12)
	for i := range blobs {
		blobs[i] = blob{rng.Float64() * float64(w), rng.Float64() * float64(h), (0.05 + 0.2*rng.Float64()) * float64(min(w, h))}
	}
	octaves := []*valueNoise{newValueNoise(rng, w, h, 4, 18), newValueNoise(rng, w, h, 16, 26), newValueNoise(rng, w, h, 64, 30)}
	for y := 0; y < h; y++ {
		fy := float64(y) / float64(h)
		for x := 0; x < w; x++ {
			fx := float64(x) / float64(w)
			r, g, b := 90+120*fy, 130+60*fy+20*math.Sin(fx*9), 200-110*fy
			for i, bl := range blobs {
				dx, dy := float64(x)-bl.x, float64(y)-bl.y
				if d := dx*dx + dy*dy; d < bl.r*bl.r {
					k := 1 - d/(bl.r*bl.r)
					r += k * float64(60*(i%3)-40)
					g += k * float64(50*((i+1)%3)-30)
					b += k * float64(40*((i+2)%3)-50)
				}
			}
			var t float64
			for _, o := range octaves {
				t += o.at(x, y)
			}
			n := rng.NormFloat64() * 4
			img.SetRGBA(x, y, color.RGBA{clampByte(r + t + n), clampByte(g + 0.8*t + n), clampByte(b + 0.5*t + n), 255})
		}
	}
	var buf bytes.Buffer
	switch format {
	case "jpg":
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 92}); err != nil {
			return nil, err
		}
	case "png", "webp":
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		if err := enc.Encode(&buf, img); err != nil {
			return nil, err
		}
		if format == "webp" {
			return encodeWebP(buf.Bytes())
		}
	default:
		return nil, fmt.Errorf("no encoder for %s", format)
	}
	return buf.Bytes(), nil
}

// encodeWebP re-encodes a PNG as a q85 WebP of the same size with our own
// processor (Go has no WebP encoder).
func encodeWebP(png []byte) ([]byte, error) {
	cfg := transform.DefaultConfig()
	proc, err := transform.NewProcessor(cfg)
	if err != nil {
		return nil, err
	}
	spec, err := transform.Parse(cfg, "", url.Values{"fm": {"webp"}, "q": {"85"}}, "")
	if err != nil {
		return nil, err
	}
	res, err := proc.Process(context.Background(), png, "image/png", spec)
	return res.Data, err
}

// valueNoise is random values on a grid of cell pixels, bilinearly
// interpolated, scaled to +-amp.
type valueNoise struct {
	cell, gw int
	amp      float64
	v        []float64
}

func newValueNoise(rng *rand.Rand, w, h, cell int, amp float64) *valueNoise {
	gw, gh := w/cell+2, h/cell+2
	n := &valueNoise{cell: cell, gw: gw, amp: amp, v: make([]float64, gw*gh)}
	for i := range n.v {
		n.v[i] = rng.Float64()*2 - 1
	}
	return n
}

func (n *valueNoise) at(x, y int) float64 {
	cx, cy := x/n.cell, y/n.cell
	fx, fy := float64(x%n.cell)/float64(n.cell), float64(y%n.cell)/float64(n.cell)
	i := cy*n.gw + cx
	top := n.v[i]*(1-fx) + n.v[i+1]*fx
	bot := n.v[i+n.gw]*(1-fx) + n.v[i+n.gw+1]*fx
	return n.amp * (top*(1-fy) + bot*fy)
}

// selfCPU is this process' CPU time (the in-process processor's server).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pidCPU reads another process' CPU time from /proc/PID/stat (utime and
// stime, fields 14 and 15, in clock ticks of 1/100 s on Linux).
func pidCPU(pid int) func() time.Duration { return procCPU(pid, false) }

// pidCPUAll is pidCPU with the CPU time of the process' reaped children
// (cutime and cstime, fields 16 and 17): a server's ffmpeg runs count as
// its own.
func pidCPUAll(pid int) func() time.Duration { return procCPU(pid, true) }

func procCPU(pid int, children bool) func() time.Duration {
	fields := 2
	if children {
		fields = 4
	}
	return func() time.Duration {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0
		}
		// The command name (field 2) may hold spaces; count from after it.
		_, rest, ok := strings.Cut(string(b), ") ")
		if !ok {
			return 0
		}
		f := strings.Fields(rest) // f[0] is field 3, f[11] field 14 (utime)
		if len(f) < 11+fields {
			return 0
		}
		var ticks int64
		for _, s := range f[11 : 11+fields] {
			v, _ := strconv.ParseInt(s, 10, 64)
			ticks += v
		}
		return time.Duration(ticks) * 10 * time.Millisecond
	}
}

func clampByte(v float64) uint8 { return uint8(max(0, min(255, math.Round(v)))) }

func printTransform(out io.Writer, cfg TransformConfig, rep TransformReport, notes []string) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "transform: cold, %d requests per case and round, concurrency %d, best of 2 alternating rounds\n", cfg.Requests, cfg.Concurrency)
	fmt.Fprintln(tw, "case\ttarget\treq/s\tp50\tp99\tCPU/req\tmean bytes\tthroughput ratio\tCPU ratio\tbytes ratio")
	var ours TransformResult
	for _, r := range rep.Results {
		if r.Target == "mediaedge" {
			ours = r
		}
		if strings.HasPrefix(r.Target, "mediaedge") {
			fmt.Fprintf(tw, "%s\t%s\t%.2f\t%s\t%s\t%s\t%d\t\t\t\n", r.Case, r.Target, r.ReqPerSec, r.P50, r.P99, r.CPUPerReq, r.MeanBytes)
			continue
		}
		if r.ReqPerSec == 0 {
			// A reference that refuses a case (imaginary 1.2.4 has no AVIF
			// encoder) is reported as such, not counted as slow.
			fmt.Fprintf(tw, "%s\t%s\tunsupported\t\t\t\t\t\t\t\n", r.Case, r.Target)
			notes = append(notes, fmt.Sprintf("%s refused %q: %d of %d failed, first: %.100s", r.Target, r.Case, r.Errors, cfg.Requests, r.FirstError))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%s\t%s\t%s\t%d\t%.2fx\t%.2fx\t%.2fx\n", r.Case, r.Target, r.ReqPerSec, r.P50, r.P99, r.CPUPerReq, r.MeanBytes,
			ours.ReqPerSec/r.ReqPerSec, float64(r.CPUPerReq)/float64(max(1, ours.CPUPerReq)), float64(ours.MeanBytes)/float64(max(1, r.MeanBytes)))
	}
	fmt.Fprintln(tw, "(ratios: mediaedge's processor against the target, each >1 when mediaedge does better: throughput ours/theirs,")
	fmt.Fprintln(tw, " CPU per request theirs/ours, bytes ours/theirs (at or below 1 is the goal);")
	fmt.Fprintln(tw, " \"mediaedge edge\" is the whole server, upload once then GET /m/{id}: storage, routing and cache fill included)")
	if m := rep.Memory; m.Start > 0 {
		fmt.Fprintf(tw, "in-process processor memory (VmRSS): %d MiB at start, %d MiB after %d transforms, %d MiB after %s idle\n",
			m.Start>>20, m.AfterLoad>>20, m.Transforms, m.AfterIdle>>20, m.Idle)
	}
	for _, n := range notes {
		fmt.Fprintln(tw, "note: "+n)
	}
	tw.Flush()
}

// transformLoad sends cfg.Requests requests; request i of round r asks for
// the width at offset 2i+r in a band centred on width: no width repeats
// across the two rounds, so no result cache answers, and both rounds spread
// over the whole band, so their mean output sizes compare.
func transformLoad(ctx context.Context, url func(w int) string, width, round int, cfg TransformConfig) TransformResult {
	var res TransformResult
	var mu sync.Mutex // guards res, lat, bytesOut
	var lat []time.Duration
	var bytesOut int64
	var next atomic.Int64
	client := &http.Client{Timeout: 2 * time.Minute}
	fail := func(msg string) {
		mu.Lock()
		res.Errors++
		if res.FirstError == "" {
			res.FirstError = msg
		}
		mu.Unlock()
	}
	span := max(1, min(2*cfg.Requests, width/2))
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < cfg.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Requests || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				resp, err := client.Get(url(max(1, width+(2*i+round)%span-span/2)))
				if err != nil {
					fail(err.Error())
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					fail(fmt.Sprintf("%s %s %v", resp.Status, bytes.TrimSpace(body), err))
					continue
				}
				mu.Lock()
				lat = append(lat, time.Since(t0))
				bytesOut += int64(len(body))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(lat) > 0 {
		slices.Sort(lat)
		res.ReqPerSec = float64(len(lat)) / time.Since(start).Seconds()
		res.P50 = lat[len(lat)/2].Round(time.Millisecond)
		res.P99 = lat[min(len(lat)-1, len(lat)*99/100)].Round(time.Millisecond)
		res.MeanBytes = bytesOut / int64(len(lat))
	}
	return res
}

// startImgproxy runs an imgproxy binary built by hand (never by this
// project) over the source folder.
func startImgproxy(ctx context.Context, bin, root string) (*process, error) {
	return startProcessEnv(ctx, "imgproxy", bin, nil, []string{
		"IMGPROXY_BIND=127.0.0.1:PORT", "IMGPROXY_LOCAL_FILESYSTEM_ROOT=" + root, "IMGPROXY_MAX_SRC_RESOLUTION=50",
	}, "/health")
}
