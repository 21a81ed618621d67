package cassandrastore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/mediaedge/mediaedge/social/chat"
	"github.com/mediaedge/mediaedge/social/cqlrows"
	"github.com/mediaedge/mediaedge/social/events"
)

// BucketSize is how many seqs one chat_messages partition holds: bucket =
// seq / BucketSize. Changing it re-addresses every stored message, so it is
// a constant of the schema, not a setting.
const BucketSize = 1000

// Config tunes the store's compare-and-set protocols.
type Config struct {
	// SendTimeout is how long a send attempt owns its client message id
	// (the deadline written in its chat_sends row): a retry before it is
	// told chat.ErrBusy, a retry after it recovers or takes the send over.
	SendTimeout time.Duration
	// ClaimMargin is how long before its deadline an attempt stops starting
	// seq claims. A claim started before that may still land on the server
	// after the client gave up (Paxos retries under contention up to the
	// server's cas_contention_timeout plus its write timeout, ~3 s by
	// default), so the margin must exceed that plus the clock skew between
	// edges: then a retry that reads the history after the deadline sees
	// every message the attempt can ever claim.
	ClaimMargin time.Duration
	// SendTTL is how long a client message id is remembered. A retry later
	// than that is a new message. A group create's Idempotency-Key is
	// remembered as long (its claim is a chat_sends row too).
	SendTTL time.Duration
	// ClaimGrace is how long a direct pair's claim, or a group create's
	// Idempotency-Key claim, whose conversation row is missing counts as a
	// create in flight; after it the claim is stale and the next create
	// takes it over. It must exceed the longest a create can take, batchlog
	// replay included (tens of seconds).
	ClaimGrace time.Duration
	// ReplayWait is how long a create of a direct pair, or a group create
	// retried with its Idempotency-Key, waits for the conversation of a
	// claim in flight before chat.ErrBusy.
	ReplayWait time.Duration
	// BatchMembers is how many memberships go in one LOGGED batch. A group
	// of more is written in several batches (the conversation and its event
	// in the last one), because a batch over the server's
	// batch_size_fail_threshold (50 kB by default, ~1,000 memberships) is
	// refused.
	BatchMembers int
	// Serial is the consistency of the Paxos phase of every lightweight
	// transaction and of serial reads: LOCAL_SERIAL (default) when every
	// write of a conversation goes through one data centre, SERIAL when
	// several data centres write the same conversations.
	Serial gocql.Consistency
}

// DefaultConfig is what production uses.
func DefaultConfig() Config {
	return Config{
		SendTimeout:  10 * time.Second,
		ClaimMargin:  4 * time.Second,
		SendTTL:      24 * time.Hour,
		ClaimGrace:   time.Minute,
		ReplayWait:   2 * time.Second,
		BatchMembers: 200,
		Serial:       gocql.LocalSerial,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.ClaimMargin < time.Second {
		errs = append(errs, fmt.Errorf("chat cassandrastore: claim margin %v: want 1s or more (a Paxos round may outlive its client)", c.ClaimMargin))
	}
	if c.SendTimeout < c.ClaimMargin+time.Second {
		errs = append(errs, fmt.Errorf("chat cassandrastore: send timeout %v: want at least the claim margin %v plus 1s", c.SendTimeout, c.ClaimMargin))
	}
	if c.SendTTL < time.Hour {
		errs = append(errs, fmt.Errorf("chat cassandrastore: send ttl %v: want 1h or more", c.SendTTL))
	}
	if c.ClaimGrace < 10*time.Second {
		errs = append(errs, fmt.Errorf("chat cassandrastore: claim grace %v: want 10s or more (a batchlog replay must fit in it)", c.ClaimGrace))
	}
	if c.ReplayWait <= 0 {
		errs = append(errs, errors.New("chat cassandrastore: replay wait must be positive"))
	}
	if c.BatchMembers < 1 || c.BatchMembers > 500 {
		errs = append(errs, fmt.Errorf("chat cassandrastore: batch members %d: want 1..500", c.BatchMembers))
	}
	if !cqlrows.ValidSerial(c.Serial) {
		errs = append(errs, fmt.Errorf("chat cassandrastore: serial consistency %v: want SERIAL or LOCAL_SERIAL", c.Serial))
	}
	return errors.Join(errs...)
}

// Store implements chat.Store. Its plain queries run at the session's
// consistency (LOCAL_QUORUM by default), its lightweight transactions and
// serial reads at Config.Serial.
type Store struct {
	s   *gocql.Session
	cfg Config
}

var _ chat.Store = (*Store)(nil)

// New returns the store over s, a session bound to the keyspace holding the
// schema (see package schema). The caller owns and closes the session.
func New(s *gocql.Session, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Store{s: s, cfg: cfg}, nil
}

// Query strings are constants so that the driver's prepared-statement cache
// hits.
const (
	qPutConv    = `INSERT INTO chat_conversations (id, kind, title, avatar, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)`
	qGetConv    = `SELECT kind, title, avatar, created_by, created_at FROM chat_conversations WHERE id = ?`
	qSetTitle   = `UPDATE chat_conversations SET title = ? WHERE id = ?`
	qSetAvatar  = `UPDATE chat_conversations SET avatar = ? WHERE id = ?`
	qGetTail    = `SELECT last_seq, last_at, last_sender, last_preview FROM chat_tails WHERE conv_id = ?`
	qPutMember  = `INSERT INTO chat_members (conv_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)`
	qGetMember  = `SELECT role, joined_at FROM chat_members WHERE conv_id = ? AND user_id = ?`
	qListMember = `SELECT user_id, role, joined_at FROM chat_members WHERE conv_id = ? AND user_id > ? LIMIT ?`
	qDelMember  = `DELETE FROM chat_members WHERE conv_id = ? AND user_id = ?`
	qSetRole    = `UPDATE chat_members SET role = ? WHERE conv_id = ? AND user_id = ?`
	qGetMarks   = `SELECT read_seq, delivered_seq, cleared_seq FROM chat_marks WHERE conv_id = ? AND user_id = ?`
	qListMarks  = `SELECT user_id, read_seq, delivered_seq, cleared_seq FROM chat_marks WHERE conv_id = ? AND user_id > ? AND user_id <= ?`
	qPutUser    = `INSERT INTO chat_user_convs (user_id, conv_id) VALUES (?, ?)`
	qDelUser    = `DELETE FROM chat_user_convs WHERE user_id = ? AND conv_id = ?`
	qUserConvs  = `SELECT conv_id FROM chat_user_convs WHERE user_id = ?`

	qClaimPair    = `INSERT INTO chat_direct (lo, hi, conv_id, claimed_at) VALUES (?, ?, ?, ?) IF NOT EXISTS`
	qTakeoverPair = `UPDATE chat_direct SET conv_id = ?, claimed_at = ? WHERE lo = ? AND hi = ? IF conv_id = ?`
	qReleasePair  = `DELETE FROM chat_direct WHERE lo = ? AND hi = ? IF conv_id = ?`
)

// markQuery raises one mark: USING TIMESTAMP the seq, so the highest seq
// wins (see chat_marks in the CQL). ok is false for an unknown mark.
func markQuery(m chat.Mark) (q string, ok bool) {
	switch m {
	case chat.MarkRead:
		return `UPDATE chat_marks USING TIMESTAMP ? SET read_seq = ? WHERE conv_id = ? AND user_id = ?`, true
	case chat.MarkDelivered:
		return `UPDATE chat_marks USING TIMESTAMP ? SET delivered_seq = ? WHERE conv_id = ? AND user_id = ?`, true
	case chat.MarkCleared:
		return `UPDATE chat_marks USING TIMESTAMP ? SET cleared_seq = ? WHERE conv_id = ? AND user_id = ?`, true
	}
	return "", false
}

// Batches (cqlrows.Batch.Add) are retried by the driver: every statement
// here writes fixed values (or a cell USING TIMESTAMP its seq), so
// applying a batch twice is applying it once. Lightweight transactions
// (cqlrows.CAS) run at Config.Serial, marked idempotent only where the
// caller recognises its own write in the row it gets back.

// serial is a read at Config.Serial: it first completes (or supersedes) any
// lightweight transaction in flight on the partition, so what it returns
// is every transaction decided before it.
func (s *Store) serial(stmt string, args ...any) *gocql.Query {
	return s.s.Query(stmt, args...).Consistency(s.cfg.Serial).Idempotent(true)
}

// ms is how Cassandra stores a time: milliseconds, UTC. Values returned by
// writes go through it so they equal what a later read returns. The zero
// time stays zero (the driver writes it as an empty value, not a null).
func ms(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Millisecond)
}

// list is l, never nil: a nil slice is written as a null.
func list(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// unlist is how a list is returned: nil when empty.
func unlist(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

// randomAttempt names one send attempt: 63 random bits, never 0.
func randomAttempt() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return int64(binary.BigEndian.Uint64(b[:])>>1) | 1
}

// ---- conversations ----

// CreateDirect claims the pair in chat_direct (a lightweight transaction),
// then writes the conversation, both memberships and ev in one LOGGED
// batch. See the package doc for a claim whose batch never came.
func (s *Store) CreateDirect(ctx context.Context, c chat.Conversation, a, b int64, ev events.Event) (chat.Conversation, bool, error) {
	lo, hi := min(a, b), max(a, b)
	c = newConv(c)
	op := fmt.Sprintf("create direct %d-%d", lo, hi)
	holderOf := func(m map[string]any) int64 { id, _ := m["conv_id"].(int64); return id }
	existing, done, err := cqlrows.KeyClaim[chat.Conversation]{
		Op:   op,
		Mine: c.ID,
		Claim: func(ctx context.Context, m map[string]any) (bool, error) {
			return cqlrows.CAS(ctx, s.s, s.cfg.Serial, m, true, qClaimPair, lo, hi, c.ID, time.Now())
		},
		Holder: func(m map[string]any) (int64, bool) {
			at, _ := m["claimed_at"].(time.Time)
			return holderOf(m), time.Since(at) < s.cfg.ClaimGrace
		},
		TakeOver: func(ctx context.Context, row, m map[string]any) (bool, error) {
			return cqlrows.CAS(ctx, s.s, s.cfg.Serial, m, false, qTakeoverPair, c.ID, time.Now(), lo, hi, holderOf(row))
		},
		Reread: func(ctx context.Context, m map[string]any) error {
			return s.serial(`SELECT conv_id, claimed_at FROM chat_direct WHERE lo = ? AND hi = ?`, lo, hi).MapScanContext(ctx, m)
		},
		Get:      s.GetConversation,
		NotFound: chat.ErrNotFound,
		Busy:     chat.ErrBusy,
		Wait:     s.cfg.ReplayWait,
	}.Run(ctx)
	if err != nil || done {
		return existing, false, err // done: the pair's conversation exists
	}
	users := []int64{lo, hi}
	if lo == hi { // a user's chat with themself has one member
		users = users[:1]
	}
	ms := make([]chat.Member, len(users))
	for i, u := range users {
		ms[i] = chat.Member{Conv: c.ID, User: u, Role: chat.RoleMember, JoinedAt: c.CreatedAt}
	}
	if err := s.writeConv(ctx, c, ms, ev); err != nil {
		var unavailable *gocql.RequestErrUnavailable
		if errors.As(err, &unavailable) {
			// Refused before anything was written: give the pair back.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			_, _ = cqlrows.CAS(rctx, s.s, s.cfg.Serial, nil, false, qReleasePair, lo, hi, c.ID)
			cancel()
		}
		return chat.Conversation{}, false, fmt.Errorf("%s: %w", op, err)
	}
	return c, true, nil
}

// newConv fills what every new conversation has: LastAt is CreatedAt
// until the first message.
func newConv(c chat.Conversation) chat.Conversation {
	c.CreatedAt = ms(c.CreatedAt)
	c.LastSeq, c.LastSender, c.LastPreview, c.LastAt = 0, 0, "", c.CreatedAt
	return c
}

// CreateGroup claims the key (if any; groupkey.go), then writes c, its
// members and ev.
func (s *Store) CreateGroup(ctx context.Context, c chat.Conversation, members []chat.Member, key string, ev events.Event) (chat.Conversation, bool, error) {
	c = newConv(c)
	if key != "" {
		prev, done, err := s.claimGroupKey(ctx, c, key)
		if err != nil || done {
			return prev, false, err
		}
	}
	if err := s.writeConv(ctx, c, members, ev); err != nil {
		var unavailable *gocql.RequestErrUnavailable
		if key != "" && errors.As(err, &unavailable) {
			// Refused before anything was written: give the key back.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			_, _ = cqlrows.CAS(rctx, s.s, s.cfg.Serial, nil, false, qReleaseGroupKey, groupKeyConv, c.CreatedBy, key, c.ID)
			cancel()
		}
		return chat.Conversation{}, false, fmt.Errorf("create group %d: %w", c.ID, err)
	}
	return c, true, nil
}

// writeConv writes a conversation row with its memberships and ev: one
// LOGGED batch up to BatchMembers members; beyond, the memberships first
// in batches of BatchMembers and the conversation with its event last, so
// the conversation and its event exist only once every member does. A
// crash midway leaves memberships of a conversation that does not exist
// (GetConversation answers ErrNotFound for it).
func (s *Store) writeConv(ctx context.Context, c chat.Conversation, members []chat.Member, ev events.Event) error {
	for len(members) > s.cfg.BatchMembers {
		b := cqlrows.NewBatch(s.s)
		for _, m := range members[:s.cfg.BatchMembers] {
			addMember(b, c.ID, m)
		}
		if err := b.Exec(ctx); err != nil {
			return err
		}
		members = members[s.cfg.BatchMembers:]
	}
	b := cqlrows.NewBatch(s.s)
	b.Add(qPutConv, c.ID, string(c.Kind), c.Title, c.Avatar, c.CreatedBy, c.CreatedAt)
	for _, m := range members {
		addMember(b, c.ID, m)
	}
	b.Event(ev)
	return b.Exec(ctx)
}

func addMember(b *cqlrows.Batch, conv int64, m chat.Member) {
	role := m.Role
	if role == "" {
		role = chat.RoleMember
	}
	// A membership is a row with a joined_at cell (see chat_members); a
	// zero time is written as an empty value, which is not a null.
	b.Add(qPutMember, conv, m.User, string(role), ms(m.JoinedAt))
	b.Add(qPutUser, m.User, conv)
}

// GetConversation reads the header and the tail.
func (s *Store) GetConversation(ctx context.Context, id int64) (chat.Conversation, error) {
	c := chat.Conversation{ID: id}
	var kind string
	found, err := cqlrows.Read(ctx, s.s, qGetConv, []any{id}, &kind, &c.Title, &c.Avatar, &c.CreatedBy, &c.CreatedAt)
	if err == nil && !found {
		err = chat.ErrNotFound
	}
	if err != nil {
		return chat.Conversation{}, fmt.Errorf("get conversation %d: %w", id, err)
	}
	c.Kind = chat.Kind(kind)
	c.LastAt = c.CreatedAt
	// No tail row before the first message: LastAt stays CreatedAt.
	if _, err := cqlrows.Read(ctx, s.s, qGetTail, []any{id}, &c.LastSeq, &c.LastAt, &c.LastSender, &c.LastPreview); err != nil {
		return chat.Conversation{}, fmt.Errorf("get tail of conversation %d: %w", id, err)
	}
	return c, nil
}

// UpdateConversation writes the patched columns only (a concurrent patch
// of the other field keeps its value) with ev; a patch that changes
// nothing writes nothing.
func (s *Store) UpdateConversation(ctx context.Context, id int64, p chat.ConvPatch, ev events.Event) (chat.Conversation, error) {
	c, err := s.GetConversation(ctx, id)
	if err != nil {
		return chat.Conversation{}, fmt.Errorf("update conversation: %w", err)
	}
	b := cqlrows.NewBatch(s.s)
	if p.Title != nil && *p.Title != c.Title {
		c.Title = *p.Title
		b.Add(qSetTitle, c.Title, id)
	}
	if p.Avatar != nil && *p.Avatar != c.Avatar {
		c.Avatar = *p.Avatar
		b.Add(qSetAvatar, c.Avatar, id)
	}
	if b.Len() == 0 {
		return c, nil
	}
	b.Event(ev)
	if err := b.Exec(ctx); err != nil {
		return chat.Conversation{}, fmt.Errorf("update conversation %d: %w", id, err)
	}
	return c, nil
}
