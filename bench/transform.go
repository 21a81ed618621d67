package bench

// Transform benchmark: cold image transforms by mediaedge against imaginary
// (same libvips, through bimg) and, when given, imgproxy, with equivalent
// parameters, at the same concurrency, in the same run. Every request asks
// for a slightly different width so that no result cache anywhere answers:
// each one is a real decode-resize-encode.
//
// mediaedge runs twice. The in-process target is transform.Processor behind
// a minimal HTTP handler in this process (source bytes in memory, so the
// number is the transform, not storage); it shares the load generator's CPU.
// When the mediaedge binary is given, the whole edge (upload once, then GET
// /m/{id}?...) is a separate server pinned like the references, and it is
// the one the ratios use: it is what issue 16 compares, and the only
// mediaedge measured on the same footing as imgproxy.
//
// Each case runs Rounds rounds with the targets in rotating order (see
// rounds.go). CPU time per request is the measure (req/s swings by
// a third on a shared machine, CPU per request holds), and each round gives
// one ratio per reference; a target's table row is its median round by CPU
// per request. Then one output per target at the case's width is scored by
// SSIM against a lossless Lanczos3 rendering of the source (ssim.go), so that
// bytes compare at known quality.
//
// The in-process processor's resident set is reported at the start, after
// the load and after an idle pause: libvips memory is invisible to Go's heap
// profiles, and a native leak (an image never unreferenced) shows as RSS
// that grows with the number of transforms and does not come back when idle.

import (
	"bytes"
	"cmp"
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
	// Mediaedge, when set, adds the full edge (`mediaedge serve`) as a
	// target, and the ratios use it instead of the in-process processor.
	Mediaedge string
	// Requests per case, target and round.
	Requests int
	// Concurrency is the number of requests in flight per target.
	Concurrency int
	// SourceScale shrinks the source sizes (1 = 12 MP, 2000x1500 and
	// 4096x4096); tests use a small scale to stay fast.
	SourceScale float64
	// Dir holds the sources for the references and the outputs scored for
	// SSIM (kept there for a look); "" = a temporary folder.
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

// TransformResult is one target's load on one case in one round.
type TransformResult struct {
	Case, Target string
	Round        int
	ReqPerSec    float64
	P50, P99     time.Duration
	MeanBytes    int64
	// CPUPerReq is the server's CPU time (user + system, all threads) per
	// successful request. For the in-process processor it includes the load
	// generator's share; for a server it is counted in the kernel's 10 ms
	// ticks, so it is coarse when a round is short.
	CPUPerReq  time.Duration
	Errors     int
	FirstError string
}

// TransformQuality is one output of a target at the case's width, fetched
// outside the timed load, and its SSIM against the reference (ssim.go).
type TransformQuality struct {
	Width, Height int
	Bytes         int64
	SSIM          float64
	Error         string // why there is no output (a reference refused it)
}

// TransformTarget is one target on one case.
type TransformTarget struct {
	Name    string
	Rounds  []TransformResult // one per round, in round order
	Median  TransformResult   // the round with the median CPU per request
	Quality TransformQuality
	// Refused is set when every request of every round failed: the target
	// cannot do the case (imaginary 1.2.4 has no AVIF encoder); it is
	// reported as such, not counted as slow.
	Refused bool
}

// TransformRatio compares the report's Ours with one reference on one case.
type TransformRatio struct {
	Reference string
	// Rounds is how many rounds both answered; the spreads are over them,
	// and zero when the reference refused the case.
	Rounds int
	// CPU is the reference's CPU per request over ours, round by round:
	// above 1 when ours uses less (issue 16 asks for 1.1 at least).
	CPU Spread
	// Throughput is our req/s over the reference's, round by round.
	Throughput Spread
	// Bytes is our quality output's size over the reference's, both at the
	// case's width (read with the two SSIMs); 0 when either has none.
	Bytes float64
}

// TransformCaseReport is one case: every target and every reference's ratios.
type TransformCaseReport struct {
	Case    string
	Targets []TransformTarget // in the order they were set up
	Ratios  []TransformRatio  // one per reference that ran
}

// Target finds a target by name.
func (c TransformCaseReport) Target(name string) (TransformTarget, bool) {
	i := slices.IndexFunc(c.Targets, func(t TransformTarget) bool { return t.Name == name })
	if i < 0 {
		return TransformTarget{}, false
	}
	return c.Targets[i], true
}

// TransformReport holds every result.
type TransformReport struct {
	// Ours names the target the ratios use: "mediaedge edge" when the
	// binary was given, else "mediaedge" (the in-process processor).
	Ours   string
	Cases  []TransformCaseReport
	Memory TransformMemory
	Notes  []string // missing references, refusals, what Ours is
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

// transformTarget is one server under test.
type transformTarget struct {
	name string
	url  func(c transformCase, w int) string
	cpu  func() time.Duration // CPU time the server has used so far
}

// isOurs tells mediaedge's targets from the references.
func isOurs(name string) bool { return strings.HasPrefix(name, "mediaedge") }

// Transform runs the benchmark and prints its tables to out.
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
	src, qdir := filepath.Join(dir, "src"), filepath.Join(dir, "quality")
	for _, d := range []string{src, qdir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return rep, err
		}
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
	targets := []transformTarget{{"mediaedge", func(c transformCase, w int) string {
		return ours + "/t/" + c.file + "?w=" + strconv.Itoa(w) + "&" + c.ours
	}, selfCPU}}
	rep.Ours = "mediaedge"
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
		targets = append(targets, transformTarget{"mediaedge edge", func(c transformCase, w int) string {
			return me.Base + "/m/" + ids[c.file] + "?w=" + strconv.Itoa(w) + "&" + c.ours
		}, pidCPU(me.cmd.Process.Pid)})
		rep.Ours = "mediaedge edge"
	} else {
		rep.Notes = append(rep.Notes, "mediaedge binary not given: the ratios use the in-process processor, which shares the load generator's CPU (its CPU/req includes the client's share)")
	}
	if cfg.Imaginary != "" {
		im, err := startProcess(ctx, "imaginary", cfg.Imaginary, []string{"-a", "127.0.0.1", "-p", "PORT", "-mount", src, "-concurrency", "0"}, "/health")
		if err != nil {
			return rep, err
		}
		defer im.Stop()
		targets = append(targets, transformTarget{"imaginary", func(c transformCase, w int) string {
			return im.Base + "/resize?file=" + c.file + "&width=" + strconv.Itoa(w) + "&" + c.imaginary
		}, pidCPU(im.cmd.Process.Pid)})
	} else {
		rep.Notes = append(rep.Notes, "imaginary not given (IMAGINARY_BIN): no reference ratio for it")
	}
	if cfg.Imgproxy != "" {
		ip, err := startImgproxy(ctx, cfg.Imgproxy, src)
		if err != nil {
			return rep, err
		}
		defer ip.Stop()
		targets = append(targets, transformTarget{"imgproxy", func(c transformCase, w int) string {
			return ip.Base + "/insecure/" + fmt.Sprintf(c.imgproxy, w)
		}, pidCPU(ip.cmd.Process.Pid)})
	} else {
		rep.Notes = append(rep.Notes, "imgproxy not given (IMGPROXY_BIN): no reference ratio for it, issue 16's goal unchecked")
	}

	for i, c := range cases {
		ref := newSSIMReference(qdir, filepath.Join(src, c.file), scaled(c.w, cfg.SourceScale), scaled(c.h, cfg.SourceScale))
		cr, n, err := transformCaseRun(ctx, cfg, c, i, targets, ref)
		rep.Memory.Transforms += n
		if err != nil {
			return rep, err
		}
		cr.Ratios = transformRatios(cr, rep.Ours)
		for _, t := range cr.Targets {
			if t.Refused {
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s refused %q: %d of %d failed in every round, first: %.100s",
					t.Name, c.name, t.Median.Errors, cfg.Requests, t.Median.FirstError))
			} else if t.Quality.Error != "" {
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s: no output at %d px for %q: %.100s", t.Name, scaled(c.width, cfg.SourceScale), c.name, t.Quality.Error))
			}
		}
		rep.Cases = append(rep.Cases, cr)
	}
	rep.Memory.AfterLoad = procStatus(os.Getpid(), "VmRSS:")
	select {
	case <-time.After(cfg.IdleWait):
	case <-ctx.Done():
		return rep, ctx.Err()
	}
	debug.FreeOSMemory() // Go's garbage is not what this reports
	rep.Memory.AfterIdle, rep.Memory.Idle = procStatus(os.Getpid(), "VmRSS:"), cfg.IdleWait
	printTransform(out, cfg, rep)
	return rep, nil
}

// transformCaseRun runs Rounds rounds of one case over every target in
// rotating order, then fetches and scores each target's quality output. It
// also returns how many transforms the in-process processor did.
func transformCaseRun(ctx context.Context, cfg TransformConfig, c transformCase, idx int, targets []transformTarget, ref *ssimReference) (TransformCaseReport, int, error) {
	cr := TransformCaseReport{Case: c.name, Targets: make([]TransformTarget, len(targets))}
	inProcess := 0
	width := max(1, scaled(c.width, cfg.SourceScale))
	err := rotate(ctx, Rounds, len(targets), func(round, i int) error {
		t := targets[i]
		cpu0 := t.cpu()
		r := transformLoad(ctx, func(w int) string { return t.url(c, w) }, width, round, cfg)
		r.Case, r.Target, r.Round = c.name, t.name, round
		ok := cfg.Requests - r.Errors
		if ok > 0 {
			r.CPUPerReq = (t.cpu() - cpu0) / time.Duration(ok)
		} else if isOurs(t.name) && ctx.Err() == nil {
			return fmt.Errorf("transform benchmark: every %s request failed on %s: %s", t.name, c.name, r.FirstError)
		}
		if t.name == "mediaedge" {
			inProcess += ok
		}
		cr.Targets[i].Rounds = append(cr.Targets[i].Rounds, r)
		return nil
	})
	if err != nil {
		return cr, inProcess, err
	}
	for i, t := range targets {
		tr := &cr.Targets[i]
		tr.Name, tr.Median = t.name, medianRound(tr.Rounds)
		tr.Refused = !slices.ContainsFunc(tr.Rounds, func(r TransformResult) bool { return r.Errors < cfg.Requests })
		if tr.Refused {
			tr.Quality.Error = "refused the case"
			continue
		}
		// After the load, so that the edge's one cache hit (this width may
		// have been asked for in a round) costs no round its cold request.
		body, err := fetchBody(ctx, t.url(c, width))
		if err != nil {
			if isOurs(t.name) {
				return cr, inProcess, fmt.Errorf("transform benchmark: %s quality output for %s: %w", t.name, c.name, err)
			}
			tr.Quality.Error = err.Error()
			continue
		}
		if t.name == "mediaedge" {
			inProcess++
		}
		q := &tr.Quality
		q.Bytes = int64(len(body))
		q.SSIM, q.Width, q.Height, err = ref.score(ctx, fmt.Sprintf("case%d-%s", idx, strings.ReplaceAll(t.name, " ", "-")), body)
		if err != nil {
			return cr, inProcess, fmt.Errorf("transform benchmark: %s on %s: %w", t.name, c.name, err)
		}
	}
	return cr, inProcess, nil
}

// medianRound is the round with the median CPU per request among the rounds
// that served something (the first round when none did).
func medianRound(rounds []TransformResult) TransformResult {
	var ok []TransformResult
	for _, r := range rounds {
		if r.ReqPerSec > 0 {
			ok = append(ok, r)
		}
	}
	if len(ok) == 0 {
		if len(rounds) == 0 {
			return TransformResult{}
		}
		return rounds[0]
	}
	slices.SortStableFunc(ok, func(a, b TransformResult) int { return cmp.Compare(a.CPUPerReq, b.CPUPerReq) })
	return ok[len(ok)/2]
}

// transformRatios sets ours against every reference, round by round: both
// targets of round r ran within minutes of each other on the same machine,
// which is what makes their ratio steadier than a ratio of medians. A round
// that either side failed entirely, or whose CPU read zero ticks, is left out.
func transformRatios(cr TransformCaseReport, oursName string) []TransformRatio {
	ours, ok := cr.Target(oursName)
	if !ok {
		return nil
	}
	var out []TransformRatio
	for _, ref := range cr.Targets {
		if isOurs(ref.Name) {
			continue
		}
		tr := TransformRatio{Reference: ref.Name}
		var oursCPU, refCPU, oursRPS, refRPS []float64
		for i := range min(len(ours.Rounds), len(ref.Rounds)) {
			o, r := ours.Rounds[i], ref.Rounds[i]
			if o.ReqPerSec <= 0 || r.ReqPerSec <= 0 || o.CPUPerReq <= 0 || r.CPUPerReq <= 0 {
				continue
			}
			oursCPU, refCPU = append(oursCPU, float64(o.CPUPerReq)), append(refCPU, float64(r.CPUPerReq))
			oursRPS, refRPS = append(oursRPS, o.ReqPerSec), append(refRPS, r.ReqPerSec)
		}
		tr.Rounds = len(oursCPU)
		tr.CPU, tr.Throughput = ratios(refCPU, oursCPU), ratios(oursRPS, refRPS)
		if ours.Quality.Bytes > 0 && ref.Quality.Bytes > 0 {
			tr.Bytes = float64(ours.Quality.Bytes) / float64(ref.Quality.Bytes)
		}
		out = append(out, tr)
	}
	return out
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

func printTransform(out io.Writer, cfg TransformConfig, rep TransformReport) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "transform: cold (every request a new width), %d requests per case, target and round, concurrency %d, %d rounds in rotating order\n",
		cfg.Requests, cfg.Concurrency, Rounds)
	fmt.Fprintln(tw, pinning.String())
	fmt.Fprintln(tw, "each row is the target's median round by CPU/req; bytes and SSIM: one output at the case's width, scored against")
	fmt.Fprintln(tw, "the source resized to the same size by libvips (Lanczos3, lossless PNG)")
	fmt.Fprintf(tw, "ratios: ours = %s, per round, min / median / max\n", rep.Ours)
	for _, c := range rep.Cases {
		fmt.Fprintf(tw, "\n%s\n", c.Case)
		fmt.Fprintln(tw, "target\treq/s\tp50\tp99\tCPU/req\tmean bytes\tbytes\tSSIM\t")
		for _, t := range c.Targets {
			if t.Refused {
				fmt.Fprintf(tw, "%s\tunsupported\t\t\t\t\t\t\t\n", t.Name)
				continue
			}
			r, q := t.Median, t.Quality
			ssim := "-"
			if q.SSIM > 0 {
				ssim = fmt.Sprintf("%.4f", q.SSIM)
			}
			fmt.Fprintf(tw, "%s\t%.2f\t%s\t%s\t%s\t%d\t%d\t%s\t\n", t.Name, r.ReqPerSec, r.P50, r.P99,
				r.CPUPerReq.Round(100*time.Microsecond), r.MeanBytes, q.Bytes, ssim)
		}
		for _, r := range c.Ratios {
			if r.Rounds == 0 {
				fmt.Fprintf(tw, "vs %s: no round to compare\n", r.Reference)
				continue
			}
			fmt.Fprintf(tw, "CPU per request vs %s: ref/ours = %s (min / median / max of %d rounds)\n", r.Reference, r.CPU, r.Rounds)
			fmt.Fprintf(tw, "req/s vs %s: ours/ref = %s\n", r.Reference, r.Throughput)
			if r.Bytes > 0 {
				ours, _ := c.Target(rep.Ours)
				ref, _ := c.Target(r.Reference)
				fmt.Fprintf(tw, "bytes vs %s at %dx%d: ours/ref = %.3f (SSIM %.4f ours, %.4f ref)\n", r.Reference,
					ours.Quality.Width, ours.Quality.Height, r.Bytes, ours.Quality.SSIM, ref.Quality.SSIM)
			}
		}
	}
	fmt.Fprintln(tw)
	if m := rep.Memory; m.Start > 0 {
		fmt.Fprintf(tw, "in-process processor memory (VmRSS): %d MiB at start, %d MiB after %d transforms, %d MiB after %s idle\n",
			m.Start>>20, m.AfterLoad>>20, m.Transforms, m.AfterIdle>>20, m.Idle)
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(tw, "note: "+n)
	}
	tw.Flush()
}

// transformLoad sends cfg.Requests requests; request i of round r asks for
// the width at offset i*Rounds+r in a band of widths centred on width. No
// width repeats within a target across rounds (while the band, at most
// width/2 wide, holds Rounds*Requests widths), so no result cache answers;
// every round spreads over the whole band, and within a round every target
// gets the same widths, so mean output sizes compare.
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
	span := max(1, min(Rounds*cfg.Requests, width/2))
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
				resp, err := client.Get(url(max(1, width+(i*Rounds+round)%span-span/2)))
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
