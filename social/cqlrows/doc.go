// Package cqlrows is the one home of the row handling that the social
// services' Cassandra stores (social/*/cassandrastore) share: the LOGGED
// batch that carries a write's rows and the outbox row of its event, the
// lightweight transaction that answers with the row it lost to, the point
// read that tells a missing row from an error, the lock row that
// serialises a read-modify-write, and the waits between retries.
//
// Why one package: each store had grown its own copy of these, and the
// copies had begun to differ in the details that matter (which entries the
// driver may retry, whether a zero event is written, whether a lock is
// released after a batch of unknown outcome). The protocols themselves
// (what is claimed, what is locked, which transaction decides what) stay
// in each store, with the comments that say why; this package holds only
// the mechanics under them, so a fix to a mechanic is made once.
//
// The model:
//
//   - A Batch is one LOGGED batch under construction. Add appends a data
//     statement the driver may retry (every store writes fixed values, or
//     cells USING TIMESTAMP, so applying a batch twice is applying it
//     once); Event appends the outbox row of an event (events.AddCassandra),
//     also retryable, since it is a fixed row under the event's id. The
//     first error sticks and Exec returns it without sending anything.
//     Cassandra applies a LOGGED batch all or none, even if its
//     coordinator dies midway (the batchlog replays it), so data and
//     event are never apart.
//   - CAS runs a lightweight transaction at a serial consistency and fills
//     prev with the row it found when it did not apply. A CAS is marked
//     idempotent only when the caller recognises its own write in prev: a
//     driver retry of an applied transaction answers "not applied" with
//     the caller's own values.
//   - Read and Exists are point reads at the session's consistency,
//     retryable, with gocql.ErrNotFound turned into found=false so each
//     store maps it to its own sentinel. Toggle is the read-then-batch
//     of a row that is either there or not (a like, a pin): the row and
//     its event are written only when the read shows a change.
//   - Locks is a lock table (graph_locks, notify_locks): a row taken with
//     INSERT ... IF NOT EXISTS USING TTL and released with DELETE ... IF
//     holder = ours. A Held lock runs its batch; after a batch error the
//     lock is kept until its TTL lapses, because the batchlog may still
//     apply the batch, and releasing early would let the next holder read
//     a state that is about to change.
//
// Nothing here holds state of its own: every function takes the session
// (or the Batch or Held it made) it works on.
package cqlrows
