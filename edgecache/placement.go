package edgecache

import (
	"math"

	"github.com/cespare/xxhash/v2"
)

// Placement is weighted rendezvous hashing (highest random weight, in its
// logarithmic form): for a key, every disk draws u in (0,1) from a hash of the key
// and the disk's identity and scores w / -ln(u); the highest score wins. -ln(u)/w is
// exponentially distributed with rate w, so disk i wins with probability
// w_i / sum(w). Removing a disk changes the winner only for the keys it won;
// adding one takes only the keys it now wins. The cost is one xxhash of the key
// plus a 64-bit mix per disk, with no table to rebuild when disks change.

// keyHash is the hash placement and file names start from.
func keyHash(key string) uint64 { return xxhash.Sum64String(key) }

// diskSeed identifies a disk to placement. It is the hash of the cleaned path, so
// the same folder keeps its share across restarts and reorderings of --cache-dir.
func diskSeed(path string) uint64 { return xxhash.Sum64String("edgecache-disk:" + path) }

// mix64 is the splitmix64 finaliser: a bijection with full avalanche, so the
// per-disk values drawn from one key hash are independent for our purposes.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// score is disk's rendezvous score for a key hash.
func score(kh, seed uint64, weight float64) float64 {
	h := mix64(kh ^ mix64(seed))
	u := (float64(h>>11) + 0.5) / (1 << 53) // uniform in (0,1), never 0 or 1
	return weight / -math.Log(u)
}

// Rank orders candidate disks for key by rendezvous score, best first. seeds and
// weights are parallel; usable(i) filters disks (nil means all). It returns
// indexes into seeds. It allocates only the result.
func Rank(key string, seeds []uint64, weights []float64, usable func(i int) bool) []int {
	kh := keyHash(key)
	type cand struct {
		i int
		s float64
	}
	cs := make([]cand, 0, len(seeds))
	for i := range seeds {
		if usable != nil && !usable(i) {
			continue
		}
		cs = append(cs, cand{i, score(kh, seeds[i], weights[i])})
	}
	// Insertion sort: a handful of disks.
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && cs[j].s > cs[j-1].s; j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
	out := make([]int, len(cs))
	for i, c := range cs {
		out[i] = c.i
	}
	return out
}

// first returns the best usable disk for key, or -1.
func first(key string, seeds []uint64, weights []float64, usable func(i int) bool) int {
	kh := keyHash(key)
	best, bestScore := -1, 0.0
	for i := range seeds {
		if usable != nil && !usable(i) {
			continue
		}
		if s := score(kh, seeds[i], weights[i]); best < 0 || s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}
