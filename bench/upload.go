package bench

// Upload benchmark: concurrent tus uploads into mediaedge (embedded store)
// against tusd with its file store, same client, same machine, same run, and
// against the digest sink (digestsink.go), the hashing ceiling. Then
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
	"golang.org/x/sys/unix"
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
	SHA256MBps float64
	// SinkMBps is the digest sink's best round: a server that hashes every
	// byte and does nothing else. SinkRatios is sink / tusd round by round:
	// below 1, hashing alone keeps any server on this core below tusd.
	// OursToSink is ours / sink: how much of the hashing ceiling we reach.
	SinkMBps               float64
	SinkRatios, OursToSink Spread
	SinkCPU                time.Duration // the sink's CPU per MiB, median round
	// TusdDurableMBps is tusd's best round counting the time its bytes then
	// took to reach the disk (syncfs after the round).
	TusdDurableMBps   float64
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

	// Each round starts each server afresh on an empty folder. Targets:
	// 0 mediaedge, 1 tusd, 2 the digest sink (digestsink.go).
	const nTargets = 3
	names := [nTargets]string{"mediaedge", "tusd", "digest sink"}
	folders := [nTargets]string{"me", "tusd", "sink"}
	mbps := make([][]float64, nTargets)
	cpus := make([][]time.Duration, nTargets)
	busies := make([][]float64, nTargets)
	best := make([]float64, nTargets)
	busy := func(cpu, wall time.Duration) float64 { return cpu.Seconds() / wall.Seconds() }
	perMiB := func(cpu time.Duration) time.Duration {
		return cpu * time.Duration(mib) / time.Duration(int64(cfg.Uploads)*cfg.Size)
	}
	err = rotate(ctx, Rounds, nTargets, func(round, target int) error {
		var (
			p     *process
			token string
			err   error
		)
		folder := filepath.Join(dir, folders[target]+strconv.Itoa(round))
		switch target {
		case 0:
			p, err = startMediaedge(ctx, cfg.Mediaedge, folder, benchToken)
			token = benchToken
		case 1:
			if err = os.MkdirAll(folder, 0o755); err == nil {
				p, err = startProcess(ctx, "tusd", cfg.Tusd, []string{"-host", "127.0.0.1", "-port", "PORT", "-upload-dir", folder,
					"-base-path", "/files/", "-disable-download", "-verbose=false"}, "/files/")
			}
		default:
			p, err = startProcess(ctx, "digest sink", cfg.Mediaedge, []string{"bench-digest-sink", "--listen", "127.0.0.1:PORT"}, "/")
		}
		if err != nil {
			return err
		}
		rate, used, elapsed, err := measureRound(ctx, p.Base+"/files/", token, p.cmd.Process.Pid, cfg, dir)
		if err == nil && target == 1 {
			// tusd's answers promise nothing on disk. The time its bytes then
			// take to get there (syncfs of its folder's file system, after the
			// round) gives its rate with its bytes as durable as ours:
			// printed beside, not used in the ratio.
			var flush time.Duration
			if flush, err = syncfsTime(folder); err == nil {
				rep.TusdDurableMBps = max(rep.TusdDurableMBps, float64(int64(cfg.Uploads)*cfg.Size)/mib/(elapsed+flush).Seconds())
			}
		}
		if err == nil {
			mbps[target] = append(mbps[target], rate)
			cpus[target] = append(cpus[target], perMiB(used))
			busies[target] = append(busies[target], busy(used, elapsed))
			best[target] = max(best[target], rate)
		}
		p.Stop()
		if rerr := os.RemoveAll(folder); err == nil {
			err = rerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", names[target], err)
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.OursMBps, rep.TusdMBps, rep.SinkMBps = best[0], best[1], best[2]
	rep.Ratios = ratios(mbps[0], mbps[1])
	rep.SinkRatios = ratios(mbps[2], mbps[1])
	rep.OursToSink = ratios(mbps[0], mbps[2])
	rep.OursCPU, rep.TusdCPU, rep.SinkCPU = median(cpus[0]), median(cpus[1]), median(cpus[2])
	rep.OursBusy, rep.TusdBusy = median(busies[0]), median(busies[1])
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
	fmt.Fprintf(tw, "upload: %d concurrent tus uploads of %d MiB, %d MiB PATCHes (%d rounds in rotating order after a warm-up, best of each shown)\n", cfg.Uploads, cfg.Size>>20, cfg.Patch>>20, Rounds)
	fmt.Fprintln(tw, "target\tMB/s")
	fmt.Fprintf(tw, "mediaedge (embedded store)\t%.1f\n", rep.OursMBps)
	fmt.Fprintf(tw, "tusd (file store)\t%.1f\n", rep.TusdMBps)
	fmt.Fprintf(tw, "tusd, counting the syncfs that makes its bytes durable\t%.1f (mediaedge / this, best rounds: %.2f)\n", rep.TusdDurableMBps, rep.OursMBps/max(rep.TusdDurableMBps, 1e-9))
	fmt.Fprintf(tw, "digest sink (SHA-256 only, stores nothing)\t%.1f\n", rep.SinkMBps)
	fmt.Fprintf(tw, "ratio per round (min / median / max)\t%s\n", rep.Ratios)
	fmt.Fprintf(tw, "digest sink / tusd per round\t%s (below 1: no server that hashes on this core reaches tusd)\n", rep.SinkRatios)
	fmt.Fprintf(tw, "mediaedge / digest sink per round\t%s\n", rep.OursToSink)
	fmt.Fprintf(tw, "server CPU per MiB received (median round)\tmediaedge %s, tusd %s, digest sink %s\n",
		rep.OursCPU.Round(time.Microsecond), rep.TusdCPU.Round(time.Microsecond), rep.SinkCPU.Round(time.Microsecond))
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
	// One kept-alive connection per upload: net/http keeps 2 idle per host
	// by default, so with more uploads than that, PATCHes whose answers
	// arrive together close the extra connections and the next PATCHes open
	// new ones (a handshake and a fresh window each), which a real client
	// (one connection per upload) does not pay.
	client := &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Uploads}}
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

// measureRound runs an unmeasured warm-up against endpoint, then one
// measured round: its MB/s, the server's (pid) CPU time and the wall time.
// The warm-up is the same for every target: a server's first uploads also pay
// its start-up (files created, buffers and worker threads made, the heap
// grown), which a round under a second long would otherwise count as upload
// speed. Between the two, whatever is dirty in the page cache (the warm-up's
// bytes, earlier rounds') is written out, so that no round pays for
// another's writeback.
func measureRound(ctx context.Context, endpoint, token string, pid int, cfg UploadConfig, dir string) (float64, time.Duration, time.Duration, error) {
	warm := cfg
	warm.Size = min(cfg.Size, cfg.Patch)
	if _, err := tusLoad(ctx, endpoint, token, warm); err != nil {
		return 0, 0, 0, fmt.Errorf("warm-up: %w", err)
	}
	if _, err := syncfsTime(dir); err != nil {
		return 0, 0, 0, err
	}
	cpu := pidCPU(pid)
	cpu0, t0 := cpu(), time.Now()
	rate, err := tusLoad(ctx, endpoint, token, cfg)
	return rate, cpu() - cpu0, time.Since(t0), err
}

// syncfsTime is how long syncfs(2) takes on the file system holding dir:
// the writeback of whatever it still holds in the page cache.
func syncfsTime(dir string) (time.Duration, error) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	start := time.Now()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return 0, fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return time.Since(start), nil
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
