package pebblestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/social/chat"
	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/pebblekv"
)

// Config says how the store writes.
type Config struct {
	// Sync makes every write durable (a WAL fsync) before it returns.
	// DefaultConfig sets it; turn it off only in tests that never crash.
	Sync bool
	// IdempotencyTTL is how long a group create's Idempotency-Key is
	// remembered; 0 is 24 hours.
	IdempotencyTTL time.Duration
	// Now is the clock of key expiry; nil is time.Now.
	Now func() time.Time `json:"-"`
}

// DefaultConfig is a durable store remembering keys for 24 hours.
func DefaultConfig() Config { return Config{Sync: true, IdempotencyTTL: 24 * time.Hour} }

// Store implements chat.Store on a *pebble.DB it does not own (the caller
// opens and closes the database).
type Store struct {
	db *pebblekv.DB
	// stripes guard read-then-write of one conversation (by id), one
	// direct pair (by lo, hi) or one creator's group keys (by user id).
	stripes pebblekv.Stripes
	ttl     time.Duration
	now     func() time.Time
}

var _ chat.Store = (*Store)(nil)

// New returns the store over db.
func New(db *pebble.DB, cfg Config) *Store {
	s := &Store{db: pebblekv.New(db, cfg.Sync), ttl: cfg.IdempotencyTTL, now: cfg.Now}
	if s.ttl <= 0 {
		s.ttl = 24 * time.Hour
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

const (
	pConv   = "c/conv/"
	pPair   = "c/pair/"
	pGKey   = "c/gkey/"
	pMember = "c/mem/"
	pUser   = "c/ucv/"
	pMsg    = "c/msg/"
	pClient = "c/cmid/"
	pHide   = "c/hide/"
	pPin    = "c/pin/"
	pMedia  = "c/media/"
	pPushed = "c/pushed/"
)

// keyStr is pebblekv.Key with a string appended (a client message id, a
// media id).
func keyStr(prefix string, s string, ids ...int64) []byte {
	return append(pebblekv.Key(prefix, ids...), s...)
}

type convRow struct {
	ID          int64     `json:"id"`
	Kind        chat.Kind `json:"kind"`
	Title       string    `json:"title"`
	Avatar      string    `json:"avatar"`
	CreatedBy   int64     `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
	LastSeq     int64     `json:"last_seq"`
	LastAt      time.Time `json:"last_at"`
	LastSender  int64     `json:"last_sender"`
	LastPreview string    `json:"last_preview"`
}

type memberRow struct {
	Role         chat.Role `json:"role"`
	JoinedAt     time.Time `json:"joined_at"`
	ReadSeq      int64     `json:"read_seq"`
	DeliveredSeq int64     `json:"delivered_seq"`
	ClearedSeq   int64     `json:"cleared_seq"`
}

type pairRow struct {
	Conv int64 `json:"conv"`
}

// groupKeyRow is a group create's Idempotency-Key: the group it made and
// when.
type groupKeyRow struct {
	Conv int64     `json:"conv"`
	At   time.Time `json:"at"`
}

func toConvRow(c chat.Conversation) convRow { return convRow(c) }

func fromConvRow(r convRow) chat.Conversation { return chat.Conversation(r) }

func toMemberRow(m chat.Member) memberRow {
	return memberRow{Role: m.Role, JoinedAt: m.JoinedAt, ReadSeq: m.ReadSeq, DeliveredSeq: m.DeliveredSeq, ClearedSeq: m.ClearedSeq}
}

func fromMemberRow(conv, user int64, r memberRow) chat.Member {
	return chat.Member{Conv: conv, User: user, Role: r.Role, JoinedAt: r.JoinedAt,
		ReadSeq: r.ReadSeq, DeliveredSeq: r.DeliveredSeq, ClearedSeq: r.ClearedSeq}
}

// conv reads a conversation; ErrNotFound (unwrapped: callers add the
// operation).
func (s *Store) conv(id int64) (convRow, error) {
	var r convRow
	found, err := s.db.Get(pebblekv.Key(pConv, id), &r)
	if err != nil {
		return convRow{}, err
	}
	if !found {
		return convRow{}, chat.ErrNotFound
	}
	return r, nil
}

// member reads a membership; ErrNotMember (unwrapped).
func (s *Store) member(conv, user int64) (memberRow, error) {
	var r memberRow
	found, err := s.db.Get(pebblekv.Key(pMember, conv, user), &r)
	if err != nil {
		return memberRow{}, err
	}
	if !found {
		return memberRow{}, chat.ErrNotMember
	}
	return r, nil
}

// addMember puts a membership and its entry in the user's list in b.
func addMember(b *pebblekv.Batch, conv int64, m chat.Member) {
	b.Set(pebblekv.Key(pMember, conv, m.User), toMemberRow(m))
	b.Mark(pebblekv.Key(pUser, m.User, conv))
}

// CreateDirect returns the pair's conversation, creating it from c under
// the pair's mutex when there is none.
func (s *Store) CreateDirect(ctx context.Context, c chat.Conversation, a, b int64, ev events.Event) (chat.Conversation, bool, error) {
	if err := ctx.Err(); err != nil {
		return chat.Conversation{}, false, err
	}
	lo, hi := min(a, b), max(a, b)
	defer s.stripes.Lock(lo, hi)()
	pk := pebblekv.Key(pPair, lo, hi)
	var p pairRow
	found, err := s.db.Get(pk, &p)
	if err != nil {
		return chat.Conversation{}, false, fmt.Errorf("create direct %d-%d: read pair: %w", lo, hi, err)
	}
	if found {
		r, err := s.conv(p.Conv)
		if err != nil {
			return chat.Conversation{}, false, fmt.Errorf("create direct %d-%d: read conversation %d: %w", lo, hi, p.Conv, err)
		}
		return fromConvRow(r), false, nil
	}
	bt := s.db.NewBatch()
	bt.Set(pk, pairRow{Conv: c.ID})
	bt.Set(pebblekv.Key(pConv, c.ID), toConvRow(c))
	for _, u := range []int64{lo, hi} {
		addMember(bt, c.ID, chat.Member{User: u, Role: chat.RoleMember, JoinedAt: c.CreatedAt})
		if lo == hi { // a user's chat with themself has one member
			break
		}
	}
	bt.Event(ev)
	if err := bt.Commit(); err != nil {
		return chat.Conversation{}, false, fmt.Errorf("create direct %d-%d: %w", lo, hi, err)
	}
	return c, true, nil
}

// CreateGroup writes c, its members and ev in one batch. With a key it
// runs under the creator's mutex instead of the conversation's (no call
// holds two; nobody else knows the new id yet), and a live key whose group
// exists returns that group.
func (s *Store) CreateGroup(ctx context.Context, c chat.Conversation, members []chat.Member, key string, ev events.Event) (chat.Conversation, bool, error) {
	if err := ctx.Err(); err != nil {
		return chat.Conversation{}, false, err
	}
	var kk []byte
	if key == "" {
		defer s.stripes.Lock(c.ID)()
	} else {
		defer s.stripes.Lock(c.CreatedBy)()
		kk = keyStr(pGKey, key, c.CreatedBy)
		var kr groupKeyRow
		found, err := s.db.Get(kk, &kr)
		if err != nil {
			return chat.Conversation{}, false, fmt.Errorf("create group of %d: read key %q: %w", c.CreatedBy, key, err)
		}
		if found && s.now().Sub(kr.At) < s.ttl {
			r, err := s.conv(kr.Conv)
			if err == nil {
				return fromConvRow(r), false, nil
			}
			if !errors.Is(err, chat.ErrNotFound) {
				return chat.Conversation{}, false, fmt.Errorf("create group of %d: read group %d of key %q: %w", c.CreatedBy, kr.Conv, key, err)
			}
			// The key's group is gone: the key is free again.
		}
	}
	b := s.db.NewBatch()
	b.Set(pebblekv.Key(pConv, c.ID), toConvRow(c))
	for _, m := range members {
		addMember(b, c.ID, m)
	}
	if kk != nil {
		b.Set(kk, groupKeyRow{Conv: c.ID, At: s.now()})
	}
	b.Event(ev)
	if err := b.Commit(); err != nil {
		return chat.Conversation{}, false, fmt.Errorf("create group %d: %w", c.ID, err)
	}
	return c, true, nil
}

// GetConversation reads a conversation with its tail.
func (s *Store) GetConversation(ctx context.Context, id int64) (chat.Conversation, error) {
	if err := ctx.Err(); err != nil {
		return chat.Conversation{}, err
	}
	r, err := s.conv(id)
	if err != nil {
		return chat.Conversation{}, fmt.Errorf("get conversation %d: %w", id, err)
	}
	return fromConvRow(r), nil
}

// UpdateConversation applies p under the conversation's mutex. A patch
// that changes nothing writes nothing, not even ev (the Store's rule for
// every write).
func (s *Store) UpdateConversation(ctx context.Context, id int64, p chat.ConvPatch, ev events.Event) (chat.Conversation, error) {
	if err := ctx.Err(); err != nil {
		return chat.Conversation{}, err
	}
	defer s.stripes.Lock(id)()
	r, err := s.conv(id)
	if err != nil {
		return chat.Conversation{}, fmt.Errorf("update conversation %d: %w", id, err)
	}
	next := r
	if p.Title != nil {
		next.Title = *p.Title
	}
	if p.Avatar != nil {
		next.Avatar = *p.Avatar
	}
	if next == r {
		return fromConvRow(r), nil
	}
	b := s.db.NewBatch()
	b.Set(pebblekv.Key(pConv, id), next)
	b.Event(ev)
	if err := b.Commit(); err != nil {
		return chat.Conversation{}, fmt.Errorf("update conversation %d: %w", id, err)
	}
	return fromConvRow(next), nil
}

// GetMember reads a membership.
func (s *Store) GetMember(ctx context.Context, conv, user int64) (chat.Member, error) {
	if err := ctx.Err(); err != nil {
		return chat.Member{}, err
	}
	r, err := s.member(conv, user)
	if err != nil {
		return chat.Member{}, fmt.Errorf("get member %d of %d: %w", user, conv, err)
	}
	return fromMemberRow(conv, user, r), nil
}

// ListMembers pages through a conversation's members in user id order.
func (s *Store) ListMembers(ctx context.Context, conv int64, after int64, limit int) ([]chat.Member, error) {
	var out []chat.Member
	prefix := pebblekv.Key(pMember, conv)
	lower := prefix
	if after >= 0 {
		if after == math.MaxInt64 {
			return nil, nil
		}
		lower = pebblekv.Key(pMember, conv, after+1)
	}
	err := s.db.Scan(ctx, lower, pebblekv.PrefixEnd(prefix), func(k, v []byte) (bool, error) {
		var r memberRow
		if err := json.Unmarshal(v, &r); err != nil {
			return false, fmt.Errorf("decode %q: %w", k, err)
		}
		out = append(out, fromMemberRow(conv, pebblekv.LastID(k), r))
		return limit <= 0 || len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list members of %d: %w", conv, err)
	}
	return out, nil
}

// AddMembers adds the users of ms who are not members yet, counting the
// members exactly under the conversation's mutex (the cap is hard here).
func (s *Store) AddMembers(ctx context.Context, conv int64, ms []chat.Member, maxMembers int, ev events.Event) ([]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	defer s.stripes.Lock(conv)()
	if _, err := s.conv(conv); err != nil {
		return nil, fmt.Errorf("add members to %d: %w", conv, err)
	}
	var fresh []chat.Member
	seen := make(map[int64]bool, len(ms))
	for _, m := range ms {
		if seen[m.User] {
			continue
		}
		seen[m.User] = true
		_, err := s.member(conv, m.User)
		if err == nil {
			continue
		}
		if !errors.Is(err, chat.ErrNotMember) {
			return nil, fmt.Errorf("add members to %d: read %d: %w", conv, m.User, err)
		}
		fresh = append(fresh, m)
	}
	if len(fresh) == 0 {
		return nil, nil
	}
	if maxMembers > 0 {
		prefix := pebblekv.Key(pMember, conv)
		n, err := s.db.Count(ctx, prefix, pebblekv.PrefixEnd(prefix))
		if err != nil {
			return nil, fmt.Errorf("add members to %d: count: %w", conv, err)
		}
		if n+len(fresh) > maxMembers {
			return nil, fmt.Errorf("add members to %d: %d + %d over %d: %w", conv, n, len(fresh), maxMembers, chat.ErrMemberCap)
		}
	}
	b := s.db.NewBatch()
	added := make([]int64, 0, len(fresh))
	for _, m := range fresh {
		addMember(b, conv, m)
		added = append(added, m.User)
	}
	b.Event(ev)
	if err := b.Commit(); err != nil {
		return nil, fmt.Errorf("add members to %d: %w", conv, err)
	}
	return added, nil
}

// RemoveMember deletes a membership and the user's list entry.
func (s *Store) RemoveMember(ctx context.Context, conv, user int64, ev events.Event) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	defer s.stripes.Lock(conv)()
	if _, err := s.member(conv, user); errors.Is(err, chat.ErrNotMember) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("remove member %d of %d: %w", user, conv, err)
	}
	b := s.db.NewBatch()
	b.Delete(pebblekv.Key(pMember, conv, user))
	b.Delete(pebblekv.Key(pUser, user, conv))
	b.Event(ev)
	if err := b.Commit(); err != nil {
		return false, fmt.Errorf("remove member %d of %d: %w", user, conv, err)
	}
	return true, nil
}

// updateMember rewrites one membership under the conversation's mutex:
// fn changes the row and reports whether it did; ev is written only then.
func (s *Store) updateMember(ctx context.Context, op string, conv, user int64, ev events.Event, fn func(*memberRow) bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	defer s.stripes.Lock(conv)()
	r, err := s.member(conv, user)
	if err != nil {
		return false, fmt.Errorf("%s of %d in %d: %w", op, user, conv, err)
	}
	if !fn(&r) {
		return false, nil
	}
	b := s.db.NewBatch()
	b.Set(pebblekv.Key(pMember, conv, user), r)
	b.Event(ev)
	if err := b.Commit(); err != nil {
		return false, fmt.Errorf("%s of %d in %d: %w", op, user, conv, err)
	}
	return true, nil
}

// SetRole changes a member's role.
func (s *Store) SetRole(ctx context.Context, conv, user int64, role chat.Role, ev events.Event) (bool, error) {
	return s.updateMember(ctx, "set role", conv, user, ev, func(r *memberRow) bool {
		if r.Role == role {
			return false
		}
		r.Role = role
		return true
	})
}

// SetMark raises one of a member's marks; it never lowers one.
func (s *Store) SetMark(ctx context.Context, conv, user int64, m chat.Mark, seq int64, ev events.Event) (bool, error) {
	switch m {
	case chat.MarkRead, chat.MarkDelivered, chat.MarkCleared:
	default:
		return false, fmt.Errorf("set mark of %d in %d: unknown mark %q", user, conv, m)
	}
	return s.updateMember(ctx, "set "+string(m)+" mark", conv, user, ev, func(r *memberRow) bool {
		p := &r.ReadSeq
		switch m {
		case chat.MarkDelivered:
			p = &r.DeliveredSeq
		case chat.MarkCleared:
			p = &r.ClearedSeq
		}
		if seq <= *p {
			return false
		}
		*p = seq
		return true
	})
}

// UserConversations lists the conversations a user is a member of.
func (s *Store) UserConversations(ctx context.Context, user int64) ([]int64, error) {
	out, err := s.db.IDs(ctx, pebblekv.Key(pUser, user))
	if err != nil {
		return nil, fmt.Errorf("conversations of %d: %w", user, err)
	}
	return out, nil
}
