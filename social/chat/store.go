package chat

import (
	"context"
	"errors"
	"time"

	"github.com/mediaedge/mediaedge/social/events"
)

// Sentinel errors. Stores wrap them with %w and the operation; the handler
// maps them to answers in one table (errors.go).
var (
	// ErrNotFound: no such conversation or message.
	ErrNotFound = errors.New("chat: not found")
	// ErrNotMember: the user is not a member of the conversation.
	ErrNotMember = errors.New("chat: not a member")
	// ErrMemberCap: adding the members would pass the conversation's cap.
	ErrMemberCap = errors.New("chat: member cap reached")
	// ErrDeleted: the message was deleted for everyone; it cannot be
	// edited (an edit racing a delete loses, and never brings back a part
	// of the row).
	ErrDeleted = errors.New("chat: message deleted")
	// ErrNotSender: only the sender may edit a message.
	ErrNotSender = errors.New("chat: not the sender")
	// ErrBusy: a send with the same client message id, or a create of the
	// same direct pair or with the same Idempotency-Key, is still in flight
	// (on this or another edge); retrying after a moment answers with its
	// result.
	ErrBusy = errors.New("chat: busy")
)

// Kind is a conversation's kind.
type Kind string

const (
	// Direct is a conversation of exactly two users, one per pair.
	Direct Kind = "direct"
	// Group has a title, an avatar, admins and up to a cap of members.
	Group Kind = "group"
)

// Role is a member's role in a group (direct members are all RoleMember).
type Role string

const (
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// Conversation is a chat's header. Its tail (LastSeq and the preview) is
// what the chat list shows; stores keep it from going backwards when two
// sends finish out of order.
type Conversation struct {
	ID        int64
	Kind      Kind
	Title     string // groups only; "" for direct
	Avatar    string // a media id, or ""
	CreatedBy int64
	CreatedAt time.Time
	// The tail: the last message's seq, time, sender and preview (its text
	// cut to PreviewRunes, or "" for a media-only message). LastAt is
	// CreatedAt until the first message.
	LastSeq     int64
	LastAt      time.Time
	LastSender  int64
	LastPreview string
}

// Member is one user's membership and marks in a conversation. The marks
// only rise.
type Member struct {
	Conv     int64
	User     int64
	Role     Role
	JoinedAt time.Time
	// ReadSeq: the member read every message up to it. DeliveredSeq: a
	// device of theirs received every message up to it. ClearedSeq: the
	// member cleared their history up to it ("clear history for me").
	ReadSeq, DeliveredSeq, ClearedSeq int64
}

// Mark names one of a member's marks.
type Mark string

const (
	MarkRead      Mark = "read"
	MarkDelivered Mark = "delivered"
	MarkCleared   Mark = "cleared"
)

// Message is one message. Seq is its place in the conversation: 1, 2, 3, ...
// with no gap, assigned once. A message deleted for everyone keeps its seq
// (history shows a placeholder) with Text "" and no Media.
type Message struct {
	Conv        int64
	Seq         int64
	ID          int64 // a social/ids id, unique across conversations
	Sender      int64
	ClientMsgID string
	Text        string
	Media       []string // media ids
	ReplyTo     int64    // a seq of the same conversation, or 0
	SentAt      time.Time
	EditedAt    time.Time // zero: never edited
	Deleted     bool
}

// Pin is a pinned message.
type Pin struct {
	Seq      int64
	By       int64
	PinnedAt time.Time
}

// ConvPatch names the group fields to change; nil stays.
type ConvPatch struct {
	Title, Avatar *string
}

// EventFunc builds the event of a write once the store knows what it
// wrote (a send's seq): stores call it inside the write and put its event
// in the same batch as the data.
type EventFunc func(Message) (events.Event, error)

// Store is everything the chat service needs from a database. Both
// backends (cassandrastore, pebblestore) implement it and pass the
// conformance suite in chattest. Every write that takes an events.Event
// writes it to the outbox in the same durable batch as its data, and only
// when the write changes something.
type Store interface {
	// CreateDirect returns the direct conversation of users a and b,
	// creating it from c (with both as RoleMember) when the pair has none:
	// a compare-and-set on the pair, so concurrent creations on any edges
	// return one conversation. created reports whether this call made it
	// (ev is written only then).
	CreateDirect(ctx context.Context, c Conversation, a, b int64, ev events.Event) (stored Conversation, created bool, err error)
	// CreateGroup writes c and its members (each with its Role) with ev.
	// With a non-empty key (an Idempotency-Key), a second create by the
	// same c.CreatedBy with the same key within 24 hours writes nothing and
	// returns the first group as it is now (created=false), whatever the
	// second's title and members; exactly one of concurrent creates with
	// one key reports created. ErrBusy: the key's first create is still in
	// flight (on another edge); retrying after a moment answers with its
	// group.
	CreateGroup(ctx context.Context, c Conversation, members []Member, key string, ev events.Event) (stored Conversation, created bool, err error)
	// GetConversation reads a conversation (with its tail); ErrNotFound.
	GetConversation(ctx context.Context, id int64) (Conversation, error)
	// UpdateConversation applies p and writes ev; it returns the result.
	UpdateConversation(ctx context.Context, id int64, p ConvPatch, ev events.Event) (Conversation, error)

	// GetMember reads user's membership of conv; ErrNotMember.
	GetMember(ctx context.Context, conv, user int64) (Member, error)
	// ListMembers returns up to limit members with user id above after, in
	// user id order (limit <= 0: all).
	ListMembers(ctx context.Context, conv int64, after int64, limit int) ([]Member, error)
	// AddMembers adds ms (those not yet members) with ev, unless the
	// conversation would then have more than max members (ErrMemberCap,
	// nothing added). It returns the user ids it added; ev is written only
	// when that is not empty. Concurrent adds may pass max by a few on
	// Cassandra (the count is read, then written); the cap is soft there.
	AddMembers(ctx context.Context, conv int64, ms []Member, max int, ev events.Event) (added []int64, err error)
	// RemoveMember removes user from conv (leave or removal) with ev.
	RemoveMember(ctx context.Context, conv, user int64, ev events.Event) (changed bool, err error)
	// SetRole changes user's role with ev; ErrNotMember.
	SetRole(ctx context.Context, conv, user int64, role Role, ev events.Event) (changed bool, err error)
	// SetMark raises user's mark m in conv to seq with ev; a seq at or
	// below the mark changes nothing (changed=false, no event). ErrNotMember.
	SetMark(ctx context.Context, conv, user int64, m Mark, seq int64, ev events.Event) (changed bool, err error)
	// UserConversations returns the ids of the conversations user is a
	// member of, in id order.
	UserConversations(ctx context.Context, user int64) ([]int64, error)

	// Send appends m as conv's next message: m.Seq = LastSeq+1, gap-free
	// and assigned once even with senders on several edges at once. If
	// m.Sender already sent m.ClientMsgID in m.Conv (a retry), nothing is
	// written and the stored message is returned with created=false. The
	// event (ev(m) with the seq filled in) is written with the message.
	// ErrBusy: the same client message id is being sent by a request that
	// has not finished yet (retry later). The store also raises the
	// conversation's tail, records m.Media as used in conv (MediaUsed),
	// and raises the sender's read and delivered marks to m.Seq.
	Send(ctx context.Context, m Message, ev EventFunc) (stored Message, created bool, err error)
	// Messages returns conv's messages with from <= seq <= to, in seq
	// order (seqs not yet written are simply absent).
	Messages(ctx context.Context, conv, from, to int64) ([]Message, error)
	// GetMessage reads one message; ErrNotFound.
	GetMessage(ctx context.Context, conv, seq int64) (Message, error)
	// EditMessage rewrites the message's text and media and sets EditedAt,
	// as one compare-and-set on the whole row: ErrDeleted if it was deleted
	// for everyone (before or concurrently), ErrNotSender if sender did not
	// send it, ErrNotFound. ev(edited) is written with it.
	EditMessage(ctx context.Context, conv, seq, sender int64, text string, media []string, at time.Time, ev EventFunc) (Message, error)
	// DeleteMessage deletes for everyone: the row stays with Deleted set,
	// Text "" and no Media (never a null). changed=false if already deleted.
	DeleteMessage(ctx context.Context, conv, seq int64, at time.Time, ev events.Event) (changed bool, err error)
	// HideMessage deletes for one user ("delete for me").
	HideMessage(ctx context.Context, conv, user, seq int64, ev events.Event) (changed bool, err error)
	// Hidden returns which of conv's seqs in [from, to] user has hidden.
	Hidden(ctx context.Context, conv, user, from, to int64) (map[int64]bool, error)
	// Pin and Unpin a message; Pins lists a conversation's pins in seq order.
	Pin(ctx context.Context, conv int64, p Pin, ev events.Event) (changed bool, err error)
	Unpin(ctx context.Context, conv, seq int64, ev events.Event) (changed bool, err error)
	Pins(ctx context.Context, conv int64) ([]Pin, error)
	// MediaUsed reports whether media was sent in conv (so any member may
	// forward it there again).
	MediaUsed(ctx context.Context, conv int64, media string) (bool, error)

	// PushedSeq is the ordered live delivery's cursor of conv: every
	// message up to it has been handed to the members' update streams.
	PushedSeq(ctx context.Context, conv int64) (int64, error)
	// RaisePushed raises the cursor to seq; a seq at or below it changes
	// nothing. No compare-and-set is needed: a deliverer raises it only to
	// what it has delivered, so the highest raise is always true.
	RaisePushed(ctx context.Context, conv, seq int64) error
}

// PreviewRunes is how much of a message's text the conversation's tail
// keeps as its preview (the chat list line).
const PreviewRunes = 100

// Preview is the tail's preview of a message's text: its first
// PreviewRunes runes.
func Preview(text string) string {
	n := 0
	for i := range text {
		if n == PreviewRunes {
			return text[:i]
		}
		n++
	}
	return text
}
