// Package pebblekv is the one home of the social stores' Pebble row
// handling. Every social service keeps its rows in the one Pebble database
// the edge opens at DATA/social, each under its own key prefix, and every
// store of them does the same few things with it: read a row as JSON, walk
// a key range, write rows and their outbox event in one batch committed
// with the store's write options, build big-endian keys from ids, and
// serialise read-then-write sequences with a stripe of mutexes. Those were
// written six times; they live here once, so a fix (a leaked iterator, a
// lost error) is made once.
//
// What it provides:
//
//   - DB wraps a *pebble.DB the caller owns with the write options of one
//     store (synced or not): Get reads a JSON row, Scan and ScanReverse walk
//     [lower, upper), Count counts its keys, IDs lists the ids ending the
//     keys under a prefix, NewBatch starts a write.
//   - Batch collects one write (JSON rows, empty marker rows, raw values,
//     deletes, outbox events through events.AddPebble). The first error
//     sticks and is returned by Commit, so callers check once. Commit uses
//     the DB's write options; CommitNoSync is for the writes a store
//     deliberately leaves unsynced (a cursor that only saves work, a write
//     synced after its lock is released so concurrent ones share a WAL
//     sync: DB.SyncWAL).
//   - Stripes is a fixed set of 64 mutexes picked by hashing ids, so
//     unrelated writes rarely wait and memory does not grow with the ids.
//   - Key builds prefix + big-endian ids, so keys sort as the ids do and one
//     parent's rows are one contiguous range; PrefixEnd is the upper bound
//     of such a range; LastID reads the id that ends a key.
//
// What it does not do: the row types, the key prefixes, the store-specific
// encodings (the posts counters, the feed entries) and the locking rules
// stay in each store, with the comments that explain them. pebblekv knows
// nothing about any service.
package pebblekv
