package chat

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mediaedge/mediaedge/social/events"
)

// deliverBatch bounds the messages handed to Live in one call when a
// conversation's delivery catches up on many at once.
const deliverBatch = 100

// StartDelivery runs the delivery consumer on bus until the returned
// consumer is closed. Every edge runs one; they share the durable
// consumer, so each send event is handled once (at least once) fleet-wide.
func (s *Service) StartDelivery(ctx context.Context, bus *events.Bus) (*events.Consumer, error) {
	if s.cfg.Live == nil {
		return nil, fmt.Errorf("chat: delivery needs Config.Live")
	}
	cfg := s.cfg.Delivery
	if cfg.Logger == nil {
		cfg.Logger = s.log
	}
	c, err := bus.Consume(ctx, cfg, s.Deliver)
	if err != nil {
		return nil, err
	}
	s.delivery.Store(c)
	return c, nil
}

// admit refuses a send while the fleet's delivery backlog is past
// MaxBacklog. A backlog not read yet (-1) admits.
func (s *Service) admit() error {
	if s.cfg.MaxBacklog <= 0 {
		return nil
	}
	if c := s.delivery.Load(); c != nil && c.Backlog() > s.cfg.MaxBacklog {
		return errOverloaded
	}
	return nil
}

// Deliver is the delivery consumer's handler: it hands the conversation's
// messages up to the event's seq to every member's update stream, in seq
// order, and only then raises the conversation's pushed cursor.
//
// Why this and not the generic fan-out: events reach JetStream in the
// order the relays of several edges publish them, and the fan-out runs
// several at once, so seq 6 could be stored in a user's stream before seq
// 5. Here the cursor says what every member's stream already holds; an
// event for seq N delivers every message from the cursor to N, read from
// the store (seqs have no gaps, so they are all there), in one ordered
// call. An event handled late finds its message already delivered and
// does nothing; two edges delivering the same range at once store each
// update once, because Live de-duplicates by message id and user. A send
// whose event was lost (the process died between the message and its
// event, on Cassandra) is delivered with the next message's event.
//
// Members are read at delivery, not at send: a member removed meanwhile
// is not sent the message, one added meanwhile is.
func (s *Service) Deliver(ctx context.Context, ev events.Event) error {
	var d sentData
	if err := json.Unmarshal(ev.Data, &d); err != nil || d.Conv == 0 || d.Seq < 1 {
		// A malformed event cannot succeed on a retry; drop it loudly.
		s.log.Error("chat: malformed send event", "event", ev.ID, "err", err)
		return nil
	}
	mu := s.stripe(d.Conv)
	mu.Lock()
	defer mu.Unlock()
	pushed, err := s.store.PushedSeq(ctx, d.Conv)
	if err != nil {
		return fmt.Errorf("chat: pushed seq of %d: %w", d.Conv, err)
	}
	for pushed < d.Seq {
		to := min(d.Seq, pushed+deliverBatch)
		msgs, err := s.store.Messages(ctx, d.Conv, pushed+1, to)
		if err != nil {
			return fmt.Errorf("chat: read %d..%d of %d: %w", pushed+1, to, d.Conv, err)
		}
		if int64(len(msgs)) != to-pushed {
			// A seq below one that exists is missing: it is being written
			// (Cassandra claims a seq before the rest of its send). Retry.
			return fmt.Errorf("chat: conversation %d: %d of seqs %d..%d readable", d.Conv, len(msgs), pushed+1, to)
		}
		members, err := s.memberIDs(ctx, d.Conv)
		if err != nil {
			return err
		}
		evs := make([]events.Event, len(msgs))
		for i, m := range msgs {
			data, err := json.Marshal(toMessageJSON(m))
			if err != nil {
				return fmt.Errorf("chat: encode message %d: %w", m.ID, err)
			}
			evs[i] = events.Event{ID: m.ID, Kind: "message", Actor: m.Sender, To: members, Data: data, At: m.SentAt}
		}
		if err := s.cfg.Live.Deliver(ctx, evs); err != nil {
			return err
		}
		if err := s.store.RaisePushed(ctx, d.Conv, to); err != nil {
			return fmt.Errorf("chat: raise pushed seq of %d: %w", d.Conv, err)
		}
		pushed = to
	}
	return nil
}
