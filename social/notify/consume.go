package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"golang.org/x/sync/errgroup"

	"github.com/mediaedge/mediaedge/social/events"
)

// KindNotification is the outbox event of a new or updated group: To the
// recipient, Data the group's JSON; the push gateway's fan-out delivers it
// to the recipient's sockets.
const KindNotification = "notification"

// Start runs the consumer on bus until the returned consumer is closed.
// Every edge runs one; they share the durable consumer "notify".
func (s *Service) Start(ctx context.Context, bus *events.Bus) (*events.Consumer, error) {
	cfg := s.cfg.Consumer
	if cfg.Logger == nil {
		cfg.Logger = s.log
	}
	return bus.Consume(ctx, cfg, s.Handle)
}

// eventData is the union of the fields the consumed kinds carry.
type eventData struct {
	UserID flexID   `json:"user_id"`         // follow: the followee
	PostID flexID   `json:"post_id"`         // like, comment, mention
	Story  flexID   `json:"story_id"`        // story.like, story.created
	Likers []flexID `json:"likers"`          // story.created
	Conv   flexID   `json:"conversation_id"` // chat.message
	Seq    int64    `json:"seq"`             // chat.message
}

// target is what an event makes: a kind on an object for recipients.
type target struct {
	kind, object string
	to           []int64
}

// Handle turns one event into notifications, one Apply per recipient
// (never the actor). It returns nil once every recipient's notification
// is durable; a redelivered event changes nothing (the stores key what
// they applied by event id and recipient). A malformed event is logged
// and dropped: no retry can make it succeed.
func (s *Service) Handle(ctx context.Context, ev events.Event) error {
	t, err := s.target(ctx, ev)
	if err != nil {
		return err
	}
	if t == nil {
		return nil
	}
	var to []int64
	for _, r := range t.to {
		if r > 0 && r != ev.Actor && !slices.Contains(to, r) {
			to = append(to, r)
		}
	}
	at := ev.At.UTC()
	if at.IsZero() {
		at = s.now().UTC()
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.Parallel)
	for _, r := range to {
		g.Go(func() error {
			a := Activity{Recipient: r, Actor: ev.Actor, Kind: t.kind, Object: t.object, Event: ev.ID,
				At: at, GroupID: s.cfg.IDs.Next(), Pos: s.cfg.IDs.Next()}
			_, applied, err := s.store.Apply(gctx, a, s.cfg.MaxPerUser, s.liveEvent(a))
			if err != nil {
				return fmt.Errorf("notify: %s event %d for user %d: %w", ev.Kind, ev.ID, r, err)
			}
			if applied && s.cfg.Notify != nil {
				s.cfg.Notify()
			}
			return nil
		})
	}
	return g.Wait()
}

// liveEvent builds the outbox event of a group write.
func (s *Service) liveEvent(a Activity) EventFunc {
	return func(g Group) (events.Event, error) {
		data, err := json.Marshal(toJSON(g))
		if err != nil {
			return events.Event{}, fmt.Errorf("encode group %d: %w", g.ID, err)
		}
		return events.Event{ID: s.cfg.IDs.Next(), Kind: KindNotification, Actor: a.Actor,
			To: []int64{a.Recipient}, Data: data, At: a.At}, nil
	}
}

// target maps an event to its notification; nil for none.
func (s *Service) target(ctx context.Context, ev events.Event) (*target, error) {
	var d eventData
	if len(ev.Data) > 0 {
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			s.drop(ev, err.Error())
			return nil, nil
		}
	}
	need := func(id flexID, field string) bool {
		if id <= 0 {
			s.drop(ev, "no "+field)
			return false
		}
		return true
	}
	obj := func(typ string, id flexID) string { return typ + ":" + strconv.FormatInt(int64(id), 10) }
	switch ev.Kind {
	case "follow":
		if !need(d.UserID, "user_id") {
			return nil, nil
		}
		return &target{KindFollow, obj("user", d.UserID), []int64{int64(d.UserID)}}, nil
	case "like", "comment", "mention":
		if !need(d.PostID, "post_id") {
			return nil, nil
		}
		kind := map[string]string{"like": KindLike, "comment": KindComment, "mention": KindMention}[ev.Kind]
		return &target{kind, obj("post", d.PostID), ev.To}, nil
	case "story.like":
		if !need(d.Story, "story_id") {
			return nil, nil
		}
		return &target{KindStoryLike, obj("story", d.Story), ev.To}, nil
	case "story.created":
		if !need(d.Story, "story_id") {
			return nil, nil
		}
		to := make([]int64, len(d.Likers))
		for i, l := range d.Likers {
			to[i] = int64(l)
		}
		return &target{KindStory, obj("story", d.Story), to}, nil
	case "chat.message":
		if !need(d.Conv, "conversation_id") {
			return nil, nil
		}
		members, err := s.cfg.ConversationMembers(ctx, int64(d.Conv))
		if err != nil {
			return nil, fmt.Errorf("notify: members of conversation %d: %w", d.Conv, err)
		}
		var to []int64
		for _, m := range members {
			if m != ev.Actor && !s.cfg.Online(ctx, m) {
				to = append(to, m)
			}
		}
		return &target{KindMessage, obj("conversation", d.Conv), to}, nil
	}
	return nil, nil // a kind this consumer does not read
}

func (s *Service) drop(ev events.Event, why string) {
	s.log.Error("notify: malformed event dropped", "event", ev.ID, "kind", ev.Kind, "why", why)
}
