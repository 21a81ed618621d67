package pebblestore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/mediaedge/mediaedge/social/chat"
	"github.com/mediaedge/mediaedge/social/events"
)

// Config says how the store writes.
type Config struct {
	// Sync makes every write durable (a WAL fsync) before it returns.
	// DefaultConfig sets it; turn it off only in tests that never crash.
	Sync bool
}

// DefaultConfig is a durable store.
func DefaultConfig() Config { return Config{Sync: true} }

// Store implements chat.Store on a *pebble.DB it does not own (the caller
// opens and closes the database).
type Store struct {
	db      *pebble.DB
	wo      *pebble.WriteOptions
	seed    maphash.Seed
	stripes [64]sync.Mutex // guard read-then-write of one conversation (by id) or one direct pair
}

var _ chat.Store = (*Store)(nil)

// New returns the store over db.
func New(db *pebble.DB, cfg Config) *Store {
	wo := pebble.NoSync
	if cfg.Sync {
		wo = pebble.Sync
	}
	return &Store{db: db, wo: wo, seed: maphash.MakeSeed()}
}

const (
	pConv   = "c/conv/"
	pPair   = "c/pair/"
	pMember = "c/mem/"
	pUser   = "c/ucv/"
	pMsg    = "c/msg/"
	pClient = "c/cmid/"
	pHide   = "c/hide/"
	pPin    = "c/pin/"
	pMedia  = "c/media/"
	pPushed = "c/pushed/"
)

func key(prefix string, ids ...int64) []byte {
	k := make([]byte, len(prefix), len(prefix)+8*len(ids))
	copy(k, prefix)
	for _, id := range ids {
		k = binary.BigEndian.AppendUint64(k, uint64(id))
	}
	return k
}

// keyStr is key with a string appended (a client message id, a media id).
func keyStr(prefix string, s string, ids ...int64) []byte {
	return append(key(prefix, ids...), s...)
}

// prefixEnd is the first key after every key starting with p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}

// lastID reads the big-endian id that ends a key.
func lastID(k []byte) int64 { return int64(binary.BigEndian.Uint64(k[len(k)-8:])) }

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

func toConvRow(c chat.Conversation) convRow { return convRow(c) }

func fromConvRow(r convRow) chat.Conversation { return chat.Conversation(r) }

func toMemberRow(m chat.Member) memberRow {
	return memberRow{Role: m.Role, JoinedAt: m.JoinedAt, ReadSeq: m.ReadSeq, DeliveredSeq: m.DeliveredSeq, ClearedSeq: m.ClearedSeq}
}

func fromMemberRow(conv, user int64, r memberRow) chat.Member {
	return chat.Member{Conv: conv, User: user, Role: r.Role, JoinedAt: r.JoinedAt,
		ReadSeq: r.ReadSeq, DeliveredSeq: r.DeliveredSeq, ClearedSeq: r.ClearedSeq}
}

// get reads key into v (nil: only whether it exists); found is false for a
// missing key.
func (s *Store) get(k []byte, v any) (found bool, err error) {
	val, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer closer.Close()
	if v == nil {
		return true, nil
	}
	if err := json.Unmarshal(val, v); err != nil {
		return true, fmt.Errorf("decode %q: %w", k, err)
	}
	return true, nil
}

// scan calls fn with each key and value in [lower, upper), in key order,
// until fn returns false. The slices are valid only during the call.
func (s *Store) scan(ctx context.Context, lower, upper []byte, fn func(k, v []byte) (more bool, err error)) error {
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		more, err := fn(it.Key(), v)
		if err != nil || !more {
			return err
		}
	}
	return it.Error()
}

// batch collects one write: data and event, committed together. The first
// error sticks, so callers check once, at commit.
type batch struct {
	b   *pebble.Batch
	err error
}

func (s *Store) newBatch() *batch { return &batch{b: s.db.NewBatch()} }

func (b *batch) set(k []byte, v any) {
	if b.err != nil {
		return
	}
	val, err := json.Marshal(v)
	if err == nil {
		err = b.b.Set(k, val, nil)
	}
	b.err = err
}

// mark writes a key whose presence is the whole fact.
func (b *batch) mark(k []byte) {
	if b.err == nil {
		b.err = b.b.Set(k, nil, nil)
	}
}

func (b *batch) del(k []byte) {
	if b.err == nil {
		b.err = b.b.Delete(k, nil)
	}
}

func (b *batch) event(ev events.Event) {
	if b.err == nil {
		b.err = events.AddPebble(b.b, ev)
	}
}

func (s *Store) commit(b *batch) error {
	defer b.b.Close()
	if b.err != nil {
		return b.err
	}
	return b.b.Commit(s.wo)
}

func (s *Store) stripe(ids ...int64) *sync.Mutex {
	var h maphash.Hash
	h.SetSeed(s.seed)
	for _, id := range ids {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(id))
		h.Write(b[:])
	}
	return &s.stripes[h.Sum64()%uint64(len(s.stripes))]
}

// lock takes conv's mutex; the caller defers the returned unlock.
func (s *Store) lock(conv int64) func() {
	mu := s.stripe(conv)
	mu.Lock()
	return mu.Unlock
}

// conv reads a conversation; ErrNotFound (unwrapped: callers add the
// operation).
func (s *Store) conv(id int64) (convRow, error) {
	var r convRow
	found, err := s.get(key(pConv, id), &r)
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
	found, err := s.get(key(pMember, conv, user), &r)
	if err != nil {
		return memberRow{}, err
	}
	if !found {
		return memberRow{}, chat.ErrNotMember
	}
	return r, nil
}

// addMember puts a membership and its entry in the user's list in b.
func addMember(b *batch, conv int64, m chat.Member) {
	b.set(key(pMember, conv, m.User), toMemberRow(m))
	b.mark(key(pUser, m.User, conv))
}

// CreateDirect returns the pair's conversation, creating it from c under
// the pair's mutex when there is none.
func (s *Store) CreateDirect(ctx context.Context, c chat.Conversation, a, b int64, ev events.Event) (chat.Conversation, bool, error) {
	if err := ctx.Err(); err != nil {
		return chat.Conversation{}, false, err
	}
	lo, hi := min(a, b), max(a, b)
	mu := s.stripe(lo, hi)
	mu.Lock()
	defer mu.Unlock()
	pk := key(pPair, lo, hi)
	var p pairRow
	found, err := s.get(pk, &p)
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
	bt := s.newBatch()
	bt.set(pk, pairRow{Conv: c.ID})
	bt.set(key(pConv, c.ID), toConvRow(c))
	for _, u := range []int64{lo, hi} {
		addMember(bt, c.ID, chat.Member{User: u, Role: chat.RoleMember, JoinedAt: c.CreatedAt})
		if lo == hi { // a user's chat with themself has one member
			break
		}
	}
	bt.event(ev)
	if err := s.commit(bt); err != nil {
		return chat.Conversation{}, false, fmt.Errorf("create direct %d-%d: %w", lo, hi, err)
	}
	return c, true, nil
}

// CreateGroup writes c, its members and ev in one batch.
func (s *Store) CreateGroup(ctx context.Context, c chat.Conversation, members []chat.Member, ev events.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer s.lock(c.ID)()
	b := s.newBatch()
	b.set(key(pConv, c.ID), toConvRow(c))
	for _, m := range members {
		addMember(b, c.ID, m)
	}
	b.event(ev)
	if err := s.commit(b); err != nil {
		return fmt.Errorf("create group %d: %w", c.ID, err)
	}
	return nil
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
	defer s.lock(id)()
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
	b := s.newBatch()
	b.set(key(pConv, id), next)
	b.event(ev)
	if err := s.commit(b); err != nil {
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
	prefix := key(pMember, conv)
	lower := prefix
	if after >= 0 {
		if after == math.MaxInt64 {
			return nil, nil
		}
		lower = key(pMember, conv, after+1)
	}
	err := s.scan(ctx, lower, prefixEnd(prefix), func(k, v []byte) (bool, error) {
		var r memberRow
		if err := json.Unmarshal(v, &r); err != nil {
			return false, fmt.Errorf("decode %q: %w", k, err)
		}
		out = append(out, fromMemberRow(conv, lastID(k), r))
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
	defer s.lock(conv)()
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
		n := 0
		prefix := key(pMember, conv)
		err := s.scan(ctx, prefix, prefixEnd(prefix), func(_, _ []byte) (bool, error) { n++; return true, nil })
		if err != nil {
			return nil, fmt.Errorf("add members to %d: count: %w", conv, err)
		}
		if n+len(fresh) > maxMembers {
			return nil, fmt.Errorf("add members to %d: %d + %d over %d: %w", conv, n, len(fresh), maxMembers, chat.ErrMemberCap)
		}
	}
	b := s.newBatch()
	added := make([]int64, 0, len(fresh))
	for _, m := range fresh {
		addMember(b, conv, m)
		added = append(added, m.User)
	}
	b.event(ev)
	if err := s.commit(b); err != nil {
		return nil, fmt.Errorf("add members to %d: %w", conv, err)
	}
	return added, nil
}

// RemoveMember deletes a membership and the user's list entry.
func (s *Store) RemoveMember(ctx context.Context, conv, user int64, ev events.Event) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	defer s.lock(conv)()
	if _, err := s.member(conv, user); errors.Is(err, chat.ErrNotMember) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("remove member %d of %d: %w", user, conv, err)
	}
	b := s.newBatch()
	b.del(key(pMember, conv, user))
	b.del(key(pUser, user, conv))
	b.event(ev)
	if err := s.commit(b); err != nil {
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
	defer s.lock(conv)()
	r, err := s.member(conv, user)
	if err != nil {
		return false, fmt.Errorf("%s of %d in %d: %w", op, user, conv, err)
	}
	if !fn(&r) {
		return false, nil
	}
	b := s.newBatch()
	b.set(key(pMember, conv, user), r)
	b.event(ev)
	if err := s.commit(b); err != nil {
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
	var out []int64
	prefix := key(pUser, user)
	err := s.scan(ctx, prefix, prefixEnd(prefix), func(k, _ []byte) (bool, error) {
		out = append(out, lastID(k))
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("conversations of %d: %w", user, err)
	}
	return out, nil
}
