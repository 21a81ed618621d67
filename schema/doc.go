// Package schema holds mediaedge's CQL and the runner that applies it.
//
// Migrations are numbered .cql files embedded in the binary (cql/NNNN_name.cql);
// statements are separated by ";" at the end of a line and name their tables as
// {{ks}}.table, replaced by the configured keyspace. Apply creates the keyspace
// with the requested replication, then runs every migration not yet recorded in
// {{ks}}.schema_migrations, recording each with its checksum. Applying twice is a
// no-op: the second run finds every version recorded and returns nothing. A
// recorded migration whose file changed is an error (ErrChecksum), because a
// migration that already ran on a cluster must never be edited in place.
//
// Every statement is IF NOT EXISTS, so a migration interrupted half-way is safe
// to run again; Apply waits for schema agreement after each DDL statement, since
// a statement that reaches a node before the previous one has propagated fails.
package schema
