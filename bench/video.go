package bench

// Video benchmark: MP4 against GIF bytes for a set of animated GIFs (the
// reason to serve MP4) with conversion time, and the latency of the first HLS
// playlist plus first segment for a 1080p phone-like video, cold (packaged on
// that request) and warm.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"
)

// VideoConfig configures the video benchmark.
type VideoConfig struct {
	Mediaedge string
	Dir       string
}

// VideoReport is the result.
type VideoReport struct {
	GIFs []struct {
		Name          string
		GIFBytes      int64
		MP4Bytes      int64
		Ratio         float64
		ConvertMillis int64
	}
	MedianRatio      float64
	HLSCold, HLSWarm time.Duration
}

var gifSources = []struct{ name, filter string }{
	{"testsrc 320x240 3s", "testsrc=size=320x240:rate=15:duration=3"},
	{"mandelbrot 480x270 4s", "mandelbrot=size=480x270:rate=15,trim=duration=4"},
	{"life 400x300 5s", "life=size=400x300:rate=10:mold=10:ratio=0.5,trim=duration=5"},
	{"smptebars+noise 500x280 3s", "smptebars=size=500x280:rate=12:duration=3,noise=alls=20:allf=t"},
	{"cellauto 320x320 4s", "cellauto=size=320x320:rate=12,trim=duration=4"},
}

// Video runs the benchmark.
func Video(ctx context.Context, cfg VideoConfig, out io.Writer) (VideoReport, error) {
	var rep VideoReport
	dir, cleanup, err := benchDir(cfg.Dir)
	if err != nil {
		return rep, err
	}
	defer cleanup()
	me, err := startMediaedge(ctx, cfg.Mediaedge, filepath.Join(dir, "me"), benchToken)
	if err != nil {
		return rep, err
	}
	defer me.Stop()
	var ratios []float64
	for i, g := range gifSources {
		p := filepath.Join(dir, fmt.Sprintf("g%d.gif", i))
		// palettegen/paletteuse: the way real GIFs are made, so sizes are fair.
		vf := g.filter + ",split[a][b];[a]palettegen[p];[b][p]paletteuse"
		if out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", vf, p).CombinedOutput(); err != nil {
			return rep, fmt.Errorf("make %s: %v %s", g.name, err, out)
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return rep, err
		}
		id, err := benchUpload(ctx, me.Base, raw)
		if err != nil {
			return rep, err
		}
		t0 := time.Now()
		n, err := fetch(ctx, me.Base+"/m/"+id+".mp4")
		if err != nil {
			return rep, fmt.Errorf("%s: %w", g.name, err)
		}
		el := time.Since(t0)
		r := float64(len(raw)) / float64(n)
		ratios = append(ratios, r)
		rep.GIFs = append(rep.GIFs, struct {
			Name          string
			GIFBytes      int64
			MP4Bytes      int64
			Ratio         float64
			ConvertMillis int64
		}{g.name, int64(len(raw)), n, r, el.Milliseconds()})
	}
	slices.Sort(ratios)
	rep.MedianRatio = ratios[len(ratios)/2]

	clip := filepath.Join(dir, "phone.mp4")
	if out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30:duration=30",
		"-f", "lavfi", "-i", "sine=duration=30", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "6M", "-pix_fmt", "yuv420p",
		"-g", "60", "-c:a", "aac", "-shortest", clip).CombinedOutput(); err != nil {
		return rep, fmt.Errorf("make 1080p clip: %v %s", err, out)
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
		if _, err := fetch(ctx, me.Base+"/m/"+id+"/hls/index.m3u8"); err != nil {
			return 0, err
		}
		if _, err := fetch(ctx, me.Base+"/m/"+id+"/hls/seg_00000.m4s"); err != nil {
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
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "video: animated GIF to MP4")
	fmt.Fprintln(tw, "gif\tgif bytes\tmp4 bytes\tgif/mp4\tconvert ms")
	for _, g := range rep.GIFs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1fx\t%d\n", g.Name, g.GIFBytes, g.MP4Bytes, g.Ratio, g.ConvertMillis)
	}
	fmt.Fprintf(tw, "median: MP4 %.1fx smaller than GIF\n", rep.MedianRatio)
	fmt.Fprintf(tw, "HLS, 30 s 1080p H.264/AAC: first playlist + first segment cold (packaged now) %s, warm %s\n",
		rep.HLSCold.Round(time.Millisecond), rep.HLSWarm.Round(time.Millisecond))
	tw.Flush()
	return rep, nil
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

func fetch(ctx context.Context, url string) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return n, err
}
