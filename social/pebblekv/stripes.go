package pebblekv

import (
	"encoding/binary"
	"hash/maphash"
	"sync"
)

// seed picks the stripes of ids. It is set once, at start, and only read:
// which stripe an id gets matters only within one process.
var seed = maphash.MakeSeed()

// Stripes is a fixed set of 64 mutexes, one picked by hashing ids: a
// read-then-write of one row (or of a pair of users) under its stripe is a
// compare-and-set, since one process owns the database. Two ids may share
// a stripe and then wait for each other; nothing else does. Memory does
// not grow with the ids, and nothing has to be cleaned up.
//
// The zero value is ready to use. A Stripes must not be copied.
type Stripes struct {
	mu [64]sync.Mutex // each guards the rows of the ids hashed to it, as its user defines them
}

// Lock takes the stripe of ids (in that order: Lock(a, b) and Lock(b, a)
// are different stripes) and returns its unlock, for
// `defer stripes.Lock(id)()`.
func (s *Stripes) Lock(ids ...int64) (unlock func()) {
	var h maphash.Hash
	h.SetSeed(seed)
	var b [8]byte
	for _, id := range ids {
		binary.BigEndian.PutUint64(b[:], uint64(id))
		h.Write(b[:])
	}
	mu := &s.mu[h.Sum64()%uint64(len(s.mu))]
	mu.Lock()
	return mu.Unlock
}
