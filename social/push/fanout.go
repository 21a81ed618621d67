package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediaedge/mediaedge/social/events"
)

// updateBody is an update as stored in the stream: the event without its
// recipients. The frame sent to a client is this object with "type" and
// "seq" spliced in front (see frame).
type updateBody struct {
	Kind  string          `json:"kind"`
	Event int64           `json:"event,string"`
	Actor int64           `json:"actor,string"`
	At    time.Time       `json:"at"`
	Data  json.RawMessage `json:"data,omitempty"`
}

func (h *Handler) updSubject(uid int64) string {
	return h.cfg.SubjectPrefix + ".updates." + strconv.FormatInt(uid, 10)
}

func (h *Handler) liveSubject(uid int64) string { return liveSubject(h.cfg.SubjectPrefix, uid) }

func liveSubject(prefix string, uid int64) string {
	return prefix + ".live." + strconv.FormatInt(uid, 10)
}

// ensureStream creates or updates the update stream. RePublish has the
// stream leader publish every stored update, in stream order, on
// prefix.live.<uid> with its sequence (Nats-Sequence) and the user's
// previous one (Nats-Last-Sequence): the live path needs no second publish
// and can tell when it missed one.
func (h *Handler) ensureStream(ctx context.Context) (jetstream.Stream, error) {
	p := h.cfg.SubjectPrefix
	sc := jetstream.StreamConfig{
		Name:              h.cfg.Stream,
		Description:       "mediaedge per-user live updates (social/push)",
		Subjects:          []string{p + ".updates.*"},
		Storage:           jetstream.FileStorage,
		Replicas:          h.cfg.replicas(),
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxAge:            h.cfg.MaxAge,
		MaxMsgsPerSubject: h.cfg.MaxPerUser,
		MaxBytes:          -1,
		Duplicates:        h.cfg.DuplicateWindow,
		AllowDirect:       true,
		RePublish:         &jetstream.RePublish{Source: p + ".updates.>", Destination: p + ".live.>"},
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := h.js.CreateOrUpdateStream(cctx, sc)
	if err != nil {
		return nil, fmt.Errorf("push: stream %s: %w", sc.Name, err)
	}
	return s, nil
}

// fanout is the Handler of the fan-out consumer: the event's update for
// every user in ev.To, stored before the event is acknowledged.
func (h *Handler) fanout(ctx context.Context, ev events.Event) error {
	if len(ev.To) == 0 {
		return nil
	}
	return h.Deliver(ctx, []events.Event{ev})
}

// Deliver stores each event as an update in the stream of every user in
// its To, and returns once all are stored; then it queues offline pushes
// (pushesOffline kinds) for the workers, never waiting for them. Updates
// are published on one connection, in the order given, so one user's
// updates are stored in that order (the chat service relies on it to
// deliver a conversation's messages in seq order). Nats-Msg-Id
// "<event id>/<uid>" makes a repeat store nothing within DuplicateWindow,
// so an error retries the whole call safely.
func (h *Handler) Deliver(ctx context.Context, evs []events.Event) error {
	type sent struct {
		ev  int64
		uid int64
		f   jetstream.PubAckFuture
	}
	var acks []sent
	var errs []error
publish:
	for _, ev := range evs {
		if len(ev.To) == 0 {
			continue
		}
		body, err := json.Marshal(updateBody{Kind: ev.Kind, Event: ev.ID, Actor: ev.Actor, At: ev.At, Data: ev.Data})
		if err != nil {
			errs = append(errs, fmt.Errorf("encode update of event %d: %w", ev.ID, err))
			break
		}
		for _, uid := range uniq(ev.To) {
			m := &nats.Msg{Subject: h.updSubject(uid), Data: body, Header: nats.Header{}}
			m.Header.Set(jetstream.MsgIDHeader, ev.MsgID()+"/"+strconv.FormatInt(uid, 10))
			f, err := h.js.PublishMsgAsync(m)
			if err != nil {
				errs = append(errs, fmt.Errorf("publish update of event %d for %d: %w", ev.ID, uid, err))
				break publish
			}
			acks = append(acks, sent{ev.ID, uid, f})
		}
	}
	for _, a := range acks {
		select {
		case <-a.f.Ok():
		case err := <-a.f.Err():
			errs = append(errs, fmt.Errorf("store update of event %d for %d: %w", a.ev, a.uid, err))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := errors.Join(errs...); err != nil {
		h.stats.fanoutErrors.Add(1)
		return fmt.Errorf("push: %w", err)
	}
	h.stats.updates.Add(int64(len(acks)))
	if h.offline != nil {
		for _, ev := range evs {
			if pushesOffline(ev.Kind) {
				for _, uid := range uniq(ev.To) {
					h.offline.enqueue(ev, uid)
				}
			}
		}
	}
	return nil
}

// notifiedKinds are the kinds social/notify turns into notifications
// (notify.Kinds; "message" is a chat message as the chat service delivers
// it, which notify reads as chat.message and notifies the members then
// offline of). Each of them reaches an offline user twice: as itself and
// as the "notification" notify builds of it, which this fan-out also
// delivers.
var notifiedKinds = map[string]bool{
	"follow": true, "like": true, "comment": true, "mention": true,
	"story.like": true, "story.created": true, "message": true,
}

// pushesOffline is the one rule for which updates go to the Pusher: every
// kind but those notify makes a notification of, so that one activity is
// one push. "notification" is pushed (it is not one of them); a kind
// notify does not read (chat's member and conversation changes) is pushed
// as it is. A kind added to notify.Kinds belongs here too (a test checks).
func pushesOffline(kind string) bool { return !notifiedKinds[kind] }

// signalHeader marks a live message that is a signal: a whole frame,
// stored nowhere.
const signalHeader = "Mediaedge-Signal"

// Signal sends ev as a frame to every socket of the users in ev.To now,
// on whichever edges hold them, and stores it nowhere: a typing indicator,
// which is worthless a few seconds later and must not fill the update
// streams. The frame is an update without a seq ({"type":"update",
// "kind":...}); clients must not compare it with their stream position.
// Best effort: a user with no socket, or a socket whose queue is full,
// does not get it.
func (h *Handler) Signal(ctx context.Context, ev events.Event) error {
	body, err := json.Marshal(updateBody{Kind: ev.Kind, Event: ev.ID, Actor: ev.Actor, At: ev.At, Data: ev.Data})
	if err != nil {
		return fmt.Errorf("push: encode signal: %w", err)
	}
	frame := append([]byte(`{"type":"update",`), body[1:]...)
	for _, uid := range uniq(ev.To) {
		m := &nats.Msg{Subject: h.liveSubject(uid), Data: frame, Header: nats.Header{signalHeader: {"1"}}}
		if err := h.nc.PublishMsg(m); err != nil {
			return fmt.Errorf("push: signal %d: %w", uid, err)
		}
	}
	return nil
}

func uniq(ids []int64) []int64 {
	seen := make(map[int64]struct{}, len(ids))
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if _, ok := seen[id]; !ok {
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	return out
}

// Online asks whether any edge holds a socket of uid. When it cannot tell
// (a timeout), it says online: a missed offline push is better than a
// push to a device that already showed the update.
func (h *Handler) Online(ctx context.Context, uid int64) bool {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.PresenceTimeout)
	defer cancel()
	_, err := h.nc.RequestWithContext(ctx, h.liveSubject(uid), nil)
	return !errors.Is(err, nats.ErrNoResponders)
}
