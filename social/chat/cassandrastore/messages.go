package cassandrastore

import (
	"context"
	"fmt"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/mediaedge/mediaedge/social/chat"
	"github.com/mediaedge/mediaedge/social/cqlrows"
	"github.com/mediaedge/mediaedge/social/events"
)

// Every write of chat_messages is a lightweight transaction (see the CQL).
const (
	msgCols      = `seq, msg_id, sender, client_msg_id, text, media, reply_to, sent_at, edited_at, deleted`
	qClaimMsg    = `INSERT INTO chat_messages (conv_id, bucket, ` + msgCols + `, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, false, ?) IF NOT EXISTS`
	qGetMsg      = `SELECT ` + msgCols + ` FROM chat_messages WHERE conv_id = ? AND bucket = ? AND seq = ?`
	qMsgRange    = `SELECT ` + msgCols + ` FROM chat_messages WHERE conv_id = ? AND bucket = ? AND seq >= ? AND seq <= ?`
	qMaxSeq      = `SELECT seq FROM chat_messages WHERE conv_id = ? AND bucket = ? ORDER BY seq DESC LIMIT 1`
	qEditMsg     = `UPDATE chat_messages SET text = ?, media = ?, edited_at = ? WHERE conv_id = ? AND bucket = ? AND seq = ? IF deleted = false AND sender = ?`
	qDeleteMsg   = `UPDATE chat_messages SET deleted = true, text = '', media = [], deleted_at = ? WHERE conv_id = ? AND bucket = ? AND seq = ? IF deleted = false`
	qOrphanMsg   = `UPDATE chat_messages SET deleted = true, text = '', media = [], deleted_at = ? WHERE conv_id = ? AND bucket = ? AND seq = ? IF msg_id = ? AND deleted = false`
	qPutMedia    = `INSERT INTO chat_media (conv_id, media_id) VALUES (?, ?)`
	qGetMedia    = `SELECT media_id FROM chat_media WHERE conv_id = ? AND media_id = ?`
	qGetHidden   = `SELECT seq FROM chat_hidden WHERE conv_id = ? AND user_id = ? AND seq = ?`
	qPutHidden   = `INSERT INTO chat_hidden (conv_id, user_id, seq) VALUES (?, ?, ?)`
	qHidden      = `SELECT seq FROM chat_hidden WHERE conv_id = ? AND user_id = ? AND seq >= ? AND seq <= ?`
	qGetPin      = `SELECT seq FROM chat_pins WHERE conv_id = ? AND seq = ?`
	qPutPin      = `INSERT INTO chat_pins (conv_id, seq, pinned_by, pinned_at) VALUES (?, ?, ?, ?)`
	qDelPin      = `DELETE FROM chat_pins WHERE conv_id = ? AND seq = ?`
	qPins        = `SELECT seq, pinned_by, pinned_at FROM chat_pins WHERE conv_id = ?`
	qGetPushed   = `SELECT seq FROM chat_pushed WHERE conv_id = ?`
	qRaisePushed = `UPDATE chat_pushed USING TIMESTAMP ? SET seq = ? WHERE conv_id = ?`
)

func bucketOf(seq int64) int64 { return seq / BucketSize }

// lastOf is the highest seq of bucket b.
func lastOf(b int64) int64 { return b*BucketSize + BucketSize - 1 }

// scanMsg scans the columns of msgCols.
func scanMsg(sc interface{ Scan(...any) bool }, conv int64) (chat.Message, bool) {
	m := chat.Message{Conv: conv}
	ok := sc.Scan(&m.Seq, &m.ID, &m.Sender, &m.ClientMsgID, &m.Text, &m.Media, &m.ReplyTo, &m.SentAt, &m.EditedAt, &m.Deleted)
	m.Media = unlist(m.Media)
	return m, ok
}

// message reads one message with q (plain or serial); ErrNotFound.
func (s *Store) message(ctx context.Context, q *gocql.Query, conv int64) (chat.Message, error) {
	it := q.IterContext(ctx)
	m, ok := scanMsg(it, conv)
	if err := it.Close(); err != nil {
		return chat.Message{}, err
	}
	if !ok {
		return chat.Message{}, chat.ErrNotFound
	}
	return m, nil
}

// GetMessage reads one message.
func (s *Store) GetMessage(ctx context.Context, conv, seq int64) (chat.Message, error) {
	m, err := s.message(ctx, s.s.Query(qGetMsg, conv, bucketOf(seq), seq).Idempotent(true), conv)
	if err != nil {
		return chat.Message{}, fmt.Errorf("get message %d of %d: %w", seq, conv, err)
	}
	return m, nil
}

// Messages reads bucket after bucket. Seqs are gap-free, so a bucket whose
// last seq is absent is the last one holding anything: the walk stops
// there even when to is far beyond the tail.
func (s *Store) Messages(ctx context.Context, conv, from, to int64) ([]chat.Message, error) {
	from = max(from, 0)
	var out []chat.Message
	for b := bucketOf(from); from <= to; b++ {
		hi := min(to, lastOf(b))
		it := s.s.Query(qMsgRange, conv, b, from, hi).Idempotent(true).IterContext(ctx)
		full := false
		for {
			m, ok := scanMsg(it, conv)
			if !ok {
				break
			}
			out = append(out, m)
			full = m.Seq == lastOf(b)
		}
		if err := it.Close(); err != nil {
			return nil, fmt.Errorf("messages %d..%d of %d: %w", from, to, conv, err)
		}
		if !full || hi == to {
			break
		}
		from = hi + 1
	}
	return out, nil
}

// EditMessage is one compare-and-set on the message row (IF deleted =
// false AND sender = ?), so an edit racing a delete either lands before it
// (and the delete blanks it) or fails with ErrDeleted: never a resurrected
// text. The event (and the new media's chat_media rows) follow in a LOGGED
// batch of their own: a crash between the two leaves the edit without its
// event, which a retry of the edit (the same compare-and-set applies
// again) writes.
func (s *Store) EditMessage(ctx context.Context, conv, seq, sender int64, text string, media []string, at time.Time, ev chat.EventFunc) (chat.Message, error) {
	at = ms(at)
	prev := map[string]any{}
	// Idempotent: applying the same values twice is applying them once.
	applied, err := cqlrows.CAS(ctx, s.s, s.cfg.Serial, prev, true, qEditMsg, text, list(media), at, conv, bucketOf(seq), seq, sender)
	if err != nil {
		return chat.Message{}, fmt.Errorf("edit message %d of %d: %w", seq, conv, err)
	}
	if !applied {
		was, _ := prev["sender"].(int64)
		deleted, _ := prev["deleted"].(bool)
		switch {
		case was == 0: // no row: the condition read nulls
			err = chat.ErrNotFound
		case deleted:
			err = chat.ErrDeleted
		default:
			err = chat.ErrNotSender
		}
		return chat.Message{}, fmt.Errorf("edit message %d of %d: %w", seq, conv, err)
	}
	// The immutable columns, and our edit over them: a read now might
	// already show a delete that came after it.
	m, err := s.GetMessage(ctx, conv, seq)
	if err != nil {
		return chat.Message{}, fmt.Errorf("edit message: read back: %w", err)
	}
	m.Text, m.Media, m.EditedAt, m.Deleted = text, unlist(media), at, false
	b := cqlrows.NewBatch(s.s)
	for _, id := range media {
		b.Add(qPutMedia, conv, id)
	}
	if ev != nil {
		e, err := ev(m)
		if err != nil {
			return chat.Message{}, fmt.Errorf("edit message %d of %d: build event: %w", seq, conv, err)
		}
		b.Event(e)
	}
	if err := b.Exec(ctx); err != nil {
		return chat.Message{}, fmt.Errorf("edit message %d of %d: write event (the edit is applied): %w", seq, conv, err)
	}
	return m, nil
}

// DeleteMessage blanks the row with one compare-and-set (IF deleted =
// false), then writes ev alone. A crash between the two loses the event,
// and a retry finds the message deleted (changed=false): consumers learn
// of it when they next read the history. It is not marked idempotent: a
// driver retry of an applied delete would answer changed=false and lose
// the event the same way.
func (s *Store) DeleteMessage(ctx context.Context, conv, seq int64, at time.Time, ev events.Event) (bool, error) {
	prev := map[string]any{}
	applied, err := cqlrows.CAS(ctx, s.s, s.cfg.Serial, prev, false, qDeleteMsg, ms(at), conv, bucketOf(seq), seq)
	if err != nil {
		return false, fmt.Errorf("delete message %d of %d: %w", seq, conv, err)
	}
	if !applied {
		if deleted, _ := prev["deleted"].(bool); deleted {
			return false, nil
		}
		return false, fmt.Errorf("delete message %d of %d: %w", seq, conv, chat.ErrNotFound)
	}
	b := cqlrows.NewBatch(s.s)
	b.Event(ev)
	if err := b.Exec(ctx); err != nil {
		return true, fmt.Errorf("delete message %d of %d: write event (the delete is applied): %w", seq, conv, err)
	}
	return true, nil
}

// Hides and pins are cqlrows.Toggle: a point read, then the row and its
// event in one LOGGED batch. Two requests racing past the read both write,
// and both events go out: the rows are the same, and so is what the events
// say.

// HideMessage hides a message for one user.
func (s *Store) HideMessage(ctx context.Context, conv, user, seq int64, ev events.Event) (bool, error) {
	k := []any{conv, user, seq}
	changed, err := cqlrows.Toggle(ctx, s.s, true, qGetHidden, k, qPutHidden, k, ev)
	if err != nil {
		return false, fmt.Errorf("hide message %d of %d for %d: %w", seq, conv, user, err)
	}
	return changed, nil
}

// Hidden reads which seqs in [from, to] user has hidden.
func (s *Store) Hidden(ctx context.Context, conv, user, from, to int64) (map[int64]bool, error) {
	out := map[int64]bool{}
	it := s.s.Query(qHidden, conv, user, from, to).Idempotent(true).IterContext(ctx)
	var seq int64
	for it.Scan(&seq) {
		out[seq] = true
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("hidden %d..%d of %d for %d: %w", from, to, conv, user, err)
	}
	return out, nil
}

// Pin pins a message.
func (s *Store) Pin(ctx context.Context, conv int64, p chat.Pin, ev events.Event) (bool, error) {
	changed, err := cqlrows.Toggle(ctx, s.s, true, qGetPin, []any{conv, p.Seq}, qPutPin, []any{conv, p.Seq, p.By, ms(p.PinnedAt)}, ev)
	if err != nil {
		return false, fmt.Errorf("pin message %d of %d: %w", p.Seq, conv, err)
	}
	return changed, nil
}

// Unpin unpins a message.
func (s *Store) Unpin(ctx context.Context, conv, seq int64, ev events.Event) (bool, error) {
	k := []any{conv, seq}
	changed, err := cqlrows.Toggle(ctx, s.s, false, qGetPin, k, qDelPin, k, ev)
	if err != nil {
		return false, fmt.Errorf("unpin message %d of %d: %w", seq, conv, err)
	}
	return changed, nil
}

// Pins lists a conversation's pins in seq order.
func (s *Store) Pins(ctx context.Context, conv int64) ([]chat.Pin, error) {
	it := s.s.Query(qPins, conv).Idempotent(true).IterContext(ctx)
	var out []chat.Pin
	var p chat.Pin
	for it.Scan(&p.Seq, &p.By, &p.PinnedAt) {
		out = append(out, p)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("pins of %d: %w", conv, err)
	}
	return out, nil
}

// MediaUsed reports whether media was sent in conv.
func (s *Store) MediaUsed(ctx context.Context, conv int64, media string) (bool, error) {
	used, err := cqlrows.Exists(ctx, s.s, qGetMedia, conv, media)
	if err != nil {
		return false, fmt.Errorf("media %q used in %d: %w", media, conv, err)
	}
	return used, nil
}

// PushedSeq reads the live delivery cursor; 0 before the first advance.
func (s *Store) PushedSeq(ctx context.Context, conv int64) (int64, error) {
	var seq int64
	if _, err := cqlrows.Read(ctx, s.s, qGetPushed, []any{conv}, &seq); err != nil {
		return 0, fmt.Errorf("pushed seq of %d: %w", conv, err)
	}
	return seq, nil
}

// RaisePushed writes the cursor's cell USING TIMESTAMP seq: the highest
// seq wins whatever order the writes land in, with no lightweight
// transaction on the delivery path (one per delivered batch). Idempotent.
func (s *Store) RaisePushed(ctx context.Context, conv, seq int64) error {
	if err := s.s.Query(qRaisePushed, seq, seq, conv).Idempotent(true).ExecContext(ctx); err != nil {
		return fmt.Errorf("raise pushed seq of %d: %w", conv, err)
	}
	return nil
}
