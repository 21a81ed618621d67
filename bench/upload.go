package bench

// Upload benchmark: concurrent tus uploads into mediaedge (embedded store)
// against tusd with its file store, same client, same machine, same run. Then
// the server's peak RSS while one large file is uploaded and downloaded, which
// must not grow with the file.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"
)

// UploadConfig configures the upload benchmark.
type UploadConfig struct {
	Mediaedge string // the mediaedge binary
	Tusd      string // the tusd binary (reference)
	Uploads   int    // concurrent uploads
	Size      int64  // bytes per upload
	Patch     int64  // bytes per PATCH
	RSSSize   int64  // the large upload+download whose peak RSS is reported; 0 skips
	Dir       string // "" = a temp folder
}

// DefaultUploadConfig is the benchmark: 8 x 64 MiB, 8 MiB PATCHes.
func DefaultUploadConfig() UploadConfig {
	return UploadConfig{Uploads: 8, Size: 64 << 20, Patch: 8 << 20, RSSSize: 2 << 30}
}

// UploadReport is the result.
type UploadReport struct {
	OursMBps, TusdMBps float64 // each target's best round
	Ratios             Spread  // ours / tusd, round by round
	// OursCPU and TusdCPU are the server's CPU time per MiB received, median
	// round: on a pinned core, MB/s is bounded by it.
	OursCPU, TusdCPU time.Duration
	// OursBusy and TusdBusy are the server's CPU time over the round's wall
	// time, median round: pinned, below 1 the core waited (on the device,
	// on the client) while bytes were still to come.
	OursBusy, TusdBusy float64
	// SHA256MBps is SHA-256 over memory on one core of this machine: the
	// files row's digest is computed as the bytes arrive, so 1/SHA256MBps is
	// a floor under OursCPU that tusd, which hashes nothing, does not pay.
	SHA256MBps        float64
	RSSUpload, RSSAll int64 // server VmHWM after the large upload, and after its download
	RSSBase           int64
}

const benchToken = "bench-token-0123456789abcdef"

// Upload runs the benchmark.
func Upload(ctx context.Context, cfg UploadConfig, out io.Writer) (UploadReport, error) {
	var rep UploadReport
	if cfg.Mediaedge == "" || cfg.Tusd == "" {
		return rep, errors.New("upload benchmark: the mediaedge and tusd binaries are required (TUSD_BIN; scripts/bench.sh installs tusd)")
	}
	dir, cleanup, err := benchDir(cfg.Dir)
	if err != nil {
		return rep, err
	}
	defer cleanup()

	// Each round starts each server afresh on an empty folder.
	var ours, ref []float64
	var oursCPU, refCPU []time.Duration
	var oursBusy, refBusy []float64
	busy := func(cpu, wall time.Duration) float64 { return cpu.Seconds() / wall.Seconds() }
	perMiB := func(cpu time.Duration) time.Duration {
		return cpu * time.Duration(mib) / time.Duration(int64(cfg.Uploads)*cfg.Size)
	}
	err = rotate(ctx, Rounds, 2, func(round, target int) error {
		if target == 0 {
			me, err := startMediaedge(ctx, cfg.Mediaedge, filepath.Join(dir, "me"+strconv.Itoa(round)), benchToken)
			if err != nil {
				return err
			}
			cpu := pidCPU(me.cmd.Process.Pid)
			cpu0, t0 := cpu(), time.Now()
			mbps, err := tusLoad(ctx, me.Base+"/files/", benchToken, cfg)
			used := cpu() - cpu0
			oursCPU, oursBusy = append(oursCPU, perMiB(used)), append(oursBusy, busy(used, time.Since(t0)))
			me.Stop()
			if err != nil {
				return fmt.Errorf("mediaedge: %w", err)
			}
			_ = os.RemoveAll(filepath.Join(dir, "me"+strconv.Itoa(round)))
			ours = append(ours, mbps)
			rep.OursMBps = max(rep.OursMBps, mbps)
			return nil
		}
		up := filepath.Join(dir, "tusd"+strconv.Itoa(round))
		if err := os.MkdirAll(up, 0o755); err != nil {
			return err
		}
		td, err := startProcess(ctx, "tusd", cfg.Tusd, []string{"-host", "127.0.0.1", "-port", "PORT", "-upload-dir", up,
			"-base-path", "/files/", "-disable-download", "-verbose=false"}, "/files/")
		if err != nil {
			return err
		}
		cpu := pidCPU(td.cmd.Process.Pid)
		cpu0, t0 := cpu(), time.Now()
		mbps, err := tusLoad(ctx, td.Base+"/files/", "", cfg)
		used := cpu() - cpu0
		refCPU, refBusy = append(refCPU, perMiB(used)), append(refBusy, busy(used, time.Since(t0)))
		td.Stop()
		if err != nil {
			return fmt.Errorf("tusd: %w", err)
		}
		_ = os.RemoveAll(up)
		ref = append(ref, mbps)
		rep.TusdMBps = max(rep.TusdMBps, mbps)
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.Ratios = ratios(ours, ref)
	rep.OursCPU, rep.TusdCPU = median(oursCPU), median(refCPU)
	rep.OursBusy, rep.TusdBusy = median(oursBusy), median(refBusy)
	rep.SHA256MBps = sha256Speed()

	if cfg.RSSSize > 0 {
		me, err := startMediaedge(ctx, cfg.Mediaedge, filepath.Join(dir, "rss"), benchToken, "--max-upload-size", "8GiB", "--cache-max-original", "0")
		if err != nil {
			return rep, err
		}
		defer me.Stop()
		rep.RSSBase = me.PeakRSS()
		big := cfg
		big.Uploads, big.Size = 1, cfg.RSSSize
		ids, err := tusUploads(ctx, me.Base+"/files/", benchToken, big)
		if err != nil {
			return rep, fmt.Errorf("large upload: %w", err)
		}
		rep.RSSUpload = me.PeakRSS()
		resp, err := http.Get(me.Base + "/m/" + ids[0])
		if err != nil {
			return rep, err
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != cfg.RSSSize {
			return rep, fmt.Errorf("large download: %d bytes, %v", n, err)
		}
		rep.RSSAll = me.PeakRSS()
	}

	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "upload: %d concurrent tus uploads of %d MiB, %d MiB PATCHes (%d rounds in rotating order, best of each shown)\n", cfg.Uploads, cfg.Size>>20, cfg.Patch>>20, Rounds)
	fmt.Fprintln(tw, "target\tMB/s")
	fmt.Fprintf(tw, "mediaedge (embedded store)\t%.1f\n", rep.OursMBps)
	fmt.Fprintf(tw, "tusd (file store)\t%.1f\n", rep.TusdMBps)
	fmt.Fprintf(tw, "ratio per round (min / median / max)\t%s\n", rep.Ratios)
	fmt.Fprintf(tw, "server CPU per MiB received (median round)\tmediaedge %s, tusd %s\n",
		rep.OursCPU.Round(time.Microsecond), rep.TusdCPU.Round(time.Microsecond))
	fmt.Fprintf(tw, "server CPU over wall time (median round)	mediaedge %.2f, tusd %.2f\n", rep.OursBusy, rep.TusdBusy)
	fmt.Fprintf(tw, "SHA-256 on one core\t%.0f MB/s: %s per MiB of the above is the files row's digest, which tusd does not compute\n",
		rep.SHA256MBps, time.Duration(float64(time.Second)/rep.SHA256MBps).Round(time.Microsecond))
	if cfg.RSSSize > 0 {
		fmt.Fprintf(tw, "server peak RSS: at start %d MiB, after a %d MiB upload %d MiB, after its download %d MiB\n",
			rep.RSSBase>>20, cfg.RSSSize>>20, rep.RSSUpload>>20, rep.RSSAll>>20)
	}
	tw.Flush()
	return rep, nil
}

func benchDir(dir string) (string, func(), error) {
	if dir != "" {
		return dir, func() {}, os.MkdirAll(dir, 0o755)
	}
	d, err := os.MkdirTemp("", "mediaedge-bench-")
	if err != nil {
		return "", nil, err
	}
	return d, func() { os.RemoveAll(d) }, nil
}

// tusLoad runs cfg.Uploads concurrent uploads and returns MB/s over all.
func tusLoad(ctx context.Context, endpoint, token string, cfg UploadConfig) (float64, error) {
	start := time.Now()
	if _, err := tusUploads(ctx, endpoint, token, cfg); err != nil {
		return 0, err
	}
	return float64(int64(cfg.Uploads)*cfg.Size) / mib / time.Since(start).Seconds(), nil
}

// tusUploads is the minimal tus client both targets get: POST, then PATCHes.
func tusUploads(ctx context.Context, endpoint, token string, cfg UploadConfig) ([]string, error) {
	client := &http.Client{Timeout: 10 * time.Minute}
	ids := make([]string, cfg.Uploads)
	g, ctx := errgroup.WithContext(ctx)
	for i := 0; i < cfg.Uploads; i++ {
		g.Go(func() error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, nil)
			req.Header.Set("Tus-Resumable", "1.0.0")
			req.Header.Set("Upload-Length", strconv.FormatInt(cfg.Size, 10))
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				return fmt.Errorf("create: %s", resp.Status)
			}
			loc, err := resp.Location()
			if err != nil {
				return err
			}
			src := newGen(cfg.Size)
			for off := int64(0); off < cfg.Size; off += cfg.Patch {
				n := min(cfg.Patch, cfg.Size-off)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, loc.String(), io.LimitReader(src, n))
				req.ContentLength = n
				req.Header.Set("Tus-Resumable", "1.0.0")
				req.Header.Set("Content-Type", "application/offset+octet-stream")
				req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					return fmt.Errorf("patch at %d: %s", off, resp.Status)
				}
				if id := resp.Header.Get("X-Media-Id"); id != "" {
					ids[i] = id
				}
			}
			return nil
		})
	}
	return ids, g.Wait()
}

// sha256Speed hashes 64 MiB in memory, best of three, in MiB/s.
func sha256Speed() float64 {
	buf := make([]byte, 64<<20)
	best := 0.0
	for range 3 {
		start := time.Now()
		sha256.Sum256(buf)
		best = max(best, float64(len(buf))/mib/time.Since(start).Seconds())
	}
	return best
}
