// Package cassandra is the chunkstore.Backend on Apache Cassandra, through the
// Apache gocql driver (github.com/apache/cassandra-gocql-driver/v2).
//
// Model: the tables of DESIGN.md (see package schema). Every chunk is its own
// partition ((id, idx)), so a hot file spreads over the whole ring and reads of
// different chunks go to different replicas; token-aware routing sends each
// query straight to a replica that owns the partition, saving a coordinator hop
// on every 1 MiB chunk.
//
// Decisions:
//   - Chunk writes and reads are marked idempotent (an overwrite of the same
//     bytes), so the driver may retry them on another replica after a timeout.
//   - The uploads row is written by lightweight transactions only: INSERT IF
//     NOT EXISTS, UPDATE ... IF version = ? and DELETE ... IF version = ?
//     (chunkstore's compare-and-set on the row's version). Plain writes are
//     never mixed in: their client timestamps would not order with the Paxos
//     ballots, and a condition could then be judged on a state a plain write
//     overwrites. A lost condition, or an LWT that timed out, is answered by
//     a read at SERIAL (LOCAL_SERIAL with LocalDC), which completes any
//     transaction in flight; GetUpload is a plain quorum read that may lag
//     one.
//   - Upload chunks are written and deleted USING TIMESTAMP the writer
//     lease's fence (microseconds, strictly increasing per upload), so a
//     writer that lost its lease can never overwrite or delete a newer
//     holder's chunk, whatever order the writes reach the replicas in.
//   - Consistency is LOCAL_QUORUM by default for everything: a chunk written at
//     LOCAL_QUORUM and read at LOCAL_QUORUM is always seen, which the files row
//     (the commit point) relies on.
//   - ClaimDerived is a lightweight transaction (INSERT ... IF NOT EXISTS at
//     SERIAL/LOCAL_SERIAL) so exactly one edge in the fleet produces a variant.
//     When its coordinator dies or hangs (an error with an unknown outcome)
//     the record is read at SERIAL, which settles any round in flight, and a
//     record holding our own file id counts as won (claim.go).
//   - Node loss (policy.go): token-aware routing with shuffled replicas; the
//     retry policy (Config.Retries, each on the next replica, the first at
//     once) applies only to queries marked idempotent, so no LWT is ever
//     replayed behind the caller's back; idempotent reads are hedged (sent
//     again after Config.SpeculativeDelay without an answer, first answer
//     wins) so a hung node costs a read that delay, not the client timeout.
//   - The files row and the owner index are written in a LOGGED batch; while
//     a lost node is not yet convicted the batchlog cannot be written (in a
//     3-node cluster it must go to both other nodes), and such a batch, of
//     which nothing was applied, is sent again as single statements in an
//     order whose every prefix is harmless (execBatch).
//   - Scans page through the whole table (500 rows a page, the next page
//     prefetched by the driver); they serve the background sweeper only. A
//     scan stopped early by its callback still releases its iterator.
//   - Query strings are constants so gocql's prepared-statement cache hits.
//   - The driver's own log lines (host up/down, reconnects) go to Config.Logger
//     through a small slog adapter; the driver ships adapters for zap and
//     zerolog only.
package cassandra
