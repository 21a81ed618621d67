package bench

// The fleet simulation's plot: a hand-written SVG of two grouped bar charts,
// load imbalance (max/mean requests per edge per window, with the worst
// window as a tick) and origin fetches over the pooled cache's, one group per
// skew, one bar per setup, with the goals as dashed lines. No plotting
// library: a few rectangles do, and the file diffs well.

import (
	"fmt"
	"html"
	"math"
	"os"
	"strings"
)

var fleetColors = map[string]string{
	FleetNone: "#9e9e9e", FleetRendezvous: "#1f77b4", FleetBounded: "#2ca02c", FleetRing: "#ff7f0e", FleetPooled: "#7f3fbf",
}

// fleetPanel draws one bar chart at (x0, y0) of size w x h.
type fleetPanel struct {
	title  string
	x0, y0 float64
	w, h   float64
	setups []string
	value  func(FleetsimResult) float64
	tick   func(FleetsimResult) float64 // optional marker above the bar
	goal   float64
	goalLb string
}

func (p fleetPanel) draw(b *strings.Builder, rep FleetsimReport) {
	skews := rep.Config.Skews
	top := p.goal
	for _, r := range rep.Results {
		for _, f := range []func(FleetsimResult) float64{p.value, p.tick} {
			if f != nil {
				if v := f(r); !math.IsNaN(v) {
					top = max(top, v)
				}
			}
		}
	}
	top = niceCeil(top * 1.05)
	y := func(v float64) float64 { return p.y0 + p.h - v/top*p.h }
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="13" font-weight="bold">%s</text>`+"\n", p.x0, p.y0-12, html.EscapeString(p.title))
	// Axis and grid.
	for i := 0; i <= 5; i++ {
		v := top * float64(i) / 5
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e0e0e0"/>`+"\n", p.x0, y(v), p.x0+p.w, y(v))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="end">%.2f</text>`+"\n", p.x0-4, y(v)+4, v)
	}
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", p.x0, p.y0+p.h, p.x0+p.w, p.y0+p.h)
	group := p.w / float64(len(skews))
	bar := group * 0.8 / float64(len(p.setups))
	for gi, s := range skews {
		gx := p.x0 + float64(gi)*group + group*0.1
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="12" text-anchor="middle">s = %.2f</text>`+"\n", gx+group*0.4, p.y0+p.h+16, s)
		for si, setup := range p.setups {
			r, ok := rep.Result(s, setup)
			if !ok {
				continue
			}
			v := p.value(r)
			if math.IsNaN(v) {
				continue
			}
			x := gx + float64(si)*bar
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s s=%.2f: %.3f</title></rect>`+"\n",
				x, y(v), bar*0.9, p.y0+p.h-y(v), fleetColors[setup], setup, s, v)
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="8" text-anchor="middle">%.2f</text>`+"\n", x+bar*0.45, y(v)-3, v)
			if p.tick != nil {
				if t := p.tick(r); !math.IsNaN(t) && t > v {
					fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black" stroke-width="2"/>`+"\n", x, y(t), x+bar*0.9, y(t))
				}
			}
		}
	}
	if p.goal > 0 {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="red" stroke-dasharray="6,4"/>`+"\n", p.x0, y(p.goal), p.x0+p.w, y(p.goal))
		// The label sits right of the panel, clear of the bars.
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="11" fill="red">%s</text>`+"\n", p.x0+p.w+4, y(p.goal)+4, html.EscapeString(p.goalLb))
	}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

// writeFleetsimPlot writes the SVG to path.
func writeFleetsimPlot(path string, rep FleetsimReport) error {
	const w, h = 1060.0, 440.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	c := rep.Config
	fmt.Fprintf(&b, `<text x="20" y="22" font-size="13">fleetsim: %d edges, %d keys, %d requests per skew, fleet cache %.0f%% of the working set, c = %.2f</text>`+"\n",
		c.Edges, c.Keys, c.Requests, 100*c.CacheFraction, c.LoadFactor)
	routed := []string{FleetNone, FleetRendezvous, FleetBounded, FleetRing}
	fleetPanel{
		title: "edge load, max/mean per window (tick: worst window)",
		x0:    60, y0: 70, w: 400, h: 300, setups: routed,
		value: func(r FleetsimResult) float64 { return r.LoadAvg },
		tick:  func(r FleetsimResult) float64 { return r.LoadWorst },
		goal:  c.LoadFactor, goalLb: fmt.Sprintf("goal <= %.2f", c.LoadFactor),
	}.draw(&b, rep)
	fleetPanel{
		title: "origin fetches / pooled cache's",
		x0:    560, y0: 70, w: 400, h: 300, setups: fleetSetups,
		value: func(r FleetsimResult) float64 { return r.VsPooled },
		goal:  1.05, goalLb: "goal <= 1.05",
	}.draw(&b, rep)
	// Legend.
	for i, s := range fleetSetups {
		x := 60 + float64(i)*150
		fmt.Fprintf(&b, `<rect x="%.0f" y="410" width="12" height="12" fill="%s"/><text x="%.0f" y="420" font-size="12">%s</text>`+"\n",
			x, fleetColors[s], x+16, s)
	}
	b.WriteString("</svg>\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write fleetsim plot: %w", err)
	}
	return nil
}
