package events

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Event is one social write as consumers (feed fan-out, notifications, live
// push) see it. It is written to the outbox in the same store batch as the
// data it describes, so it exists if and only if the write does; the relay
// then publishes it to JetStream with ID as the Nats-Msg-Id, so a crash
// between publish and outbox delete re-publishes a duplicate that JetStream
// drops, never loses one.
type Event struct {
	// ID is the event's 64-bit time-ordered id (social/ids), decimal in
	// JSON. It orders events and de-duplicates them end to end.
	ID int64 `json:"id,string"`
	// Kind names what happened: "user.created", "follow", "unfollow",
	// "block", "unblock", "profile.updated", ...
	Kind string `json:"kind"`
	// Actor is the user who did it.
	Actor int64 `json:"actor,string"`
	// To are the users whose update stream receives the event (the live
	// push fan-out); empty for events no user is told about.
	To []int64 `json:"to,omitempty"`
	// Data is the kind's payload.
	Data json.RawMessage `json:"data,omitempty"`
	// At is when the write happened.
	At time.Time `json:"at"`
}

// Encode is the event's stored and published form.
func Encode(e Event) ([]byte, error) { return json.Marshal(e) }

// Decode reads an encoded event.
func Decode(b []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return Event{}, fmt.Errorf("decode event: %w", err)
	}
	return e, nil
}

// MsgID is the JetStream de-duplication id of an event.
func (e Event) MsgID() string { return strconv.FormatInt(e.ID, 10) }

// The outbox is stored beside the data, in each backend's own form. Writers
// of social data add the event to the same batch as the data:
//
//	Pebble:    key OutboxKey(ev.ID), value Encode(ev), in the same *pebble.Batch.
//	Cassandra: INSERT INTO outbox (shard, id, event) VALUES (OutboxShard(ev.ID), ev.ID, Encode(ev))
//	           in the same LOGGED batch as the data (atomic: both or neither
//	           are applied, eventually, even if the coordinator dies).
//
// The relay owns the outbox: it reads it in id order, publishes, and
// deletes what JetStream acknowledged.

// OutboxPrefix starts every outbox key in the embedded (Pebble) store.
const OutboxPrefix = "outbox/"

// OutboxKey is the Pebble key of an event in the outbox: the prefix and the
// big-endian id, so keys sort in id (time) order.
func OutboxKey(id int64) []byte {
	k := make([]byte, len(OutboxPrefix)+8)
	copy(k, OutboxPrefix)
	binary.BigEndian.PutUint64(k[len(OutboxPrefix):], uint64(id))
	return k
}

// OutboxShards is how many Cassandra partitions the outbox is spread over,
// so no partition grows without bound while the relay is behind.
const OutboxShards = 16

// OutboxShard is the Cassandra outbox partition of an event.
func OutboxShard(id int64) int { return int(uint64(id) % OutboxShards) }
