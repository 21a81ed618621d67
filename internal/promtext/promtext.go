// Package promtext reads numbers out of a /metrics page (Prometheus' text
// exposition format) for tests and benchmarks.
//
// Why not expfmt's parser: the callers ask for sample lines by their printed
// name and leading labels, histogram _count lines included, which expfmt
// folds into families; the format is one sample a line, and reading it by
// line is what these callers need.
package promtext

import (
	"strconv"
	"strings"
)

// Sum adds every sample of name on the page. name may carry leading labels:
// `x{a="b"}` matches `x{a="b"}` and `x{a="b",c="d"}`, and `x` matches every
// series of x but not `x_total` or other metrics whose name starts the same.
// Comments and unparsable values are skipped.
func Sum(page, name string) float64 {
	prefix := strings.TrimSuffix(name, "}")
	var s float64
	for _, l := range strings.Split(page, "\n") {
		if strings.HasPrefix(l, "#") || !strings.HasPrefix(l, prefix) {
			continue
		}
		if rest := l[len(prefix):]; rest == "" || !strings.ContainsAny(rest[:1], " {,}") {
			continue
		}
		if v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64); err == nil {
			s += v
		}
	}
	return s
}
