// Package deploy_test keeps deploy/ honest: the Grafana dashboard and the
// Prometheus alert rules may only name series a running `mediaedge serve`
// exports (with the labels it puts on them), and promtool accepts the rules
// and their unit tests. A renamed metric fails here, not on an operator's
// empty panel.
package deploy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mediaedge/mediaedge/internal/freeport"
	"github.com/mediaedge/mediaedge/internal/testenv"
)

const (
	dashboardFile = "grafana/mediaedge.json"
	alertsFile    = "prometheus/alerts.yml"
	alertTests    = "prometheus/alerts_test.yml"
)

// TestAlertRulesPromtool: promtool accepts the rules and their unit tests
// pass (each alert fires on the series that mean trouble).
func TestAlertRulesPromtool(t *testing.T) {
	promtool := testenv.Tool(t, "promtool")
	for _, args := range [][]string{{"check", "rules", alertsFile}, {"test", "rules", alertTests}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestInstallScriptNamesPromtool: the test above finds promtool where
// scripts/install-deps.sh test installs it, so `install-deps.sh check
// test` (which make test runs first) names it when it is missing.
func TestInstallScriptNamesPromtool(t *testing.T) {
	b, err := os.ReadFile("../scripts/install-deps.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\s*"test\s+promtool\s+prometheus\s`).Match(b) {
		t.Fatal(`scripts/install-deps.sh's TOOLS table has no "test promtool prometheus ..." row`)
	}
}

// TestDashboardAndAlertsNameRealMetrics starts `mediaedge serve` (a fleet of
// one, so the fleet series exist), gives it some traffic, and checks every
// metric name and label matcher in the dashboard's and the rules'
// expressions against its /metrics.
func TestDashboardAndAlertsNameRealMetrics(t *testing.T) {
	exprs := dashboardExprs(t)
	if len(exprs) < 20 {
		t.Fatalf("only %d expressions in %s", len(exprs), dashboardFile)
	}
	exprs = append(exprs, alertExprs(t)...)

	base, tok := startServe(t)
	up := upload(t, base, tok, pngBytes(64, 48))
	for _, p := range []string{"/m/" + up, "/m/" + up + "?w=32&fm=webp", "/m/" + up + "?w=32&fm=webp", "/m/nosuchid"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	exported := scrapeTypes(t, base)

	// Prometheus adds these to every scraped series.
	targetLabels := map[string]bool{"instance": true, "job": true}
	var bad []string
	for _, e := range exprs {
		for _, m := range metricRe.FindAllStringSubmatchIndex(e.expr, -1) {
			name := e.expr[m[2]:m[3]]
			base, ok := exported.resolve(name)
			if !ok {
				bad = append(bad, fmt.Sprintf("%s: %s is not exported by mediaedge serve", e.where, name))
				continue
			}
			if m[4] < 0 {
				continue
			}
			for _, lm := range labelMatcherRe.FindAllStringSubmatch(e.expr[m[4]:m[5]], -1) {
				l := lm[1]
				if targetLabels[l] || exported.labels[base][l] || (l == "le" && exported.types[base] == "histogram") {
					continue
				}
				bad = append(bad, fmt.Sprintf("%s: %s has no label %q (it has %v)", e.where, name, l, keys(exported.labels[base])))
			}
		}
	}
	for _, b := range bad {
		t.Error(b)
	}
}

// metricRe finds metric names (the project's own: every series the
// dashboard and rules use is mediaedge_*) with their label matchers.
var (
	metricRe       = regexp.MustCompile(`\b(mediaedge_[a-z0-9_]+)\b(\{[^}]*\})?`)
	labelMatcherRe = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
)

type expr struct{ where, expr string }

// dashboardExprs reads every query of the dashboard: the panels' targets
// (rows' nested panels included) and the template variables. It also checks
// the dashboard is bound to the Prometheus datasource variable.
func dashboardExprs(t *testing.T) []expr {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		Expr string `json:"expr"`
	}
	type datasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	type panel struct {
		Title      string      `json:"title"`
		Type       string      `json:"type"`
		Datasource *datasource `json:"datasource"`
		Targets    []target    `json:"targets"`
		Panels     []panel     `json:"panels"`
	}
	var d struct {
		Title      string  `json:"title"`
		UID        string  `json:"uid"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string          `json:"name"`
				Type       string          `json:"type"`
				Query      json.RawMessage `json:"query"`
				Definition string          `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("%s: no title or uid", dashboardFile)
	}
	hasDS := false
	var out []expr
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			var q string
			hasDS = v.Name == "datasource" && json.Unmarshal(v.Query, &q) == nil && q == "prometheus"
		case "query":
			out = append(out, expr{"variable " + v.Name, v.Definition})
		}
	}
	if !hasDS {
		t.Errorf(`%s: no datasource variable "datasource" of type prometheus`, dashboardFile)
	}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type != "row" {
				if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
					t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
			}
			for _, tg := range p.Targets {
				if !strings.Contains(tg.Expr, "mediaedge_") {
					t.Errorf("panel %q: query %q names no mediaedge metric", p.Title, tg.Expr)
				}
				out = append(out, expr{"panel " + strconv.Quote(p.Title), tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// alertExprs reads every rule's expression.
func alertExprs(t *testing.T) []expr {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert  string `yaml:"alert"`
				Record string `yaml:"record"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	var out []expr
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out = append(out, expr{"rule " + r.Alert + r.Record, r.Expr})
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no rules", alertsFile)
	}
	return out
}

// exposition is what /metrics declares: each family's type and the label
// names its series carry.
type exposition struct {
	types  map[string]string          // family -> counter, gauge, histogram, ...
	labels map[string]map[string]bool // family -> label names seen
}

// resolve maps a series name to its family: itself, or a histogram's
// _bucket/_count/_sum (a summary's _count/_sum).
func (x exposition) resolve(name string) (string, bool) {
	if _, ok := x.types[name]; ok {
		return name, true
	}
	for _, suf := range []string{"_bucket", "_count", "_sum"} {
		base, ok := strings.CutSuffix(name, suf)
		if !ok {
			continue
		}
		switch x.types[base] {
		case "histogram":
			return base, true
		case "summary":
			return base, suf != "_bucket"
		}
	}
	return "", false
}

var seriesRe = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? `)

func scrapeTypes(t *testing.T, base string) exposition {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	x := exposition{types: map[string]string{}, labels: map[string]map[string]bool{}}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			x.types[f[2]] = f[3]
			continue
		}
		m := seriesRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		fam, ok := x.resolve(m[1])
		if !ok {
			continue
		}
		if x.labels[fam] == nil {
			x.labels[fam] = map[string]bool{}
		}
		for _, lm := range regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`).FindAllStringSubmatch(m[2], -1) {
			x.labels[fam][lm[1]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return x
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

var (
	servingRe = regexp.MustCompile(`serving on (http://\S+)`)
	tokenRe   = regexp.MustCompile(`^upload token: (\S+)`)
)

// startServe builds mediaedge and runs `serve` with its defaults in a temp
// folder, as a fleet of one; it returns the base URL and the upload token
// it printed.
func startServe(t *testing.T) (base, token string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "mediaedge")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/mediaedge").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--log-level", "warn", "--fleet-bind", freeGossipAddr(t))
	cmd.Dir = dir
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "MEDIAEDGE_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	timeout := time.After(60 * time.Second)
	for base == "" || token == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				<-exited
				t.Fatalf("serve exited before it was ready: %s", stderr.String())
			}
			if m := servingRe.FindStringSubmatch(l); m != nil {
				base = m[1]
			}
			if m := tokenRe.FindStringSubmatch(l); m != nil {
				token = m[1]
			}
		case <-timeout:
			t.Fatalf("serve printed no address and token")
		}
	}
	go func() {
		for range lines {
		}
	}()
	return base, token
}

// freeGossipAddr is a loopback port free for both TCP and UDP.
func freeGossipAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Gossip()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func upload(t *testing.T, base, token string, body []byte) string {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/upload", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var up struct{ ID string }
	if resp.StatusCode != 201 || json.Unmarshal(b, &up) != nil || up.ID == "" {
		t.Fatalf("upload: %d %s", resp.StatusCode, b)
	}
	return up.ID
}

func pngBytes(w, h int) []byte {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}
