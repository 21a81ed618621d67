package pebblestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mediaedge/mediaedge/social/chat"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/pebblekv"
)

type msgRow struct {
	ID          int64     `json:"id"`
	Sender      int64     `json:"sender"`
	ClientMsgID string    `json:"client_msg_id"`
	Text        string    `json:"text"`
	Media       []string  `json:"media"`
	ReplyTo     int64     `json:"reply_to"`
	SentAt      time.Time `json:"sent_at"`
	EditedAt    time.Time `json:"edited_at"`
	Deleted     bool      `json:"deleted"`
	// DeletedAt is kept for audits; chat.Message has no field for it.
	DeletedAt time.Time `json:"deleted_at,omitzero"`
}

// clientRow is the client message id index: which seq a client id became.
type clientRow struct {
	Seq int64 `json:"seq"`
}

type pinRow struct {
	By       int64     `json:"by"`
	PinnedAt time.Time `json:"pinned_at"`
}

type pushedRow struct {
	Seq int64 `json:"seq"`
}

func toMsgRow(m chat.Message) msgRow {
	return msgRow{ID: m.ID, Sender: m.Sender, ClientMsgID: m.ClientMsgID, Text: m.Text, Media: m.Media,
		ReplyTo: m.ReplyTo, SentAt: m.SentAt, EditedAt: m.EditedAt, Deleted: m.Deleted}
}

func fromMsgRow(conv, seq int64, r msgRow) chat.Message {
	return chat.Message{Conv: conv, Seq: seq, ID: r.ID, Sender: r.Sender, ClientMsgID: r.ClientMsgID, Text: r.Text,
		Media: r.Media, ReplyTo: r.ReplyTo, SentAt: r.SentAt, EditedAt: r.EditedAt, Deleted: r.Deleted}
}

// message reads one message row; ErrNotFound (unwrapped).
func (s *Store) message(conv, seq int64) (msgRow, error) {
	var r msgRow
	found, err := s.db.Get(pebblekv.Key(pMsg, conv, seq), &r)
	if err != nil {
		return msgRow{}, err
	}
	if !found {
		return msgRow{}, chat.ErrNotFound
	}
	return r, nil
}

// Send appends m at the conversation's LastSeq+1 under its mutex, or
// returns the message a retry of the same client id already made.
func (s *Store) Send(ctx context.Context, m chat.Message, ev chat.EventFunc) (chat.Message, bool, error) {
	if err := ctx.Err(); err != nil {
		return chat.Message{}, false, err
	}
	defer s.stripes.Lock(m.Conv)()
	// An empty client id has nothing to de-duplicate on: every such send
	// is a new message.
	var ck []byte
	if m.ClientMsgID != "" {
		ck = keyStr(pClient, m.ClientMsgID, m.Conv, m.Sender)
		var c clientRow
		found, err := s.db.Get(ck, &c)
		if err != nil {
			return chat.Message{}, false, fmt.Errorf("send to %d: read client id %q: %w", m.Conv, m.ClientMsgID, err)
		}
		if found {
			r, err := s.message(m.Conv, c.Seq)
			if err != nil {
				return chat.Message{}, false, fmt.Errorf("send to %d: read message %d of client id %q: %w", m.Conv, c.Seq, m.ClientMsgID, err)
			}
			return fromMsgRow(m.Conv, c.Seq, r), false, nil
		}
	}
	cv, err := s.conv(m.Conv)
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("send to %d: %w", m.Conv, err)
	}
	m.Seq = cv.LastSeq + 1
	cv.LastSeq, cv.LastAt, cv.LastSender, cv.LastPreview = m.Seq, m.SentAt, m.Sender, chat.Preview(m.Text)

	b := s.db.NewBatch()
	defer b.Close()
	b.Set(pebblekv.Key(pMsg, m.Conv, m.Seq), toMsgRow(m))
	if ck != nil {
		b.Set(ck, clientRow{Seq: m.Seq})
	}
	b.Set(pebblekv.Key(pConv, m.Conv), cv)
	for _, id := range m.Media {
		b.Mark(keyStr(pMedia, id, m.Conv))
	}
	// The sender has seen what they sent. The store does not check
	// membership (the service does): a sender with no row gets none.
	if mr, err := s.member(m.Conv, m.Sender); err == nil {
		mr.ReadSeq, mr.DeliveredSeq = max(mr.ReadSeq, m.Seq), max(mr.DeliveredSeq, m.Seq)
		b.Set(pebblekv.Key(pMember, m.Conv, m.Sender), mr)
	} else if !errors.Is(err, chat.ErrNotMember) {
		return chat.Message{}, false, fmt.Errorf("send to %d: read sender %d: %w", m.Conv, m.Sender, err)
	}
	if err := addEvent(b, ev, m); err != nil {
		return chat.Message{}, false, fmt.Errorf("send to %d: %w", m.Conv, err)
	}
	if err := b.Commit(); err != nil {
		return chat.Message{}, false, fmt.Errorf("send to %d: %w", m.Conv, err)
	}
	return m, true, nil
}

// addEvent builds m's event and adds it to b.
func addEvent(b *pebblekv.Batch, ev chat.EventFunc, m chat.Message) error {
	if ev == nil {
		return nil
	}
	e, err := ev(m)
	if err != nil {
		return fmt.Errorf("build event of message %d: %w", m.Seq, err)
	}
	b.Event(e)
	return nil
}

// Messages reads conv's messages with from <= seq <= to.
func (s *Store) Messages(ctx context.Context, conv, from, to int64) ([]chat.Message, error) {
	from = max(from, 0)
	if to < from {
		return nil, nil
	}
	var out []chat.Message
	// Message keys are all the same length, so the key of to with one more
	// byte sorts after it and before to+1 (which may not exist: MaxInt64).
	upper := append(pebblekv.Key(pMsg, conv, to), 0)
	err := s.db.Scan(ctx, pebblekv.Key(pMsg, conv, from), upper, func(k, v []byte) (bool, error) {
		var r msgRow
		if err := json.Unmarshal(v, &r); err != nil {
			return false, fmt.Errorf("decode %q: %w", k, err)
		}
		out = append(out, fromMsgRow(conv, pebblekv.LastID(k), r))
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("messages %d..%d of %d: %w", from, to, conv, err)
	}
	return out, nil
}

// GetMessage reads one message.
func (s *Store) GetMessage(ctx context.Context, conv, seq int64) (chat.Message, error) {
	if err := ctx.Err(); err != nil {
		return chat.Message{}, err
	}
	r, err := s.message(conv, seq)
	if err != nil {
		return chat.Message{}, fmt.Errorf("get message %d of %d: %w", seq, conv, err)
	}
	return fromMsgRow(conv, seq, r), nil
}

// EditMessage rewrites a message's text and media under the
// conversation's mutex, so it cannot interleave with a delete. The new
// media are recorded as used in conv, as a send's are: every member now
// sees them there.
func (s *Store) EditMessage(ctx context.Context, conv, seq, sender int64, text string, media []string, at time.Time, ev chat.EventFunc) (chat.Message, error) {
	if err := ctx.Err(); err != nil {
		return chat.Message{}, err
	}
	defer s.stripes.Lock(conv)()
	r, err := s.message(conv, seq)
	switch {
	case err != nil:
	case r.Deleted:
		err = chat.ErrDeleted
	case r.Sender != sender:
		err = chat.ErrNotSender
	}
	if err != nil {
		return chat.Message{}, fmt.Errorf("edit message %d of %d: %w", seq, conv, err)
	}
	r.Text, r.Media, r.EditedAt = text, media, at
	m := fromMsgRow(conv, seq, r)
	b := s.db.NewBatch()
	defer b.Close()
	b.Set(pebblekv.Key(pMsg, conv, seq), r)
	for _, id := range media {
		b.Mark(keyStr(pMedia, id, conv))
	}
	if err := addEvent(b, ev, m); err != nil {
		return chat.Message{}, fmt.Errorf("edit message %d of %d: %w", seq, conv, err)
	}
	if err := b.Commit(); err != nil {
		return chat.Message{}, fmt.Errorf("edit message %d of %d: %w", seq, conv, err)
	}
	return m, nil
}

// DeleteMessage blanks a message for everyone, keeping its seq.
func (s *Store) DeleteMessage(ctx context.Context, conv, seq int64, at time.Time, ev events.Event) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	defer s.stripes.Lock(conv)()
	r, err := s.message(conv, seq)
	if err != nil {
		return false, fmt.Errorf("delete message %d of %d: %w", seq, conv, err)
	}
	if r.Deleted {
		return false, nil
	}
	r.Deleted, r.Text, r.Media, r.DeletedAt = true, "", []string{}, at
	b := s.db.NewBatch()
	b.Set(pebblekv.Key(pMsg, conv, seq), r)
	b.Event(ev)
	if err := b.Commit(); err != nil {
		return false, fmt.Errorf("delete message %d of %d: %w", seq, conv, err)
	}
	return true, nil
}

// toggle writes (on) or deletes a key under conv's mutex with ev, when
// that changes whether it exists.
func (s *Store) toggle(ctx context.Context, conv int64, k []byte, on bool, v any, ev events.Event) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	defer s.stripes.Lock(conv)()
	exists, err := s.db.Get(k, nil)
	if err != nil || exists == on {
		return false, err
	}
	b := s.db.NewBatch()
	switch {
	case !on:
		b.Delete(k)
	case v == nil:
		b.Mark(k)
	default:
		b.Set(k, v)
	}
	b.Event(ev)
	return true, b.Commit()
}

// HideMessage hides a message for one user.
func (s *Store) HideMessage(ctx context.Context, conv, user, seq int64, ev events.Event) (bool, error) {
	changed, err := s.toggle(ctx, conv, pebblekv.Key(pHide, conv, user, seq), true, nil, ev)
	if err != nil {
		return false, fmt.Errorf("hide message %d of %d for %d: %w", seq, conv, user, err)
	}
	return changed, nil
}

// Hidden reads which seqs in [from, to] user has hidden.
func (s *Store) Hidden(ctx context.Context, conv, user, from, to int64) (map[int64]bool, error) {
	out := map[int64]bool{}
	from = max(from, 0)
	if to < from {
		return out, nil
	}
	upper := append(pebblekv.Key(pHide, conv, user, to), 0) // as in Messages
	err := s.db.Scan(ctx, pebblekv.Key(pHide, conv, user, from), upper, func(k, _ []byte) (bool, error) {
		out[pebblekv.LastID(k)] = true
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("hidden %d..%d of %d for %d: %w", from, to, conv, user, err)
	}
	return out, nil
}

// Pin pins a message.
func (s *Store) Pin(ctx context.Context, conv int64, p chat.Pin, ev events.Event) (bool, error) {
	changed, err := s.toggle(ctx, conv, pebblekv.Key(pPin, conv, p.Seq), true, pinRow{By: p.By, PinnedAt: p.PinnedAt}, ev)
	if err != nil {
		return false, fmt.Errorf("pin message %d of %d: %w", p.Seq, conv, err)
	}
	return changed, nil
}

// Unpin unpins a message.
func (s *Store) Unpin(ctx context.Context, conv, seq int64, ev events.Event) (bool, error) {
	changed, err := s.toggle(ctx, conv, pebblekv.Key(pPin, conv, seq), false, nil, ev)
	if err != nil {
		return false, fmt.Errorf("unpin message %d of %d: %w", seq, conv, err)
	}
	return changed, nil
}

// Pins lists a conversation's pins in seq order.
func (s *Store) Pins(ctx context.Context, conv int64) ([]chat.Pin, error) {
	var out []chat.Pin
	prefix := pebblekv.Key(pPin, conv)
	err := s.db.Scan(ctx, prefix, pebblekv.PrefixEnd(prefix), func(k, v []byte) (bool, error) {
		var r pinRow
		if err := json.Unmarshal(v, &r); err != nil {
			return false, fmt.Errorf("decode %q: %w", k, err)
		}
		out = append(out, chat.Pin{Seq: pebblekv.LastID(k), By: r.By, PinnedAt: r.PinnedAt})
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("pins of %d: %w", conv, err)
	}
	return out, nil
}

// MediaUsed reports whether media was sent in conv.
func (s *Store) MediaUsed(ctx context.Context, conv int64, media string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	used, err := s.db.Get(keyStr(pMedia, media, conv), nil)
	if err != nil {
		return false, fmt.Errorf("media %q used in %d: %w", media, conv, err)
	}
	return used, nil
}

// PushedSeq reads the live delivery cursor; 0 before the first advance.
func (s *Store) PushedSeq(ctx context.Context, conv int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var r pushedRow
	if _, err := s.db.Get(pebblekv.Key(pPushed, conv), &r); err != nil {
		return 0, fmt.Errorf("pushed seq of %d: %w", conv, err)
	}
	return r.Seq, nil
}

// RaisePushed raises the cursor under conv's mutex.
func (s *Store) RaisePushed(ctx context.Context, conv, seq int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer s.stripes.Lock(conv)()
	var r pushedRow
	if _, err := s.db.Get(pebblekv.Key(pPushed, conv), &r); err != nil {
		return fmt.Errorf("raise pushed seq of %d: %w", conv, err)
	}
	if seq <= r.Seq {
		return nil
	}
	b := s.db.NewBatch()
	b.Set(pebblekv.Key(pPushed, conv), pushedRow{Seq: seq})
	// Not synced: the cursor only saves work. Lost in a power cut, it
	// is behind, and the messages after it are delivered again, which the
	// update streams drop as duplicates (Live de-duplicates by message and
	// user). An fsync per delivered message capped delivery near 1.2k/s.
	if err := b.CommitNoSync(); err != nil {
		return fmt.Errorf("raise pushed seq of %d: %w", conv, err)
	}
	return nil
}
