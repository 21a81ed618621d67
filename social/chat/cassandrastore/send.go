package cassandrastore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/mediaedge/mediaedge/social/chat"
	"github.com/mediaedge/mediaedge/social/cqlrows"
	"github.com/mediaedge/mediaedge/social/events"
)

// The send protocol's statements (see the package doc). chat_sends is
// written by lightweight transactions only, each rewriting every column
// USING TTL so that the row's cells expire together.
const (
	sendKey      = ` WHERE conv_id = ? AND sender = ? AND client_msg_id = ?`
	qSendPending = `INSERT INTO chat_sends (conv_id, sender, client_msg_id, msg_id, attempt, hint, deadline, seq, event) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?) IF NOT EXISTS USING TTL ?`
	qSendSet     = `UPDATE chat_sends USING TTL ? SET msg_id = ?, attempt = ?, hint = ?, deadline = ?, seq = ?, event = ?` + sendKey + ` IF attempt = ? AND seq = 0`
	qSendGet     = `SELECT msg_id, attempt, hint, deadline, seq, event FROM chat_sends` + sendKey
	qSendDone    = `INSERT INTO chat_sends_done (conv_id, sender, client_msg_id, seq) VALUES (?, ?, ?, ?) USING TTL ?`
	qSendIsDone  = `SELECT seq FROM chat_sends_done` + sendKey
	qRaiseTail   = `UPDATE chat_tails USING TIMESTAMP ? SET last_seq = ?, last_at = ?, last_sender = ?, last_preview = ? WHERE conv_id = ?`
	qRaiseOwn    = `UPDATE chat_marks USING TIMESTAMP ? SET read_seq = ?, delivered_seq = ? WHERE conv_id = ? AND user_id = ?`
	qScanMsgs    = `SELECT ` + msgCols + ` FROM chat_messages WHERE conv_id = ? AND bucket = ? AND seq >= ?`
)

// missesBeforeMax is how many seqs a claim tries one after the other
// before it reads the true end of the history: a stale hint costs a few
// Paxos rounds, not one per message behind.
const missesBeforeMax = 3

// maxRounds bounds how often Send re-reads a chat_sends row that another
// request changed under it before it answers ErrBusy.
const maxRounds = 5

// sendRow is a chat_sends row. seq 0: an attempt in flight until deadline;
// seq > 0: the message's seq, with event its encoded event.
type sendRow struct {
	msgID, attempt, hint, seq int64
	deadline                  time.Time
	event                     []byte
}

func sendRowOf(m map[string]any) sendRow {
	var r sendRow
	r.msgID, _ = m["msg_id"].(int64)
	r.attempt, _ = m["attempt"].(int64)
	r.hint, _ = m["hint"].(int64)
	r.seq, _ = m["seq"].(int64)
	r.deadline, _ = m["deadline"].(time.Time)
	r.event, _ = m["event"].([]byte)
	return r
}

// sender is one Send call: the message (Seq unknown until claimed) and
// where its chat_sends row is.
type sender struct {
	s   *Store
	m   chat.Message
	ev  chat.EventFunc
	key []any // conv_id, sender, client_msg_id
	ttl int
}

// Send appends m; see the package doc for the protocol.
func (s *Store) Send(ctx context.Context, m chat.Message, ev chat.EventFunc) (chat.Message, bool, error) {
	m.Seq, m.SentAt, m.EditedAt, m.Deleted = 0, ms(m.SentAt), time.Time{}, false
	m.Media = unlist(m.Media)
	c, err := s.GetConversation(ctx, m.Conv)
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("send: %w", err)
	}
	x := &sender{s: s, m: m, ev: ev, key: []any{m.Conv, m.Sender, m.ClientMsgID}, ttl: int(s.cfg.SendTTL / time.Second)}
	var stored chat.Message
	var created bool
	if m.ClientMsgID == "" {
		// Nothing to de-duplicate on: claim and finalize, no chat_sends row.
		stored, created, err = x.once(ctx, c.LastSeq)
	} else {
		stored, created, err = x.run(ctx, c.LastSeq)
	}
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("send %q of %d to %d: %w", m.ClientMsgID, m.Sender, m.Conv, err)
	}
	return stored, created, nil
}

func (x *sender) once(ctx context.Context, hint int64) (chat.Message, bool, error) {
	cctx, cancel := context.WithTimeout(ctx, x.s.cfg.SendTimeout)
	defer cancel()
	msg, err := x.claim(cctx, hint, x.m.ID)
	if err != nil {
		return chat.Message{}, false, err
	}
	blob, err := x.event(msg)
	if err != nil {
		return chat.Message{}, false, err
	}
	return msg, true, x.finalize(ctx, msg, blob, false)
}

// run is the idempotent send: own the chat_sends row (fresh, or taken
// over from a dead attempt), or answer from it.
func (x *sender) run(ctx context.Context, hint int64) (chat.Message, bool, error) {
	attempt := randomAttempt()
	deadline := time.Now().Add(x.s.cfg.SendTimeout)
	prev := map[string]any{}
	applied, err := cqlrows.CAS(ctx, x.s.s, x.s.cfg.Serial, prev, true, qSendPending,
		append(x.key, x.m.ID, attempt, hint, deadline, []byte{}, x.ttl)...)
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("register client id: %w", err)
	}
	row := sendRowOf(prev)
	for round := 0; !applied && row.attempt != attempt; round++ {
		if round == maxRounds {
			return chat.Message{}, false, fmt.Errorf("client id keeps changing hands: %w", chat.ErrBusy)
		}
		switch {
		case row.seq > 0:
			return x.finish(ctx, row)
		case time.Now().Before(row.deadline):
			return chat.Message{}, false, fmt.Errorf("an attempt is in flight until %v: %w", row.deadline.Format(time.RFC3339Nano), chat.ErrBusy)
		}
		// The attempt that owns the row is past its deadline: it died, or
		// will never start another claim. Did it claim a seq?
		msg, found, err := x.find(ctx, row.hint, row.msgID)
		if err != nil {
			return chat.Message{}, false, err
		}
		if found {
			// Finalize it for the dead attempt, keeping its attempt id.
			blob, err := x.event(msg)
			if err != nil {
				return chat.Message{}, false, err
			}
			ok, err := cqlrows.CAS(ctx, x.s.s, x.s.cfg.Serial, nil, false, qSendSet,
				append([]any{x.ttl, row.msgID, row.attempt, row.hint, row.deadline, msg.Seq, blob}, append(x.key, row.attempt)...)...)
			if err != nil {
				return chat.Message{}, false, fmt.Errorf("finalize a dead attempt's message %d: %w", msg.Seq, err)
			}
			if ok {
				return msg, true, x.finalize(ctx, msg, blob, true)
			}
		} else {
			// Take the row over with a new attempt.
			if c, err := x.s.GetConversation(ctx, x.m.Conv); err == nil {
				hint = c.LastSeq
			}
			deadline = time.Now().Add(x.s.cfg.SendTimeout)
			ok, err := cqlrows.CAS(ctx, x.s.s, x.s.cfg.Serial, nil, false, qSendSet,
				append([]any{x.ttl, x.m.ID, attempt, hint, deadline, int64(0), []byte{}}, append(x.key, row.attempt)...)...)
			if err != nil {
				return chat.Message{}, false, fmt.Errorf("take over a dead attempt: %w", err)
			}
			if ok {
				break
			}
		}
		// Another request changed the row first: read it again.
		if row, err = x.get(ctx); err != nil {
			return chat.Message{}, false, err
		}
	}
	return x.own(ctx, attempt, hint, deadline)
}

// own claims a seq for the attempt that owns the chat_sends row, then
// records it there and finalizes.
func (x *sender) own(ctx context.Context, attempt, hint int64, deadline time.Time) (chat.Message, bool, error) {
	// No claim may start after deadline - ClaimMargin: from the deadline
	// on, a retry reads the history to learn whether this attempt claimed.
	cctx, cancel := context.WithDeadline(ctx, deadline.Add(-x.s.cfg.ClaimMargin))
	msg, err := x.claim(cctx, hint, x.m.ID)
	cancel()
	if err != nil {
		if ctx.Err() == nil && cctx.Err() != nil {
			err = fmt.Errorf("no seq claimed before the deadline (a retry after %v finds out): %w", deadline.Format(time.RFC3339Nano), chat.ErrBusy)
		}
		return chat.Message{}, false, err
	}
	blob, err := x.event(msg)
	if err != nil {
		return chat.Message{}, false, err
	}
	prev := map[string]any{}
	// Idempotent: a driver retry of an applied update answers with our
	// own attempt and seq, which the not-applied branch accepts.
	ok, err := cqlrows.CAS(ctx, x.s.s, x.s.cfg.Serial, prev, true, qSendSet,
		append([]any{x.ttl, x.m.ID, attempt, hint, deadline, msg.Seq, blob}, append(x.key, attempt)...)...)
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("record seq %d: %w", msg.Seq, err)
	}
	if !ok {
		row := sendRowOf(prev)
		if row.attempt == attempt && row.seq == msg.Seq {
			// Ours already (a driver retry, or a retry that found our
			// message after our deadline): finish with the event stored.
			if row, err = x.get(ctx); err != nil {
				return chat.Message{}, false, err
			}
			// created only if the stored event is ours: exactly one of
			// the calls that finalize a message reports it.
			stored, _, err := x.finish(ctx, row)
			return stored, bytes.Equal(row.event, blob), err
		}
		// Taken over: a retry read the history before our claim landed
		// (a claim that outlived the margin) and sends its own message.
		// Ours would be a second copy: blank it, keeping its seq.
		_, oerr := cqlrows.CAS(ctx, x.s.s, x.s.cfg.Serial, nil, false, qOrphanMsg, time.Now(), x.m.Conv, bucketOf(msg.Seq), msg.Seq, x.m.ID)
		return chat.Message{}, false, errors.Join(fmt.Errorf("claimed seq %d after the send was taken over; blanked it: %w", msg.Seq, chat.ErrBusy), oerr)
	}
	return msg, true, x.finalize(ctx, msg, blob, true)
}

// get reads the chat_sends row at Config.Serial.
func (x *sender) get(ctx context.Context) (sendRow, error) {
	m := map[string]any{}
	if err := x.s.serial(qSendGet, x.key...).MapScanContext(ctx, m); err != nil {
		return sendRow{}, fmt.Errorf("read client id: %w", err)
	}
	return sendRowOf(m), nil
}

// finish answers a retry of a send whose seq is recorded: the stored
// message, after writing the finalize batch again (with the event stored
// in the row, so it is the same event) unless chat_sends_done shows it
// applied.
func (x *sender) finish(ctx context.Context, row sendRow) (chat.Message, bool, error) {
	msg, err := x.s.GetMessage(ctx, x.m.Conv, row.seq)
	if errors.Is(err, chat.ErrNotFound) {
		msg, err = x.s.message(ctx, x.s.serial(qGetMsg, x.m.Conv, bucketOf(row.seq), row.seq), x.m.Conv)
	}
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("read the message of seq %d: %w", row.seq, err)
	}
	var seq int64
	done, err := cqlrows.Read(ctx, x.s.s, qSendIsDone, x.key, &seq)
	switch {
	case err != nil:
		return chat.Message{}, false, fmt.Errorf("read finalize mark: %w", err)
	case !done:
		if err := x.finalize(ctx, msg, row.event, true); err != nil {
			return chat.Message{}, false, err
		}
	}
	return msg, false, nil
}

// event builds msg's event in its stored form (empty: no event).
func (x *sender) event(msg chat.Message) ([]byte, error) {
	if x.ev == nil {
		return []byte{}, nil
	}
	e, err := x.ev(msg)
	if err != nil {
		return nil, fmt.Errorf("build event of seq %d: %w", msg.Seq, err)
	}
	b, err := events.Encode(e)
	if err != nil {
		return nil, fmt.Errorf("encode event of seq %d: %w", msg.Seq, err)
	}
	return b, nil
}

// finalize writes, in one LOGGED batch, what follows a claimed message:
// the tail and the sender's marks (cells USING TIMESTAMP the seq, so an
// older message finalized late never lowers them), the media rows, the
// done mark of the client id and the event. Every statement is
// idempotent, so writing it twice is writing it once.
func (x *sender) finalize(ctx context.Context, msg chat.Message, blob []byte, done bool) error {
	b := cqlrows.NewBatch(x.s.s)
	b.Add(qRaiseTail, msg.Seq, msg.Seq, msg.SentAt, msg.Sender, chat.Preview(msg.Text), msg.Conv)
	b.Add(qRaiseOwn, msg.Seq, msg.Seq, msg.Seq, msg.Conv, msg.Sender)
	for _, id := range msg.Media {
		b.Add(qPutMedia, msg.Conv, id)
	}
	if done {
		b.Add(qSendDone, append(x.key, msg.Seq, x.ttl)...)
	}
	if len(blob) > 0 {
		e, err := events.Decode(blob)
		if err != nil {
			return fmt.Errorf("stored event of seq %d: %w", msg.Seq, err)
		}
		b.Event(e)
	}
	if err := b.Exec(ctx); err != nil {
		return fmt.Errorf("finalize seq %d (the message is claimed; a retry finishes it): %w", msg.Seq, err)
	}
	return nil
}

// claim inserts the message at the first free seq after hint, trying seq
// N only when N-1 is known to exist (hint is a finalized message's seq,
// and every miss is a row that exists), so no gap can appear.
func (x *sender) claim(ctx context.Context, hint int64, msgID int64) (chat.Message, error) {
	m := x.m
	m.ID = msgID
	n := hint + 1
	misses := 0
	backoff := 5 * time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return chat.Message{}, err
		}
		m.Seq = n
		prev := map[string]any{}
		// Idempotent: a driver retry of an applied insert answers with our
		// own row, which is recognised below.
		applied, err := cqlrows.CAS(ctx, x.s.s, x.s.cfg.Serial, prev, true, qClaimMsg, m.Conv, bucketOf(n), n, m.ID, m.Sender, m.ClientMsgID,
			m.Text, list(m.Media), m.ReplyTo, m.SentAt, time.Time{}, time.Time{})
		if err != nil {
			// Unknown outcome (a timeout, contention): a serial read of
			// the row settles it, completing the round if it was accepted.
			got, rerr := x.s.message(ctx, x.s.serial(qGetMsg, m.Conv, bucketOf(n), n), m.Conv)
			switch {
			case rerr == nil && got.ID == m.ID && got.Sender == m.Sender:
				return got, nil
			case rerr == nil:
				n++
			case errors.Is(rerr, chat.ErrNotFound):
			default:
				return chat.Message{}, fmt.Errorf("claim seq %d: %w (then: %w)", n, err, rerr)
			}
			if err := cqlrows.Sleep(ctx, cqlrows.Jitter(backoff)); err != nil {
				return chat.Message{}, err
			}
			backoff = min(2*backoff, 200*time.Millisecond)
			continue
		}
		if applied {
			return m, nil
		}
		if id, _ := prev["msg_id"].(int64); id == m.ID {
			if sender, _ := prev["sender"].(int64); sender == m.Sender {
				return m, nil
			}
		}
		n++
		if misses++; misses%missesBeforeMax == 0 {
			last, err := x.lastSeq(ctx, n)
			if err != nil {
				return chat.Message{}, err
			}
			n = max(n, last+1)
		}
	}
}

// lastSeq reads the highest seq at Config.Serial, starting with the bucket
// of n (n-1 exists) and moving on while a bucket is full.
func (x *sender) lastSeq(ctx context.Context, n int64) (int64, error) {
	last := n - 1
	for b := bucketOf(n); ; b++ {
		var seq int64
		err := x.s.serial(qMaxSeq, x.m.Conv, b).ScanContext(ctx, &seq)
		if errors.Is(err, gocql.ErrNotFound) {
			return last, nil
		}
		if err != nil {
			return 0, fmt.Errorf("read the last seq of bucket %d: %w", b, err)
		}
		last = max(last, seq)
		if seq != lastOf(b) {
			return last, nil
		}
	}
}

// find looks for msgID after hint, at Config.Serial, bucket by bucket
// while buckets are full. A dead attempt claimed only seqs above the hint
// it recorded, so if it claimed one, this finds it.
func (x *sender) find(ctx context.Context, hint, msgID int64) (chat.Message, bool, error) {
	from := hint + 1
	for b := bucketOf(from); ; b++ {
		it := x.s.serial(qScanMsgs, x.m.Conv, b, from).PageSize(BucketSize + 1).IterContext(ctx)
		full := false
		for {
			m, ok := scanMsg(it, x.m.Conv)
			if !ok {
				break
			}
			if m.ID == msgID && m.Sender == x.m.Sender && m.ClientMsgID == x.m.ClientMsgID {
				_ = it.Close()
				return m, true, nil
			}
			full = m.Seq == lastOf(b)
		}
		if err := it.Close(); err != nil {
			return chat.Message{}, false, fmt.Errorf("look for a dead attempt's message in bucket %d: %w", b, err)
		}
		if !full {
			return chat.Message{}, false, nil
		}
		from = lastOf(b) + 1
	}
}
