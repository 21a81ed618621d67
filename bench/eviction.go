package bench

// Eviction policy benchmark: the hit ratio of the edge cache's eviction policies
// (edgecache.Evictor: LRU on golang-lru/v2, and S3-FIFO) replayed over one
// synthetic Zipf trace, with the cache holding a fraction of the working set's
// bytes. It decides edgecache's default policy.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"text/tabwriter"

	"github.com/cespare/xxhash/v2"

	"github.com/mediaedge/mediaedge/edgecache"
)

// EvictionConfig describes the trace.
type EvictionConfig struct {
	// Keys is the working set (distinct keys).
	Keys int
	// Requests is the trace length; the first WarmupFraction of it fills the cache
	// and is not counted.
	Requests       int
	WarmupFraction float64
	// Skew is the Zipf exponent s (popularity of rank r is proportional to 1/r^s).
	// CDN traces sit around 0.6 to 1.0; 0.9 is the choice.
	Skew float64
	// CacheFractions are the cache sizes to try, as fractions of the working set's bytes.
	CacheFractions []float64
	// MinSize and MaxSize bound entry sizes (log-uniform per key, as thumbnails to
	// large renditions), so byte budgets matter.
	MinSize, MaxSize int64
	// Policies to compare.
	Policies []edgecache.Policy
	// Seed makes the trace reproducible.
	Seed uint64
}

// DefaultEvictionConfig is the benchmark: Zipf(0.9), cache at 10% (and 1%)
// of the working set.
func DefaultEvictionConfig() EvictionConfig {
	return EvictionConfig{
		Keys: 100_000, Requests: 2_000_000, WarmupFraction: 0.2, Skew: 0.9,
		CacheFractions: []float64{0.10, 0.01},
		MinSize:        4 << 10, MaxSize: 512 << 10,
		Policies: []edgecache.Policy{edgecache.PolicyLRU, edgecache.PolicyS3FIFO},
		Seed:     42,
	}
}

// Validate reports every problem at once.
func (c EvictionConfig) Validate() error {
	var errs []error
	if c.Keys < 1 {
		errs = append(errs, errors.New("keys must be positive"))
	}
	if c.Requests < 1 {
		errs = append(errs, errors.New("requests must be positive"))
	}
	if c.WarmupFraction < 0 || c.WarmupFraction >= 1 {
		errs = append(errs, errors.New("warmup fraction must be in [0,1)"))
	}
	if c.Skew <= 0 {
		errs = append(errs, errors.New("skew must be positive"))
	}
	if len(c.CacheFractions) == 0 {
		errs = append(errs, errors.New("no cache fractions"))
	}
	for _, f := range c.CacheFractions {
		if f <= 0 || f > 1 {
			errs = append(errs, fmt.Errorf("cache fraction %v must be in (0,1]", f))
		}
	}
	if c.MinSize < 1 || c.MaxSize < c.MinSize {
		errs = append(errs, errors.New("sizes: want 1 <= min <= max"))
	}
	if len(c.Policies) == 0 {
		errs = append(errs, errors.New("no policies"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("eviction benchmark config: %w", err)
	}
	return nil
}

// EvictionResult is one policy at one cache size.
type EvictionResult struct {
	Policy        edgecache.Policy
	CacheFraction float64
	Budget        int64
	HitRatio      float64 // hits / requests (after warm-up)
	ByteHitRatio  float64 // bytes served from cache / bytes requested
}

// EvictionReport is the whole comparison.
type EvictionReport struct {
	Config  EvictionConfig
	Results []EvictionResult
	// Best is the policy with the highest hit ratio at the first cache fraction.
	Best edgecache.Policy
}

// zipf samples ranks 0..n-1 with P(r) proportional to 1/(r+1)^s. Hand-written
// because math/rand's Zipf requires s > 1 and CDN skews are below 1: an inverse
// CDF table and a binary search, exact for any s.
type zipf struct {
	cdf []float64
	r   *rand.Rand
}

func newZipf(n int, s float64, r *rand.Rand) *zipf {
	cdf := make([]float64, n)
	sum := 0.0
	for i := range cdf {
		sum += 1 / math.Pow(float64(i+1), s)
		cdf[i] = sum
	}
	for i := range cdf {
		cdf[i] /= sum
	}
	return &zipf{cdf: cdf, r: r}
}

func (z *zipf) next() int {
	return sort.SearchFloat64s(z.cdf, z.r.Float64())
}

// entrySize is key k's size, log-uniform in [min, max], fixed per key.
func entrySize(k int, min, max int64) int64 {
	u := float64(xxhash.Sum64String(fmt.Sprint("size/", k))>>11) / (1 << 53)
	return int64(math.Round(float64(min) * math.Pow(float64(max)/float64(min), u)))
}

// Eviction replays the trace through each policy and cache size and writes a table to out.
func Eviction(ctx context.Context, cfg EvictionConfig, out io.Writer) (EvictionReport, error) {
	rep := EvictionReport{Config: cfg}
	if err := cfg.Validate(); err != nil {
		return rep, err
	}
	sizes := make([]int64, cfg.Keys)
	var total int64
	for k := range sizes {
		sizes[k] = entrySize(k, cfg.MinSize, cfg.MaxSize)
		total += sizes[k]
	}
	// One trace for every run. Ranks map to keys through a permutation, so
	// popularity is independent of key order and size.
	r := newRand(cfg.Seed)
	perm := r.Perm(cfg.Keys)
	z := newZipf(cfg.Keys, cfg.Skew, r)
	trace := make([]int32, cfg.Requests)
	for i := range trace {
		trace[i] = int32(perm[z.next()])
	}
	warm := int(float64(cfg.Requests) * cfg.WarmupFraction)
	names := make([]string, cfg.Keys)
	for k := range names {
		names[k] = fmt.Sprint("m/", k)
	}
	for _, frac := range cfg.CacheFractions {
		budget := int64(float64(total) * frac)
		for _, p := range cfg.Policies {
			if err := ctx.Err(); err != nil {
				return rep, fmt.Errorf("eviction benchmark: %w", err)
			}
			ev, err := edgecache.NewEvictor(p, budget)
			if err != nil {
				return rep, err
			}
			in := make([]bool, cfg.Keys)
			idx := make(map[string]int32, cfg.Keys)
			for k, n := range names {
				idx[n] = int32(k)
			}
			var hits, reqs, hitBytes, reqBytes int64
			for i, k := range trace {
				counted := i >= warm
				if counted {
					reqs++
					reqBytes += sizes[k]
				}
				if in[k] {
					ev.Hit(names[k])
					if counted {
						hits++
						hitBytes += sizes[k]
					}
					continue
				}
				if sizes[k] > budget {
					continue
				}
				in[k] = true
				for _, gone := range ev.Add(names[k], sizes[k]) {
					in[idx[gone]] = false
				}
			}
			rep.Results = append(rep.Results, EvictionResult{
				Policy: p, CacheFraction: frac, Budget: budget,
				HitRatio: float64(hits) / float64(reqs), ByteHitRatio: float64(hitBytes) / float64(reqBytes),
			})
		}
	}
	best := -1.0
	for _, res := range rep.Results {
		if res.CacheFraction == cfg.CacheFractions[0] && res.HitRatio > best {
			best, rep.Best = res.HitRatio, res.Policy
		}
	}
	if out != nil {
		fmt.Fprintf(out, "eviction: Zipf(%.2f), %d keys (%s), %d requests (%.0f%% warm-up), sizes %s..%s\n",
			cfg.Skew, cfg.Keys, edgecache.FormatSize(total), cfg.Requests, 100*cfg.WarmupFraction,
			edgecache.FormatSize(cfg.MinSize), edgecache.FormatSize(cfg.MaxSize))
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CACHE\tPOLICY\tHIT RATIO\tBYTE HIT RATIO")
		for _, res := range rep.Results {
			fmt.Fprintf(tw, "%.0f%% (%s)\t%s\t%.2f%%\t%.2f%%\n", 100*res.CacheFraction, edgecache.FormatSize(res.Budget),
				res.Policy, 100*res.HitRatio, 100*res.ByteHitRatio)
		}
		tw.Flush()
		fmt.Fprintf(out, "best at %.0f%%: %s\n", 100*cfg.CacheFractions[0], rep.Best)
	}
	return rep, nil
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
