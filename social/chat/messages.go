package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/jsonapi"
)

// KindSent is the outbox event of a send. It names no recipients
// (events.Event.To is empty, so the generic fan-out skips it): the
// delivery consumer (deliver.go) hands messages to the members' streams
// itself, in seq order.
const KindSent = "chat.message"

// messageJSON is a message as the API and the socket show it.
type messageJSON struct {
	Conv        int64       `json:"conversation_id,string"`
	Seq         int64       `json:"seq"`
	ID          int64       `json:"id,string"`
	Sender      int64       `json:"sender,string"`
	ClientMsgID string      `json:"client_msg_id"`
	Text        string      `json:"text"`
	Media       []mediaJSON `json:"media"`
	ReplyTo     int64       `json:"reply_to,omitempty"`
	SentAt      time.Time   `json:"sent_at"`
	EditedAt    *time.Time  `json:"edited_at,omitempty"`
	Deleted     bool        `json:"deleted,omitempty"`
}

// mediaJSON is a media id with the URLs a client shows it by: the
// original, a thumbnail rendition, and its metadata (type, size,
// dimensions; a video's HLS is at url + "/hls/index.m3u8").
type mediaJSON struct {
	ID    string `json:"id"`
	URL   string `json:"url"`
	Thumb string `json:"thumb"`
	Info  string `json:"info"`
}

func toMessageJSON(m Message) messageJSON {
	j := messageJSON{Conv: m.Conv, Seq: m.Seq, ID: m.ID, Sender: m.Sender, ClientMsgID: m.ClientMsgID, Text: m.Text,
		Media: make([]mediaJSON, len(m.Media)), ReplyTo: m.ReplyTo, SentAt: m.SentAt.UTC(), Deleted: m.Deleted}
	for i, id := range m.Media {
		u := "/m/" + url.PathEscape(id)
		j.Media[i] = mediaJSON{ID: id, URL: u, Thumb: u + "?w=320&h=320&fit=crop", Info: u + "/info"}
	}
	if !m.EditedAt.IsZero() {
		t := m.EditedAt.UTC()
		j.EditedAt = &t
	}
	return j
}

// sentData is the payload of a KindSent event.
type sentData struct {
	Conv int64 `json:"conversation_id,string"`
	Seq  int64 `json:"seq"`
}

// markData is the payload of read, delivered and cleared events.
type markData struct {
	Conv int64 `json:"conversation_id,string"`
	User int64 `json:"user_id,string"`
	Seq  int64 `json:"seq"`
}

// send: POST /v1/conversations/{id}/messages {client_msg_id, text?,
// media_ids?, reply_to?} -> 201 {seq, id, ...}; a retry with the same
// client_msg_id answers 200 with the same message and writes nothing.
func (s *Service) send(w http.ResponseWriter, r *http.Request, uid int64) error {
	ctx := r.Context()
	m, err := s.member(r, uid)
	if err != nil {
		return err
	}
	f, err := jsonapi.ReadBody(w, r, s.cfg.MaxBody, "client_msg_id", "text", "media_ids", "reply_to")
	if err != nil {
		return err
	}
	cmid, err := f.Required("client_msg_id")
	if err != nil {
		return err
	}
	if len(cmid) < 1 || len(cmid) > 64 || !printableASCII(cmid) {
		return httperr.BadParam("client_msg_id", "client_msg_id must be 1-64 printable ASCII characters")
	}
	text, media, err := s.content(f)
	if err != nil {
		return err
	}
	if text == "" && len(media) == 0 {
		return httperr.BadParam("text", "a message needs text or media_ids")
	}
	var replyTo int64
	if raw, ok := f["reply_to"]; ok && string(raw) != "null" {
		if replyTo, err = strconv.ParseInt(string(raw), 10, 64); err != nil || replyTo < 1 {
			return httperr.BadParam("reply_to", "reply_to must be the seq of a message of this conversation")
		}
		if _, err := s.store.GetMessage(ctx, m.Conv, replyTo); err != nil {
			if errors.Is(err, ErrNotFound) {
				return httperr.BadParam("reply_to", "reply_to names no message of this conversation")
			}
			return jsonapi.StoreFault(err)
		}
	}
	// Before the rate limit: a refused send costs the user no tokens.
	if err := s.admit(); err != nil {
		return err
	}
	if err := s.act(uid, tooManyMessages); err != nil {
		return err
	}
	// A direct chat between users who block each other takes no more
	// messages; a group does (blocks.go). After the rate limit, as every
	// lookup that costs reads: a flood past the budget reads no blocks.
	if err := s.checkSendBlocked(ctx, m.Conv, uid); err != nil {
		return err
	}
	if err := s.checkMedia(r, m.Conv, uid, media); err != nil {
		return err
	}
	now := s.clock()
	msg := Message{Conv: m.Conv, ID: s.cfg.IDs.Next(), Sender: uid, ClientMsgID: cmid, Text: text, Media: media, ReplyTo: replyTo, SentAt: now}
	stored, created, err := s.store.Send(ctx, msg, func(m Message) (events.Event, error) {
		return s.event(KindSent, uid, nil, sentData{Conv: m.Conv, Seq: m.Seq}, now)
	})
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.notify()
	}
	return jsonapi.Write(w, status, toMessageJSON(stored))
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// content reads and checks text and media_ids.
func (s *Service) content(f jsonapi.Fields) (string, []string, error) {
	text, _, err := f.Str("text")
	if err != nil {
		return "", nil, err
	}
	if len(text) > s.cfg.MaxText || !utf8.ValidString(text) {
		return "", nil, &httperr.Error{Status: http.StatusRequestEntityTooLarge, Code: "text_too_long", Param: "text",
			Message: fmt.Sprintf("text must be at most %d bytes of UTF-8", s.cfg.MaxText)}
	}
	var media []string
	if raw, ok := f["media_ids"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &media); err != nil {
			return "", nil, httperr.BadParam("media_ids", "media_ids must be a list of media id strings")
		}
		if len(media) > s.cfg.MaxMedia {
			return "", nil, httperr.BadParam("media_ids", fmt.Sprintf("at most %d media_ids per message", s.cfg.MaxMedia))
		}
		for _, id := range media {
			if id == "" || len(id) > 128 || !printableASCII(id) {
				return "", nil, httperr.BadParam("media_ids", fmt.Sprintf("%q is not a media id", id))
			}
		}
	}
	return text, media, nil
}

// checkMedia: each media id must name stored media that the sender
// uploaded or that was already sent in the conversation (forwarding within
// it); a client cannot attach someone else's private upload by its id.
func (s *Service) checkMedia(r *http.Request, conv, uid int64, media []string) error {
	for _, id := range media {
		owner, err := s.cfg.MediaOwner(r.Context(), id)
		switch {
		case errors.Is(err, ErrNoMedia):
			return httperr.BadParam("media_ids", fmt.Sprintf("media %q does not exist", id))
		case err != nil:
			return jsonapi.StoreFault(err)
		case owner == userOwner(uid):
			continue
		}
		used, err := s.store.MediaUsed(r.Context(), conv, id)
		if err != nil {
			return jsonapi.StoreFault(err)
		}
		if !used {
			return errForeignMed
		}
	}
	return nil
}

// history: GET /v1/conversations/{id}/messages?before_seq=&after_seq=&limit=
// in seq order: after_seq pages forwards (from after_seq+1), before_seq
// backwards (ending at before_seq-1), neither gives the latest. Messages
// the caller cleared or hid are left out.
func (s *Service) history(w http.ResponseWriter, r *http.Request, uid int64) error {
	ctx := r.Context()
	m, err := s.member(r, uid)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if q.Has("before_seq") && q.Has("after_seq") {
		return httperr.BadParam("before_seq", "give before_seq or after_seq, not both")
	}
	before, err := jsonapi.QueryInt(r, "before_seq")
	if err != nil {
		return err
	}
	after, err := jsonapi.QueryInt(r, "after_seq")
	if err != nil {
		return err
	}
	limit, err := jsonapi.Limit(r, s.cfg.PageLimit, s.cfg.MaxPageLimit)
	if err != nil {
		return err
	}
	c, err := s.store.GetConversation(ctx, m.Conv)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	var from, to int64
	switch {
	case q.Has("after_seq"):
		from, to = after+1, min(after+int64(limit), c.LastSeq)
	case q.Has("before_seq"):
		from, to = max(1, before-int64(limit)), min(before-1, c.LastSeq)
	default:
		from, to = max(1, c.LastSeq-int64(limit)+1), c.LastSeq
	}
	from = max(from, m.ClearedSeq+1)
	out := struct {
		Items     []messageJSON `json:"items"`
		LastSeq   int64         `json:"last_seq"`
		HasBefore bool          `json:"has_before"`
		HasAfter  bool          `json:"has_after"`
	}{Items: []messageJSON{}, LastSeq: c.LastSeq}
	if from <= to {
		msgs, err := s.store.Messages(ctx, m.Conv, from, to)
		if err != nil {
			return jsonapi.StoreFault(err)
		}
		hidden, err := s.store.Hidden(ctx, m.Conv, uid, from, to)
		if err != nil {
			return jsonapi.StoreFault(err)
		}
		for _, x := range msgs {
			if !hidden[x.Seq] {
				out.Items = append(out.Items, toMessageJSON(x))
			}
		}
	}
	out.HasBefore = from > max(1, m.ClearedSeq+1)
	out.HasAfter = to < c.LastSeq
	return jsonapi.Write(w, http.StatusOK, out)
}

// message reads the {seq} message of the caller's conversation.
func (s *Service) message(r *http.Request, uid int64) (Member, Message, error) {
	m, err := s.member(r, uid)
	if err != nil {
		return m, Message{}, err
	}
	seq, err := jsonapi.PathID(r, "seq")
	if err != nil {
		return m, Message{}, err
	}
	msg, err := s.store.GetMessage(r.Context(), m.Conv, seq)
	if err != nil {
		return m, msg, jsonapi.StoreFault(err)
	}
	return m, msg, nil
}

// edit: PATCH /v1/conversations/{id}/messages/{seq} {text?, media_ids?},
// by the sender: the whole row is rewritten in one compare-and-set, and
// refused once the message is deleted.
func (s *Service) edit(w http.ResponseWriter, r *http.Request, uid int64) error {
	ctx := r.Context()
	m, old, err := s.message(r, uid)
	if err != nil {
		return err
	}
	f, err := jsonapi.ReadBody(w, r, s.cfg.MaxBody, "text", "media_ids")
	if err != nil {
		return err
	}
	text, media := old.Text, old.Media
	t2, m2, err := s.content(f)
	if err != nil {
		return err
	}
	if f.Has("text") {
		text = t2
	}
	if f.Has("media_ids") {
		media = m2
	}
	if text == "" && len(media) == 0 {
		return httperr.BadParam("text", "a message needs text or media_ids")
	}
	// What the store would refuse, as it read: before the rate limit, so a
	// refused edit costs no token (the store still decides, atomically).
	switch {
	case old.Deleted:
		return ErrDeleted
	case old.Sender != uid:
		return ErrNotSender
	}
	if err := s.act(uid, tooManyChanges); err != nil {
		return err
	}
	if err := s.checkMedia(r, m.Conv, uid, media); err != nil {
		return err
	}
	to, err := s.memberIDs(ctx, m.Conv)
	if err != nil {
		return err
	}
	now := s.clock()
	edited, err := s.store.EditMessage(ctx, m.Conv, old.Seq, uid, text, media, now, func(e Message) (events.Event, error) {
		return s.event("message.edited", uid, to, toMessageJSON(e), now)
	})
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	s.notify()
	return jsonapi.Write(w, http.StatusOK, toMessageJSON(edited))
}

// deleteMessage: DELETE /v1/conversations/{id}/messages/{seq}?for=me|everyone
// (default everyone). For everyone: the sender, or a group admin; the seq
// stays, as a deleted placeholder. For me: hidden from the caller's
// history only.
func (s *Service) deleteMessage(w http.ResponseWriter, r *http.Request, uid int64) error {
	ctx := r.Context()
	m, msg, err := s.message(r, uid)
	if err != nil {
		return err
	}
	now := s.clock()
	d := markData{Conv: m.Conv, User: uid, Seq: msg.Seq}
	var changed bool
	switch r.URL.Query().Get("for") {
	case "me":
		ev, err := s.event("message.hidden", uid, []int64{uid}, d, now)
		if err != nil {
			return err
		}
		if changed, err = s.store.HideMessage(ctx, m.Conv, uid, msg.Seq, ev); err != nil {
			return jsonapi.StoreFault(err)
		}
	case "", "everyone":
		if msg.Sender != uid && m.Role != RoleAdmin {
			return httperr.New(http.StatusForbidden, "not_sender", "only the sender or a group admin may delete a message for everyone")
		}
		if err := s.act(uid, tooManyChanges); err != nil {
			return err
		}
		to, err := s.memberIDs(ctx, m.Conv)
		if err != nil {
			return err
		}
		ev, err := s.event("message.deleted", uid, to, d, now)
		if err != nil {
			return err
		}
		if changed, err = s.store.DeleteMessage(ctx, m.Conv, msg.Seq, now, ev); err != nil {
			return jsonapi.StoreFault(err)
		}
	default:
		return httperr.BadParam("for", `for must be "me" or "everyone"`)
	}
	if changed {
		s.notify()
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// pin, unpin: PUT/DELETE /v1/conversations/{id}/pins/{seq}, any member.
func (s *Service) pin(w http.ResponseWriter, r *http.Request, uid int64) error {
	return s.pinning(w, r, uid, true)
}

func (s *Service) unpin(w http.ResponseWriter, r *http.Request, uid int64) error {
	return s.pinning(w, r, uid, false)
}

func (s *Service) pinning(w http.ResponseWriter, r *http.Request, uid int64, on bool) error {
	ctx := r.Context()
	m, msg, err := s.message(r, uid)
	if err != nil {
		return err
	}
	if err := s.act(uid, tooManyChanges); err != nil {
		return err
	}
	to, err := s.memberIDs(ctx, m.Conv)
	if err != nil {
		return err
	}
	kind := "message.unpinned"
	if on {
		kind = "message.pinned"
	}
	now := s.clock()
	ev, err := s.event(kind, uid, to, markData{Conv: m.Conv, User: uid, Seq: msg.Seq}, now)
	if err != nil {
		return err
	}
	var changed bool
	if on {
		changed, err = s.store.Pin(ctx, m.Conv, Pin{Seq: msg.Seq, By: uid, PinnedAt: now}, ev)
	} else {
		changed, err = s.store.Unpin(ctx, m.Conv, msg.Seq, ev)
	}
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	if changed {
		s.notify()
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// mark: POST /v1/conversations/{id}/read (or /delivered) {seq}. Marks
// only rise; the new mark is pushed to every member (the others see
// "read", the reader's other devices clear their badge).
func (s *Service) mark(which Mark) func(w http.ResponseWriter, r *http.Request, uid int64) error {
	return func(w http.ResponseWriter, r *http.Request, uid int64) error {
		m, err := s.member(r, uid)
		if err != nil {
			return err
		}
		f, err := jsonapi.ReadBody(w, r, s.cfg.MaxBody, "seq")
		if err != nil {
			return err
		}
		var seq int64
		if raw, ok := f["seq"]; !ok {
			return httperr.BadParam("seq", "seq is required")
		} else if seq, err = strconv.ParseInt(string(raw), 10, 64); err != nil || seq < 1 {
			return httperr.BadParam("seq", "seq must be a positive integer")
		}
		return s.setMark(w, r, m, uid, which, seq)
	}
}

// clear: POST /v1/conversations/{id}/clear — clear history for me, up to
// the current last message.
func (s *Service) clear(w http.ResponseWriter, r *http.Request, uid int64) error {
	m, err := s.member(r, uid)
	if err != nil {
		return err
	}
	c, err := s.store.GetConversation(r.Context(), m.Conv)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	if c.LastSeq == 0 {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return s.setMark(w, r, m, uid, MarkCleared, c.LastSeq)
}

func (s *Service) setMark(w http.ResponseWriter, r *http.Request, m Member, uid int64, which Mark, seq int64) error {
	ctx := r.Context()
	c, err := s.store.GetConversation(ctx, m.Conv)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	if seq > c.LastSeq {
		return httperr.BadParam("seq", fmt.Sprintf("seq %d is past the last message (%d)", seq, c.LastSeq))
	}
	to := []int64{uid}
	if which != MarkCleared {
		if to, err = s.memberIDs(ctx, m.Conv); err != nil {
			return err
		}
	}
	ev, err := s.event(string(which), uid, to, markData{Conv: m.Conv, User: uid, Seq: seq}, s.clock())
	if err != nil {
		return err
	}
	changed, err := s.store.SetMark(ctx, m.Conv, uid, which, seq, ev)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	if changed {
		s.notify()
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// typing: POST /v1/conversations/{id}/typing — pushed to the other
// members' sockets now, stored nowhere. At most one a typingEvery per
// user and conversation, on buckets of its own (limits.go).
func (s *Service) typing(w http.ResponseWriter, r *http.Request, uid int64) error {
	m, err := s.member(r, uid)
	if err != nil {
		return err
	}
	key := strconv.FormatInt(uid, 10) + "/" + strconv.FormatInt(m.Conv, 10)
	if err := s.limit(s.typingRate, key, tooManyTyping); err != nil {
		return err
	}
	if s.cfg.Live != nil {
		to, err := s.memberIDs(r.Context(), m.Conv)
		if err != nil {
			return err
		}
		others := to[:0]
		for _, u := range to {
			if u != uid {
				others = append(others, u)
			}
		}
		ev, err := s.event("typing", uid, others, markData{Conv: m.Conv, User: uid}, s.clock())
		if err != nil {
			return err
		}
		if err := s.cfg.Live.Signal(r.Context(), ev); err != nil {
			s.log.Warn("typing signal failed", "conversation", m.Conv, "err", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
