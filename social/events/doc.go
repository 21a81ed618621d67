// Package events is the social tier's event backbone: every social write
// appends an Event to an outbox in the same store batch as the data, a relay
// publishes the outbox to NATS JetStream (embedded in the binary by default,
// an external cluster with --nats-url), and consumers read durable streams
// at least once through idempotent handlers, with a dead-letter after
// repeated failures.
package events
