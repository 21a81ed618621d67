package fleet

import (
	"time"

	"github.com/mediaedge/mediaedge/edgecache"
)

// Rank orders the live members for key by rendezvous score, best first, with
// their current loads: Rank(key)[0] is the key's owner. Every edge with the
// same membership computes the same order. With no members known (only
// before Join returns, or after Leave) it returns this edge alone.
func (f *Fleet) Rank(key string) []Member {
	v := f.view.Load()
	if len(v.members) == 0 {
		return []Member{f.Self()}
	}
	now := time.Now()
	idx := edgecache.Rank(key, v.seeds, v.weights, nil)
	out := make([]Member, len(idx))
	for j, i := range idx {
		out[j] = f.member(v, i, now)
	}
	return out
}

// Owner is the member that owns key: the first of Rank(key), whatever its load.
func (f *Fleet) Owner(key string) Member { return f.Rank(key)[0] }

// Route picks the member that should serve key: the first in Rank(key) whose
// load is within the bounded-loads threshold (see threshold). target is that
// member, owner is Rank(key)[0], and spilled reports target != owner: a
// spill target must fill its miss from the owner (which holds or computes
// the result), never compute it itself. target.Local means serve here.
func (f *Fleet) Route(key string) (target, owner Member, spilled bool) {
	cands, owner, spilled := f.Candidates(key)
	return cands[0], owner, spilled
}

// Candidates is Route with the failover order: cands[0] is Route's target,
// followed by the rest of Rank(key) in rank order. ForwardRanked walks it.
func (f *Fleet) Candidates(key string) (cands []Member, owner Member, spilled bool) {
	ranked := f.Rank(key)
	loads := make([]int64, len(ranked))
	for i, m := range ranked {
		loads[i] = m.Load
	}
	t := pick(loads, f.cfg.LoadFactor)
	if t == 0 {
		return ranked, ranked[0], false
	}
	cands = make([]Member, 0, len(ranked))
	cands = append(cands, ranked[t])
	cands = append(cands, ranked[:t]...)
	cands = append(cands, ranked[t+1:]...)
	return cands, ranked[0], true
}

// threshold is the bounded-loads cap for n members carrying total in-flight
// requests: c times the mean load, at least 1. A member may take a request
// while its load is at most the threshold. Since the least-loaded member is
// at most the mean, some member always qualifies.
//
// Mirrokni, Thorup and Zadimoghaddam (2016) and HAProxy's hash-balance-factor
// count the arriving request, capping at ceil(c x (total+1) / n) with load
// strictly under it; on an idle fleet that spills a key's second concurrent
// request (cap 1 with one in flight). The floor of 1 keeps a key on its owner
// until the owner really is busier than the rest, which also keeps spills
// from following the noise of gossiped loads at low traffic. Both bound the
// busiest member to about c times the mean.
func threshold(total int64, n int, c float64) float64 {
	return max(1, c*float64(total)/float64(n))
}

// pick returns the index of the first load (in rank order) within the
// threshold.
func pick(loads []int64, c float64) int {
	var total int64
	for _, l := range loads {
		total += max(l, 0)
	}
	limit := threshold(total, len(loads), c)
	for i, l := range loads {
		if float64(l) <= limit {
			return i
		}
	}
	return 0 // unreachable: the least load is at most the mean
}
