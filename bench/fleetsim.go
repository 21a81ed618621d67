package bench

// Fleet simulation (issue #13, "Measure"): a trace-driven, seeded
// (deterministic) simulation of Edges edges in front of Keys keys, asking how close a
// fleet of per-edge caches comes to one pooled cache of the same total size,
// and what routing does to the edges' loads. Nothing here touches a network:
// it replays one synthetic request trace per Zipf skew through five setups.
//
//   - none: each request reaches a random edge (a load balancer without
//     affinity), and each edge caches independently, so a popular key is held
//     by many edges and the fleet's bytes hold far fewer distinct keys.
//   - rendezvous: the key's owner serves it; the ranking is edgecache.Rank,
//     called with the members' seeds and weight 1 as fleet.Rank calls it
//     (fleet.Rank needs a joined *fleet.Fleet, so the seeds are computed here
//     the way fleet computes them: the xxhash of "mediaedge-fleet:" + name).
//   - bounded: rendezvous with bounded loads, fleet's rule: a request goes to
//     the first edge in the key's ranking whose load is at most
//     max(1, c x mean). The load is modelled as the requests an edge has
//     taken in the current window of Window requests (tumbling windows), in
//     place of the live fleet's in-flight count. As in fleet/doc.go a spill
//     target serves from its own cache; on a miss it fills from the owner
//     (an owner hit or miss; only an owner miss is an origin fetch) and keeps
//     the copy, so a hot key ends up on a few edges and is fetched once.
//   - ring: a consistent hash ring with VirtualNodes points per edge (xxhash of
//     "name#i"), the key's owner being the first point clockwise of its xxhash.
//   - pooled: the reference, one S3-FIFO cache of the fleet's total bytes.
//
// Every cache is edgecache's own S3-FIFO (edgecache.NewEvictor with
// PolicyS3FIFO), the policy the edges run, with a byte budget of
// CacheFraction of the working set's bytes split evenly over the edges. The
// Evictor has no lookup, so each cache keeps a bitset of the keys it holds,
// updated from Add's evictions. Objects are 4 KiB-512 KiB, log-uniform, fixed
// per key (entrySize, as the eviction benchmark). Popularity is Zipf by
// inverse CDF over precomputed cumulative weights with a binary search
// (newZipf: exact for s < 1, which math/rand's Zipf refuses), ranks mapped to
// keys through a seeded permutation so popularity is independent of key
// names, sizes and owners. The same trace is replayed through every setup.
//
// Reported per setup and skew: origin fetches (misses after the first
// WarmupFraction of the trace) and their ratio to the pooled cache's; the
// load imbalance, max/mean of requests served per edge in each full window
// (averaged over windows, and the worst window); the same with owner fills
// added (the requests an owner serves for spill targets, which bounded loads
// do not count); and the share of keys that change owner when one edge is
// removed (edge Edges/2) and when one is added (goal: about 1/N). For the
// owner-based setups the moves come from edgecache.Rank (see
// newFleetPlacement for the shortcut that keeps this to one full ranking per
// key) and from rings rebuilt without and with the edge.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/mediaedge/mediaedge/edgecache"
)

// FleetsimConfig describes the simulated fleet and trace.
type FleetsimConfig struct {
	// Edges in the fleet (at most 65,534: edge ids are uint16, one spare for
	// the added edge) and Keys, the working set of distinct keys.
	Edges, Keys int
	// Requests per skew; the first WarmupFraction fills the caches and is not
	// counted in origin fetches (loads count every full window).
	Requests       int
	WarmupFraction float64
	// Skews are the Zipf exponents s to run (popularity of rank r ~ 1/r^s).
	Skews []float64
	// MinSize and MaxSize bound object sizes (log-uniform per key).
	MinSize, MaxSize int64
	// CacheFraction is the fleet's total cache bytes over the working set's.
	CacheFraction float64
	// LoadFactor is c of bounded loads (fleet's LoadFactor, 1.25).
	LoadFactor float64
	// Window is the requests per load window; 0 means 100 per edge.
	Window int
	// VirtualNodes per edge on the hash ring.
	VirtualNodes int
	// Seed makes the trace and the random routing reproducible.
	Seed uint64
	// Plot is where the SVG plot goes; "" skips it.
	Plot string
	// Timeout bounds the whole run; 0 means none.
	Timeout time.Duration
}

// DefaultFleetsimConfig is the run: 100 edges, 1M keys, 20M requests
// per skew, s = 0.8, 0.9 and 1.0, a fleet holding 10% of the working set.
func DefaultFleetsimConfig() FleetsimConfig {
	return FleetsimConfig{
		Edges: 100, Keys: 1_000_000, Requests: 20_000_000, WarmupFraction: 0.2,
		Skews:   []float64{0.8, 0.9, 1.0},
		MinSize: 4 << 10, MaxSize: 512 << 10,
		CacheFraction: 0.10, LoadFactor: 1.25, VirtualNodes: 100, Seed: 42,
		Timeout: 20 * time.Minute,
	}
}

// window is the effective window length.
func (c FleetsimConfig) window() int {
	if c.Window > 0 {
		return c.Window
	}
	return 100 * c.Edges
}

// Validate reports every problem at once.
func (c FleetsimConfig) Validate() error {
	var errs []error
	if c.Edges < 2 || c.Edges > math.MaxUint16-1 {
		errs = append(errs, fmt.Errorf("edges %d: want 2 to %d", c.Edges, math.MaxUint16-1))
	}
	if c.Keys < 1 || c.Keys > math.MaxInt32 {
		errs = append(errs, fmt.Errorf("keys %d: want 1 to %d", c.Keys, math.MaxInt32))
	}
	if c.Requests < 1 {
		errs = append(errs, errors.New("requests must be positive"))
	}
	if c.WarmupFraction < 0 || c.WarmupFraction >= 1 {
		errs = append(errs, errors.New("warm-up fraction must be in [0,1)"))
	}
	if len(c.Skews) == 0 {
		errs = append(errs, errors.New("no skews"))
	}
	for _, s := range c.Skews {
		if !(s > 0) {
			errs = append(errs, fmt.Errorf("skew %v must be positive", s))
		}
	}
	if c.MinSize < 1 || c.MaxSize < c.MinSize {
		errs = append(errs, errors.New("sizes: want 1 <= min <= max"))
	}
	if !(c.CacheFraction > 0 && c.CacheFraction <= 1) {
		errs = append(errs, fmt.Errorf("cache fraction %v must be in (0,1]", c.CacheFraction))
	}
	if !(c.LoadFactor > 1) {
		errs = append(errs, fmt.Errorf("load factor %v must be > 1", c.LoadFactor))
	}
	if c.Window < 0 || (c.Requests > 0 && c.window() > c.Requests) {
		errs = append(errs, fmt.Errorf("window %d: want 0 (100 per edge) or 1 to the requests", c.Window))
	}
	if c.VirtualNodes < 1 {
		errs = append(errs, errors.New("virtual nodes must be positive"))
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("timeout must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("fleetsim config: %w", err)
	}
	return nil
}

// The setups, in report order.
const (
	FleetNone       = "none"
	FleetRendezvous = "rendezvous"
	FleetBounded    = "bounded"
	FleetRing       = "ring"
	FleetPooled     = "pooled"
)

var fleetSetups = []string{FleetNone, FleetRendezvous, FleetBounded, FleetRing, FleetPooled}

// FleetsimResult is one setup at one skew.
type FleetsimResult struct {
	Skew     float64
	Setup    string
	Requests int64 // counted (after warm-up)
	// OriginFetches are the misses that reached the origin, OriginBytes their
	// bytes; VsPooled and BytesVsPooled their ratios to the pooled cache's.
	OriginFetches, OriginBytes int64
	VsPooled, BytesVsPooled    float64
	// LoadAvg and LoadWorst are max/mean requests served per edge over full
	// windows (mean over windows, and the worst); WorkAvg and WorkWorst the
	// same with owner fills for spill targets added. NaN for pooled.
	LoadAvg, LoadWorst, WorkAvg, WorkWorst float64
	// Spilled is the share of requests bounded loads sent past the owner,
	// SpillFills the share that then filled from the owner.
	Spilled, SpillFills float64
	// MovedRemove and MovedAdd are the shares of keys whose owner changes when
	// one edge is removed or added; NaN where keys have no owner.
	MovedRemove, MovedAdd float64
}

// FleetsimReport is the whole run.
type FleetsimReport struct {
	Config       FleetsimConfig
	WorkingSet   int64 // bytes of all keys
	EdgeBudget   int64 // bytes per edge cache
	PooledBudget int64
	Results      []FleetsimResult
	Elapsed      time.Duration
}

// Result returns the result for setup at skew s, or false.
func (r FleetsimReport) Result(s float64, setup string) (FleetsimResult, bool) {
	for _, res := range r.Results {
		if res.Skew == s && res.Setup == setup {
			return res, true
		}
	}
	return FleetsimResult{}, false
}

// rankDepth is how many ranked edges are kept per key for bounded loads; a
// request that finds them all full asks edgecache.Rank for the whole order.
const rankDepth = 16

// fleetPlacement holds every key's owners: the rendezvous ranking's head
// (top), and the owners after removing edge removed or adding edge Edges, for
// rendezvous and for the ring.
type fleetPlacement struct {
	names   []string // key names
	edges   []string // edge names, Edges+1 (the last is the added one)
	seeds   []uint64 // rendezvous seeds, parallel to edges
	weights []float64
	removed int
	depth   int
	top     []uint16 // Keys x depth, best first
	// rendezvous owners after removing edge removed, and with Edges+1 edges
	rvRemove, rvAdd []uint16
	// ring owners with all edges, without removed, with the added one
	ring, ringRemove, ringAdd []uint16
}

// fleetMemberSeed is fleet's member seed (fleet.memberSeed, unexported).
func fleetMemberSeed(name string) uint64 { return xxhash.Sum64String("mediaedge-fleet:" + name) }

func fleetKeyName(k int) string { return "m/" + strconv.Itoa(k) }

func fleetKeyID(name string) int32 {
	k, err := strconv.Atoi(name[2:])
	if err != nil {
		panic(fmt.Sprintf("fleetsim: evicted key %q is not ours", name))
	}
	return int32(k)
}

// newFleetPlacement computes every key's placements, on all cores (the
// result does not depend on how the keys are split).
func newFleetPlacement(ctx context.Context, edges, keys, vnodes int) (*fleetPlacement, error) {
	p := &fleetPlacement{removed: edges / 2, depth: min(rankDepth, edges)}
	p.names = make([]string, keys)
	for k := range p.names {
		p.names[k] = fleetKeyName(k)
	}
	for e := 0; e <= edges; e++ {
		name := fmt.Sprintf("edge-%03d", e)
		p.edges = append(p.edges, name)
		p.seeds = append(p.seeds, fleetMemberSeed(name))
		p.weights = append(p.weights, 1)
	}
	p.top = make([]uint16, keys*p.depth)
	p.rvRemove, p.rvAdd = make([]uint16, keys), make([]uint16, keys)
	seeds, weights := p.seeds[:edges], p.weights[:edges]
	pair := []float64{1, 1}

	full, without, with := newHashRing(p.edges[:edges], vnodes, -1), newHashRing(p.edges[:edges], vnodes, p.removed), newHashRing(p.edges, vnodes, -1)
	p.ring, p.ringRemove, p.ringAdd = make([]uint16, keys), make([]uint16, keys), make([]uint16, keys)

	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := w; k < keys; k += workers {
				if k%4096 == w && ctx.Err() != nil {
					errs[w] = ctx.Err()
					return
				}
				name := p.names[k]
				rank := edgecache.Rank(name, seeds, weights, nil)
				for j := range p.depth {
					p.top[k*p.depth+j] = uint16(rank[j])
				}
				// The full ranking costs ~10 us at 100 edges, so the
				// membership changes are not ranked again in full: without
				// the removed edge the ranking is the same minus that edge
				// (so its head is the first other edge), and the added
				// edge takes the key iff it outscores the owner, which is
				// Rank over those two. TestFleetsimPlacementMoves checks
				// both against full calls with the edge filtered or added.
				owner := rank[0]
				p.rvRemove[k] = uint16(owner)
				if owner == p.removed {
					p.rvRemove[k] = uint16(rank[1])
				}
				p.rvAdd[k] = uint16(owner)
				if edgecache.Rank(name, []uint64{p.seeds[owner], p.seeds[edges]}, pair, nil)[0] == 1 {
					p.rvAdd[k] = uint16(edges)
				}
				h := xxhash.Sum64String(name)
				p.ring[k], p.ringRemove[k], p.ringAdd[k] = full.owner(h), without.owner(h), with.owner(h)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("fleetsim placement: %w", err)
	}
	return p, nil
}

// owner is key k's rendezvous owner.
func (p *fleetPlacement) owner(k int32) uint16 { return p.top[int(k)*p.depth] }

// moved is the share of keys whose owner differs between a and b.
func moved(a, b []uint16) float64 {
	n := 0
	for k := range a {
		if a[k] != b[k] {
			n++
		}
	}
	return float64(n) / float64(len(a))
}

// hashRing is a consistent hash ring: points sorted by hash, each naming its edge.
type hashRing struct {
	hashes []uint64
	edges  []uint16
}

// newHashRing places vnodes points per edge, skipping edge index skip (-1: none).
func newHashRing(edges []string, vnodes, skip int) *hashRing {
	type point struct {
		h uint64
		e uint16
	}
	var pts []point
	for e, name := range edges {
		if e == skip {
			continue
		}
		for v := range vnodes {
			pts = append(pts, point{xxhash.Sum64String(name + "#" + strconv.Itoa(v)), uint16(e)})
		}
	}
	slices.SortFunc(pts, func(a, b point) int {
		if a.h != b.h {
			if a.h < b.h {
				return -1
			}
			return 1
		}
		return int(a.e) - int(b.e)
	})
	r := &hashRing{hashes: make([]uint64, len(pts)), edges: make([]uint16, len(pts))}
	for i, pt := range pts {
		r.hashes[i], r.edges[i] = pt.h, pt.e
	}
	return r
}

// owner is the edge of the first point at or clockwise of h.
func (r *hashRing) owner(h uint64) uint16 {
	i, _ := slices.BinarySearch(r.hashes, h)
	if i == len(r.hashes) {
		i = 0
	}
	return r.edges[i]
}

// simCache is one S3-FIFO cache with a bitset of the keys it holds.
type simCache struct {
	ev     edgecache.Evictor
	budget int64
	in     []uint64
}

func newSimCache(budget int64, keys int) (*simCache, error) {
	ev, err := edgecache.NewEvictor(edgecache.PolicyS3FIFO, budget)
	if err != nil {
		return nil, err
	}
	return &simCache{ev: ev, budget: budget, in: make([]uint64, (keys+63)/64)}, nil
}

func (c *simCache) has(k int32) bool { return c.in[k>>6]&(1<<(k&63)) != 0 }

// access looks k up, records a hit, or admits k on a miss; it reports the hit.
func (c *simCache) access(k int32, name string, size int64) bool {
	if c.has(k) {
		c.ev.Hit(name)
		return true
	}
	c.admit(k, name, size)
	return false
}

func (c *simCache) admit(k int32, name string, size int64) {
	if size > c.budget {
		return
	}
	c.in[k>>6] |= 1 << (k & 63)
	for _, gone := range c.ev.Add(name, size) {
		g := fleetKeyID(gone)
		c.in[g>>6] &^= 1 << (g & 63)
	}
}

// loadStats accumulates per-window max/mean of a per-edge counter.
type loadStats struct {
	sum, worst float64
	windows    int
}

func (s *loadStats) add(counts []int32, total int) {
	m := slices.Max(counts)
	r := float64(m) / (float64(total) / float64(len(counts)))
	s.sum += r
	s.worst = max(s.worst, r)
	s.windows++
}

func (s *loadStats) avg() float64 {
	if s.windows == 0 {
		return math.NaN()
	}
	return s.sum / float64(s.windows)
}

// boundedPick is fleet's bounded-loads rule (fleet.threshold and fleet.pick,
// unexported): the first edge in rank order whose load is at most
// max(1, c x total/n), total being the window's requests so far.
func boundedPick(rank []uint16, load []int32, total int, c float64) int {
	limit := max(1, c*float64(total)/float64(len(load)))
	for i, e := range rank {
		if float64(load[e]) <= limit {
			return i
		}
	}
	return -1
}

// fleetRun replays trace through one setup.
func fleetRun(ctx context.Context, cfg FleetsimConfig, setup string, p *fleetPlacement, trace []int32, sizes []int64, edgeBudget, pooledBudget int64) (FleetsimResult, error) {
	res := FleetsimResult{Setup: setup, MovedRemove: math.NaN(), MovedAdd: math.NaN()}
	n := cfg.Edges
	nc := n
	if setup == FleetPooled {
		nc = 1
	}
	caches := make([]*simCache, nc)
	for i := range caches {
		b := edgeBudget
		if setup == FleetPooled {
			b = pooledBudget
		}
		var err error
		if caches[i], err = newSimCache(b, cfg.Keys); err != nil {
			return res, err
		}
	}
	warm := int(float64(len(trace)) * cfg.WarmupFraction)
	win := cfg.window()
	load, work := make([]int32, n), make([]int32, n)
	var loadSt, workSt loadStats
	inWin := 0
	rng := newRand(cfg.Seed ^ 0x5eed0f1ee7)
	var spilled, fills int64
	fullRank := func(k int32) []uint16 {
		r := edgecache.Rank(p.names[k], p.seeds[:n], p.weights[:n], nil)
		out := make([]uint16, len(r))
		for i, e := range r {
			out[i] = uint16(e)
		}
		return out
	}
	for i, k := range trace {
		if i&0xffff == 0 && ctx.Err() != nil {
			return res, fmt.Errorf("fleetsim %s: %w", setup, ctx.Err())
		}
		name, size := p.names[k], sizes[k]
		hit := false
		switch setup {
		case FleetPooled:
			hit = caches[0].access(k, name, size)
		case FleetNone:
			e := rng.IntN(n)
			load[e]++
			work[e]++
			hit = caches[e].access(k, name, size)
		case FleetRendezvous, FleetRing:
			e := p.owner(k)
			if setup == FleetRing {
				e = p.ring[k]
			}
			load[e]++
			work[e]++
			hit = caches[e].access(k, name, size)
		case FleetBounded:
			rank := p.top[int(k)*p.depth : int(k+1)*p.depth]
			j := boundedPick(rank, load, inWin, cfg.LoadFactor)
			if j < 0 {
				rank = fullRank(k)
				j = boundedPick(rank, load, inWin, cfg.LoadFactor)
			}
			e, owner := rank[j], rank[0]
			load[e]++
			work[e]++
			if j == 0 {
				hit = caches[e].access(k, name, size)
				break
			}
			if i >= warm {
				spilled++
			}
			if caches[e].access(k, name, size) {
				hit = true
				break
			}
			// The spill target's miss: fill from the owner (it admitted
			// its copy already).
			work[owner]++
			if i >= warm {
				fills++
			}
			hit = caches[owner].access(k, name, size)
		}
		if i >= warm {
			res.Requests++
			if !hit {
				res.OriginFetches++
				res.OriginBytes += size
			}
		}
		if setup != FleetPooled {
			if inWin++; inWin == win {
				loadSt.add(load, win)
				workSt.add(work, win)
				clear(load)
				clear(work)
				inWin = 0
			}
		}
	}
	res.LoadAvg, res.LoadWorst, res.WorkAvg, res.WorkWorst = math.NaN(), math.NaN(), math.NaN(), math.NaN()
	if setup != FleetPooled {
		res.LoadAvg, res.LoadWorst = loadSt.avg(), loadSt.worst
		res.WorkAvg, res.WorkWorst = workSt.avg(), workSt.worst
	}
	if res.Requests > 0 {
		res.Spilled = float64(spilled) / float64(res.Requests)
		res.SpillFills = float64(fills) / float64(res.Requests)
	}
	switch setup {
	case FleetRendezvous, FleetBounded:
		owners := make([]uint16, cfg.Keys)
		for k := range owners {
			owners[k] = p.owner(int32(k))
		}
		res.MovedRemove, res.MovedAdd = moved(owners, p.rvRemove), moved(owners, p.rvAdd)
	case FleetRing:
		res.MovedRemove, res.MovedAdd = moved(p.ring, p.ringRemove), moved(p.ring, p.ringAdd)
	}
	return res, nil
}

// Fleetsim runs the simulation for every skew and setup, writes the table to
// out and, when cfg.Plot is set, the SVG plot.
func Fleetsim(ctx context.Context, cfg FleetsimConfig, out io.Writer) (FleetsimReport, error) {
	rep := FleetsimReport{Config: cfg}
	if err := cfg.Validate(); err != nil {
		return rep, err
	}
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
	}
	if out == nil {
		out = io.Discard
	}
	start := time.Now()
	sizes := make([]int64, cfg.Keys)
	for k := range sizes {
		sizes[k] = entrySize(k, cfg.MinSize, cfg.MaxSize)
		rep.WorkingSet += sizes[k]
	}
	total := int64(float64(rep.WorkingSet) * cfg.CacheFraction)
	rep.EdgeBudget = total / int64(cfg.Edges)
	rep.PooledBudget = rep.EdgeBudget * int64(cfg.Edges)
	fmt.Fprintf(out, "fleetsim: %d edges, %d keys (%s), %d requests per skew (%.0f%% warm-up), sizes %s..%s log-uniform\n",
		cfg.Edges, cfg.Keys, edgecache.FormatSize(rep.WorkingSet), cfg.Requests, 100*cfg.WarmupFraction,
		edgecache.FormatSize(cfg.MinSize), edgecache.FormatSize(cfg.MaxSize))
	fmt.Fprintf(out, "fleetsim: S3-FIFO %s per edge (fleet %s = %.0f%% of the working set), c = %.2f, window %d requests (%d per edge), ring %d vnodes per edge\n",
		edgecache.FormatSize(rep.EdgeBudget), edgecache.FormatSize(rep.PooledBudget), 100*cfg.CacheFraction,
		cfg.LoadFactor, cfg.window(), cfg.window()/cfg.Edges, cfg.VirtualNodes)

	p, err := newFleetPlacement(ctx, cfg.Edges, cfg.Keys, cfg.VirtualNodes)
	if err != nil {
		return rep, err
	}
	fmt.Fprintf(out, "fleetsim: placements computed in %s\n", time.Since(start).Round(time.Millisecond))

	r := newRand(cfg.Seed)
	perm := r.Perm(cfg.Keys)
	trace := make([]int32, cfg.Requests)
	for si, s := range cfg.Skews {
		t0 := time.Now()
		z := newZipf(cfg.Keys, s, newRand(cfg.Seed+uint64(si)+1))
		for i := range trace {
			trace[i] = int32(perm[z.next()])
		}
		// The setups share the trace and placements read-only and are
		// independent, so they run side by side, one per core.
		batch := make([]FleetsimResult, len(fleetSetups))
		errs := make([]error, len(fleetSetups))
		sem := make(chan struct{}, runtime.GOMAXPROCS(0))
		var wg sync.WaitGroup
		for i, setup := range fleetSetups {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				batch[i], errs[i] = fleetRun(ctx, cfg, setup, p, trace, sizes, rep.EdgeBudget, rep.PooledBudget)
				batch[i].Skew = s
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return rep, err
		}
		pooled := batch[len(batch)-1]
		for i := range batch {
			batch[i].VsPooled = ratio(batch[i].OriginFetches, pooled.OriginFetches)
			batch[i].BytesVsPooled = ratio(batch[i].OriginBytes, pooled.OriginBytes)
		}
		rep.Results = append(rep.Results, batch...)
		fmt.Fprintf(out, "fleetsim: s = %.2f done in %s\n", s, time.Since(t0).Round(time.Millisecond))
	}
	rep.Elapsed = time.Since(start)
	writeFleetsimTable(out, rep)
	if cfg.Plot != "" {
		if err := writeFleetsimPlot(cfg.Plot, rep); err != nil {
			return rep, err
		}
		fmt.Fprintf(out, "fleetsim: plot written to %s\n", cfg.Plot)
	}
	return rep, nil
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

func writeFleetsimTable(out io.Writer, rep FleetsimReport) {
	n := float64(rep.Config.Edges)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "S\tSETUP\tORIGIN FETCHES\tVS POOLED\tBYTES VS POOLED\tLOAD MAX/MEAN\tWORST WINDOW\tWITH OWNER FILLS\tSPILLED\tMOVED -1 EDGE\tMOVED +1 EDGE")
	dash := func(f string, v float64) string {
		if math.IsNaN(v) {
			return "-"
		}
		return fmt.Sprintf(f, v)
	}
	movedCol := func(v, edges float64) string {
		if math.IsNaN(v) {
			return "-"
		}
		return fmt.Sprintf("%.2f%% (%.2f/N)", 100*v, v*edges)
	}
	for _, r := range rep.Results {
		spill := "-"
		if r.Setup == FleetBounded {
			spill = fmt.Sprintf("%.1f%% (%.1f%% fill)", 100*r.Spilled, 100*r.SpillFills)
		}
		fmt.Fprintf(tw, "%.2f\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Skew, r.Setup, r.OriginFetches,
			dash("%.3f", r.VsPooled), dash("%.3f", r.BytesVsPooled),
			dash("%.2f", r.LoadAvg), dash("%.2f", r.LoadWorst), dash("%.2f", r.WorkAvg),
			spill, movedCol(r.MovedRemove, n), movedCol(r.MovedAdd, n))
	}
	tw.Flush()
	fmt.Fprintf(out, "fleetsim: %s in all; origin fetches counted after warm-up; load = requests served per edge per window\n",
		rep.Elapsed.Round(time.Millisecond))
}
