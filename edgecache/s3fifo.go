package edgecache

// S3-FIFO (Yang et al., SOSP 2023, "FIFO queues are all you need for cache
// eviction"), weighted by bytes. Hand-written because the Go implementations count
// entries, while a cache disk has a byte budget and entries from 1 KB thumbnails
// to GB videos.
//
//   - S, a small FIFO of 10% of the budget, admits new keys; M, the main FIFO,
//     holds the rest; G, a ghost FIFO of keys only, remembers recent evictions
//     from S (as many keys as M holds entries).
//   - A hit increments a 2-bit frequency (capped at 3); no list is touched, which
//     is why hits are cheaper than LRU's move-to-front.
//   - Insert: into M when the key is in G (it was evicted too soon), else into S.
//   - Evict from S's tail when S is over its share: a key hit while in S moves to
//     M (threshold 1, libCacheSim's default), else it leaves and enters G.
//   - Evict from M's tail: a key with frequency > 0 is reinserted with frequency
//     minus one (CLOCK-like), else it leaves.
//
// Most one-hit wonders leave through S after using little space, which is where
// S3-FIFO beats LRU on the skewed traces of a CDN.

const (
	s3SmallShare = 0.10
	s3MaxFreq    = 3
)

type s3node struct {
	key        string
	size       int64
	freq       uint8
	main       bool
	prev, next *s3node
}

// s3queue is an intrusive doubly-linked FIFO: push at head, pop at tail.
type s3queue struct {
	head, tail *s3node
	n          int
	bytes      int64
}

func (q *s3queue) push(n *s3node) {
	n.prev, n.next = nil, q.head
	if q.head != nil {
		q.head.prev = n
	}
	q.head = n
	if q.tail == nil {
		q.tail = n
	}
	q.n++
	q.bytes += n.size
}

func (q *s3queue) remove(n *s3node) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		q.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		q.tail = n.prev
	}
	n.prev, n.next = nil, nil
	q.n--
	q.bytes -= n.size
}

// ghost is a FIFO of key hashes with a set for membership.
type ghost struct {
	set  map[uint64]int // hash -> copies in ring
	ring []uint64
	head int // index of the oldest
	n    int
}

func (g *ghost) add(h uint64, limit int) {
	if limit < 1 {
		limit = 1
	}
	for g.n >= limit {
		g.popOldest()
	}
	if g.n == len(g.ring) {
		grown := make([]uint64, max(16, 2*len(g.ring)))
		for i := 0; i < g.n; i++ {
			grown[i] = g.ring[(g.head+i)%len(g.ring)]
		}
		g.ring, g.head = grown, 0
	}
	g.ring[(g.head+g.n)%len(g.ring)] = h
	g.n++
	g.set[h]++
}

func (g *ghost) popOldest() {
	h := g.ring[g.head]
	g.head = (g.head + 1) % len(g.ring)
	g.n--
	if g.set[h]--; g.set[h] <= 0 {
		delete(g.set, h)
	}
}

// take reports whether h is remembered and forgets it (its ring slot stays until
// it ages out, counted by the set so a re-added hash stays correct).
func (g *ghost) take(h uint64) bool {
	if g.set[h] > 0 {
		if g.set[h]--; g.set[h] == 0 {
			delete(g.set, h)
		}
		return true
	}
	return false
}

type s3fifo struct {
	budget      int64
	small, main s3queue
	ghost       ghost
	nodes       map[string]*s3node
}

func newS3FIFO(budget int64) *s3fifo {
	return &s3fifo{budget: budget, nodes: map[string]*s3node{}, ghost: ghost{set: map[uint64]int{}}}
}

func (s *s3fifo) Len() int     { return len(s.nodes) }
func (s *s3fifo) Bytes() int64 { return s.small.bytes + s.main.bytes }

func (s *s3fifo) Hit(key string) {
	if n := s.nodes[key]; n != nil && n.freq < s3MaxFreq {
		n.freq++
	}
}

func (s *s3fifo) Remove(key string) {
	n := s.nodes[key]
	if n == nil {
		return
	}
	s.queue(n).remove(n)
	delete(s.nodes, key)
}

func (s *s3fifo) queue(n *s3node) *s3queue {
	if n.main {
		return &s.main
	}
	return &s.small
}

func (s *s3fifo) Add(key string, size int64) []string {
	if n := s.nodes[key]; n != nil {
		q := s.queue(n)
		q.remove(n)
		n.size = size
		q.push(n)
	} else {
		n = &s3node{key: key, size: size}
		if s.ghost.take(keyHash(key)) {
			n.main = true
			s.main.push(n)
		} else {
			s.small.push(n)
		}
		s.nodes[key] = n
	}
	var out []string
	newest := s.nodes[key]
	for s.Bytes() > s.budget {
		if k, ok := s.evictOne(newest); ok {
			out = append(out, k)
		}
	}
	return out
}

// evictOne frees one entry or moves one from S to M. It only evicts newest when
// nothing else is left.
func (s *s3fifo) evictOne(newest *s3node) (string, bool) {
	smallTarget := int64(float64(s.budget) * s3SmallShare)
	fromSmall := s.small.n > 0 && (s.small.bytes > smallTarget || s.main.n == 0 ||
		(s.main.n == 1 && s.main.tail == newest))
	if fromSmall && s.small.n == 1 && s.small.tail == newest && s.main.n > 0 {
		fromSmall = false // keep the key being added while others can go
	}
	if fromSmall {
		t := s.small.tail
		s.small.remove(t)
		if t.freq >= 1 {
			t.freq, t.main = 0, true
			s.main.push(t)
			return "", false
		}
		delete(s.nodes, t.key)
		s.ghost.add(keyHash(t.key), s.main.n)
		return t.key, true
	}
	t := s.main.tail
	s.main.remove(t)
	if t.freq > 0 || (t == newest && s.main.n > 0) {
		// Reinsert: a hit entry keeps one less credit; the key being added goes
		// back to the head while older keys can go instead.
		if t.freq > 0 {
			t.freq--
		}
		s.main.push(t)
		return "", false
	}
	delete(s.nodes, t.key)
	return t.key, true
}
