package bench

import (
	"context"
	"fmt"
	"slices"
)

// Rounds is how many times a comparison runs each target. Three, in
// rotating order (ours then the reference, the reference then ours, ours
// then the reference), so that neither always runs first on a cold page
// cache or last on a warm machine, and the spread of the per-round ratios
// says how much the machine moved under the run.
const Rounds = 3

// rotate runs rounds x targets: round r starts at target r mod n.
func rotate(ctx context.Context, rounds, targets int, run func(round, target int) error) error {
	for r := range rounds {
		for k := range targets {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := run(r, (r+k)%targets); err != nil {
				return err
			}
		}
	}
	return nil
}

// Spread is the minimum, median and maximum of per-round ratios.
type Spread struct{ Min, Median, Max float64 }

// ratios divides ours by ref round by round.
func ratios(ours, ref []float64) Spread {
	var xs []float64
	for i := range min(len(ours), len(ref)) {
		if ref[i] > 0 {
			xs = append(xs, ours[i]/ref[i])
		}
	}
	if len(xs) == 0 {
		return Spread{}
	}
	slices.Sort(xs)
	return Spread{Min: xs[0], Median: xs[len(xs)/2], Max: xs[len(xs)-1]}
}

func (s Spread) String() string {
	return fmt.Sprintf("%.2f / %.2f / %.2f", s.Min, s.Median, s.Max)
}

// median is the middle value of v (the mean of the two middle ones for an
// even count), 0 for none; v is not reordered.
func median[T ~int64 | ~float64](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
