package bench

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrk drives the hot-hit comparisons when it is installed (make bench
// installs it). A Go client pinned to one CPU tops out near 16k small
// responses a second on this machine, below what nginx serves on the
// other, so it measured the client; wrk (one thread, epoll, no per-request
// allocation) does not, and it is what the reference figures used.

// wrkPath is the wrk binary, or "" when it is not installed.
func wrkPath() string {
	p, _ := exec.LookPath("wrk")
	return p
}

// wrkLoad GETs url with conc keep-alive connections from one wrk thread for
// dur, and reads wrk's summary.
func wrkLoad(ctx context.Context, name, url string, conc int, dur time.Duration) (LoadResult, error) {
	res := LoadResult{Target: name}
	secs := max(int(dur.Seconds()), 1)
	cmd := exec.CommandContext(ctx, wrkPath(), "-t1", "-c"+strconv.Itoa(conc), "-d"+strconv.Itoa(secs)+"s", "--latency", url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return res, fmt.Errorf("wrk: %v: %s", err, out)
	}
	return parseWrk(name, string(out))
}

// parseWrk reads requests, errors, req/s and the 50th and 99th latency
// percentiles from wrk --latency output.
func parseWrk(name, out string) (LoadResult, error) {
	res := LoadResult{Target: name}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "50%":
			res.P50 = wrkDuration(f[1])
		case len(f) == 2 && f[0] == "99%":
			res.P99 = wrkDuration(f[1])
		case len(f) >= 5 && f[1] == "requests" && f[2] == "in":
			res.Requests, _ = strconv.Atoi(f[0])
			res.Elapsed = wrkDuration(strings.TrimSuffix(f[3], ","))
		case len(f) == 2 && f[0] == "Requests/sec:":
			res.ReqPerSec, _ = strconv.ParseFloat(f[1], 64)
		case len(f) >= 5 && f[0] == "Non-2xx":
			n, _ := strconv.Atoi(f[len(f)-1])
			res.Errors += n
		case len(f) >= 2 && f[0] == "Socket" && f[1] == "errors:":
			for i := 3; i < len(f); i += 2 { // connect N, read N, write N, timeout N
				n, _ := strconv.Atoi(strings.TrimSuffix(f[i], ","))
				res.Errors += n
			}
		}
	}
	if res.ReqPerSec == 0 || res.Requests == 0 {
		return res, fmt.Errorf("wrk: no summary in its output: %q", out)
	}
	return res, nil
}

// wrkDuration reads wrk's "313.00us", "1.20ms", "10.00s", "1.50m".
func wrkDuration(s string) time.Duration {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0
			}
			return time.Duration(f * float64(u.unit))
		}
	}
	return 0
}
