package cassandrastore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/mediaedge/mediaedge/social/chat"
	"github.com/mediaedge/mediaedge/social/cqlrows"
	"github.com/mediaedge/mediaedge/social/events"
)

// member reads a membership without its marks; ErrNotMember (unwrapped).
// joined_at is scanned through a pointer so that a null (a row a role
// update left behind a removal) tells itself from a zero time.
func (s *Store) member(ctx context.Context, conv, user int64) (chat.Member, error) {
	var role string
	var joined *time.Time
	found, err := cqlrows.Read(ctx, s.s, qGetMember, []any{conv, user}, &role, &joined)
	if err != nil {
		return chat.Member{}, err
	}
	if !found || joined == nil {
		return chat.Member{}, chat.ErrNotMember
	}
	return chat.Member{Conv: conv, User: user, Role: chat.Role(role), JoinedAt: *joined}, nil
}

// marks fills m's marks (0 where none was ever written).
func (s *Store) marks(ctx context.Context, m *chat.Member) error {
	var r, d, c *int64
	if _, err := cqlrows.Read(ctx, s.s, qGetMarks, []any{m.Conv, m.User}, &r, &d, &c); err != nil {
		return err
	}
	m.ReadSeq, m.DeliveredSeq, m.ClearedSeq = deref(r), deref(d), deref(c)
	return nil
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// GetMember reads a membership and its marks.
func (s *Store) GetMember(ctx context.Context, conv, user int64) (chat.Member, error) {
	m, err := s.member(ctx, conv, user)
	if err == nil {
		err = s.marks(ctx, &m)
	}
	if err != nil {
		return chat.Member{}, fmt.Errorf("get member %d of %d: %w", user, conv, err)
	}
	return m, nil
}

// ListMembers pages through the members in user id order, then reads the
// marks of the same id range (one slice of chat_marks).
func (s *Store) ListMembers(ctx context.Context, conv int64, after int64, limit int) ([]chat.Member, error) {
	out, err := s.listMembers(ctx, conv, after, limit)
	if err != nil || len(out) == 0 {
		return out, err
	}
	byUser := make(map[int64]*chat.Member, len(out))
	for i := range out {
		byUser[out[i].User] = &out[i]
	}
	it := s.s.Query(qListMarks, conv, after, out[len(out)-1].User).Idempotent(true).IterContext(ctx)
	var user int64
	var r, d, c *int64
	for it.Scan(&user, &r, &d, &c) {
		if m := byUser[user]; m != nil {
			m.ReadSeq, m.DeliveredSeq, m.ClearedSeq = deref(r), deref(d), deref(c)
		}
		r, d, c = nil, nil, nil
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("list marks of %d: %w", conv, err)
	}
	return out, nil
}

// listMembers reads memberships (no marks) above after, up to limit
// (<= 0: all), skipping rows without joined_at.
func (s *Store) listMembers(ctx context.Context, conv int64, after int64, limit int) ([]chat.Member, error) {
	var out []chat.Member
	for {
		page := 1000
		if limit > 0 {
			page = limit - len(out)
		}
		it := s.s.Query(qListMember, conv, after, page).Idempotent(true).IterContext(ctx)
		var user int64
		var role string
		var joined *time.Time
		n := 0
		for it.Scan(&user, &role, &joined) {
			n++
			after = user
			if joined != nil {
				out = append(out, chat.Member{Conv: conv, User: user, Role: chat.Role(role), JoinedAt: *joined})
			}
			joined = nil
		}
		if err := it.Close(); err != nil {
			return nil, fmt.Errorf("list members of %d: %w", conv, err)
		}
		if n < page || (limit > 0 && len(out) >= limit) || after == math.MaxInt64 {
			return out, nil
		}
	}
}

// AddMembers reads the members, then writes those of ms not yet in with ev
// (in batches as CreateGroup does). The count is read, then written: two
// concurrent adds may pass max by a few (the cap is soft here).
func (s *Store) AddMembers(ctx context.Context, conv int64, ms []chat.Member, maxMembers int, ev events.Event) ([]int64, error) {
	if _, err := s.GetConversation(ctx, conv); err != nil {
		return nil, fmt.Errorf("add members: %w", err)
	}
	cur, err := s.listMembers(ctx, conv, math.MinInt64, 0)
	if err != nil {
		return nil, fmt.Errorf("add members to %d: %w", conv, err)
	}
	seen := make(map[int64]bool, len(cur)+len(ms))
	for _, m := range cur {
		seen[m.User] = true
	}
	var fresh []chat.Member
	for _, m := range ms {
		if !seen[m.User] {
			seen[m.User] = true
			fresh = append(fresh, m)
		}
	}
	if len(fresh) == 0 {
		return nil, nil
	}
	if maxMembers > 0 && len(cur)+len(fresh) > maxMembers {
		return nil, fmt.Errorf("add members to %d: %d + %d over %d: %w", conv, len(cur), len(fresh), maxMembers, chat.ErrMemberCap)
	}
	added := make([]int64, 0, len(fresh))
	for _, m := range fresh {
		added = append(added, m.User)
	}
	// The event goes with the last batch: it exists once every member does.
	for len(fresh) > 0 {
		n := min(len(fresh), s.cfg.BatchMembers)
		b := cqlrows.NewBatch(s.s)
		for _, m := range fresh[:n] {
			addMember(b, conv, m)
		}
		if fresh = fresh[n:]; len(fresh) == 0 {
			b.Event(ev)
		}
		if err := b.Exec(ctx); err != nil {
			return nil, fmt.Errorf("add members to %d: %w", conv, err)
		}
	}
	return added, nil
}

// RemoveMember deletes the membership and the user's list entry with ev.
// The user's marks stay in chat_marks (a member who comes back keeps them).
func (s *Store) RemoveMember(ctx context.Context, conv, user int64, ev events.Event) (bool, error) {
	if _, err := s.member(ctx, conv, user); errors.Is(err, chat.ErrNotMember) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("remove member %d of %d: %w", user, conv, err)
	}
	b := cqlrows.NewBatch(s.s)
	b.Add(qDelMember, conv, user)
	b.Add(qDelUser, user, conv)
	b.Event(ev)
	if err := b.Exec(ctx); err != nil {
		return false, fmt.Errorf("remove member %d of %d: %w", user, conv, err)
	}
	return true, nil
}

// SetRole writes the role alone (UPDATE, not INSERT): racing a removal it
// leaves at worst a row without joined_at, which is no membership.
func (s *Store) SetRole(ctx context.Context, conv, user int64, role chat.Role, ev events.Event) (bool, error) {
	m, err := s.member(ctx, conv, user)
	if err != nil {
		return false, fmt.Errorf("set role of %d in %d: %w", user, conv, err)
	}
	if m.Role == role {
		return false, nil
	}
	b := cqlrows.NewBatch(s.s)
	b.Add(qSetRole, string(role), conv, user)
	b.Event(ev)
	if err := b.Exec(ctx); err != nil {
		return false, fmt.Errorf("set role of %d in %d: %w", user, conv, err)
	}
	return true, nil
}

// SetMark raises a mark: the cell is written USING TIMESTAMP seq, so
// whatever order concurrent raises land in, the highest seq stays. A seq
// at or below the mark read first changes nothing and writes nothing; two
// raises racing past the same read both write their event (each did raise
// the mark it read), and consumers keep the highest.
func (s *Store) SetMark(ctx context.Context, conv, user int64, mk chat.Mark, seq int64, ev events.Event) (bool, error) {
	q, ok := markQuery(mk)
	if !ok {
		return false, fmt.Errorf("set mark of %d in %d: unknown mark %q", user, conv, mk)
	}
	m, err := s.GetMember(ctx, conv, user)
	if err != nil {
		return false, fmt.Errorf("set %s mark: %w", mk, err)
	}
	cur := map[chat.Mark]int64{chat.MarkRead: m.ReadSeq, chat.MarkDelivered: m.DeliveredSeq, chat.MarkCleared: m.ClearedSeq}[mk]
	if seq <= cur {
		return false, nil
	}
	b := cqlrows.NewBatch(s.s)
	b.Add(q, seq, seq, conv, user)
	b.Event(ev)
	if err := b.Exec(ctx); err != nil {
		return false, fmt.Errorf("set %s mark of %d in %d to %d: %w", mk, user, conv, seq, err)
	}
	return true, nil
}

// UserConversations reads the user's chat_user_convs partition.
func (s *Store) UserConversations(ctx context.Context, user int64) ([]int64, error) {
	it := s.s.Query(qUserConvs, user).Idempotent(true).IterContext(ctx)
	var out []int64
	var id int64
	for it.Scan(&id) {
		out = append(out, id)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("conversations of %d: %w", user, err)
	}
	return out, nil
}
