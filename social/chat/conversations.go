package chat

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/jsonapi"
)

// convJSON is a conversation as one member sees it: the header, the tail
// (last message) and the member's own marks and unread count.
type convJSON struct {
	ID           int64     `json:"id,string"`
	Kind         Kind      `json:"kind"`
	Title        string    `json:"title"`
	Avatar       string    `json:"avatar"`
	CreatedBy    int64     `json:"created_by,string"`
	CreatedAt    time.Time `json:"created_at"`
	LastSeq      int64     `json:"last_seq"`
	LastActivity time.Time `json:"last_activity_at"`
	LastMessage  *lastJSON `json:"last_message,omitempty"`
	Role         Role      `json:"role"`
	ReadSeq      int64     `json:"read_seq"`
	DeliveredSeq int64     `json:"delivered_seq"`
	// Unread is exact: seqs have no gaps, so it is the number of seqs past
	// what the member read (or cleared); a send reads up to itself.
	Unread int64 `json:"unread"`
	// Peer is the other member of a direct conversation.
	Peer int64   `json:"peer,string,omitempty"`
	Pins []int64 `json:"pinned_seqs,omitempty"`
}

type lastJSON struct {
	Seq     int64     `json:"seq"`
	Sender  int64     `json:"sender,string"`
	Preview string    `json:"preview"`
	SentAt  time.Time `json:"sent_at"`
}

func toConvJSON(c Conversation, m Member) convJSON {
	j := convJSON{ID: c.ID, Kind: c.Kind, Title: c.Title, Avatar: c.Avatar, CreatedBy: c.CreatedBy,
		CreatedAt: c.CreatedAt.UTC(), LastSeq: c.LastSeq, LastActivity: cmp.Or(c.LastAt, c.CreatedAt).UTC(),
		Role: m.Role, ReadSeq: m.ReadSeq, DeliveredSeq: m.DeliveredSeq,
		Unread: max(0, c.LastSeq-max(m.ReadSeq, m.ClearedSeq))}
	if c.LastSeq > 0 {
		j.LastMessage = &lastJSON{Seq: c.LastSeq, Sender: c.LastSender, Preview: c.LastPreview, SentAt: c.LastAt.UTC()}
	}
	return j
}

// convData is the payload of conversation and member events.
type convData struct {
	Conv  int64       `json:"conversation_id,string"`
	Kind  Kind        `json:"kind,omitempty"`
	Title string      `json:"title,omitempty"`
	Users jsonapi.IDs `json:"user_ids,omitempty"`
	Role  Role        `json:"role,omitempty"`
}

// createConversation: POST /v1/conversations {member_ids, title?, avatar?,
// kind?}. Direct when kind says so, or when it has two members and no
// title; creating a pair's direct conversation again returns it (200). A
// group create retried with the same Idempotency-Key (per creator, 24
// hours) returns the first group (200) and writes nothing, whatever the
// retry's title and members, as a retried post does. A direct create
// records no key: its pair is its key (a retry whose body makes a direct
// conversation answers the pair's).
func (s *Service) createConversation(w http.ResponseWriter, r *http.Request, uid int64) error {
	ctx := r.Context()
	key := r.Header.Get("Idempotency-Key")
	if _, ok := r.Header["Idempotency-Key"]; ok {
		if err := jsonapi.CheckIdempotencyKey(key); err != nil {
			return err
		}
	}
	f, err := jsonapi.ReadBody(w, r, s.cfg.MaxBody, "member_ids", "title", "avatar", "kind")
	if err != nil {
		return err
	}
	ids, ok, err := f.IDs("member_ids")
	if err != nil {
		return err
	}
	if !ok || len(ids) == 0 {
		return httperr.BadParam("member_ids", "member_ids is required: the other members' ids")
	}
	members := uniq(append(ids, uid))
	title, hasTitle, err := f.Str("title")
	if err != nil {
		return err
	}
	avatar, _, err := f.Str("avatar")
	if err != nil {
		return err
	}
	kindS, hasKind, err := f.Str("kind")
	if err != nil {
		return err
	}
	kind := Group
	switch {
	case hasKind && kindS != string(Direct) && kindS != string(Group):
		return httperr.BadParam("kind", `kind must be "direct" or "group"`)
	case hasKind:
		kind = Kind(kindS)
	case len(members) == 2 && !hasTitle && avatar == "":
		kind = Direct
	}
	if kind == Direct && len(members) != 2 {
		return httperr.BadParam("member_ids", "a direct conversation has exactly one other member")
	}
	if kind == Direct && (title != "" || avatar != "") {
		return httperr.BadParam("title", "a direct conversation has no title or avatar")
	}
	if len(members) > s.cfg.MaxMembers {
		return &httperr.Error{Status: http.StatusConflict, Code: "member_cap", Param: "member_ids",
			Message: fmt.Sprintf("a group has at most %d members", s.cfg.MaxMembers)}
	}
	if err := s.checkTitle(title); err != nil {
		return err
	}
	// Before the lookups of every member: a retried create (same key, or a
	// direct pair's) spends a token too, as a retried send does.
	if err := s.act(uid, tooManyChanges); err != nil {
		return err
	}
	if err := s.checkAvatar(ctx, avatar, uid); err != nil {
		return err
	}
	if err := s.checkUsers(ctx, members); err != nil {
		return err
	}
	// A direct conversation with, or a group made with, a user who blocks
	// the caller or whom the caller blocks is refused; an existing direct
	// one is not returned either.
	if err := s.checkBlocked(ctx, uid, members, "member_ids"); err != nil {
		return err
	}
	now := s.clock()
	c := Conversation{ID: s.cfg.IDs.Next(), Kind: kind, Title: title, Avatar: avatar, CreatedBy: uid, CreatedAt: now, LastAt: now}
	ev, err := s.event("conversation.created", uid, members, convData{Conv: c.ID, Kind: kind, Title: title, Users: members}, now)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if kind == Direct {
		stored, created, err := s.store.CreateDirect(ctx, c, members[0], members[1], ev)
		if err != nil {
			return createFault(err, "member_ids")
		}
		if !created {
			status = http.StatusOK
		}
		c = stored
	} else {
		ms := make([]Member, len(members))
		for i, u := range members {
			ms[i] = Member{Conv: c.ID, User: u, Role: RoleMember, JoinedAt: now}
			if u == uid {
				ms[i].Role = RoleAdmin
			}
		}
		stored, created, err := s.store.CreateGroup(ctx, c, ms, key, ev)
		if err != nil {
			return createFault(err, "Idempotency-Key")
		}
		if !created {
			status = http.StatusOK
		}
		c = stored
	}
	if status == http.StatusCreated {
		s.notify()
	}
	m, err := s.store.GetMember(ctx, c.ID, uid)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	j := toConvJSON(c, m)
	if kind == Direct {
		j.Peer = members[0] + members[1] - uid
	}
	return jsonapi.Write(w, status, j)
}

func (s *Service) checkTitle(title string) error {
	if len(title) > s.cfg.MaxTitle || strings.ContainsFunc(title, isControl) {
		return httperr.BadParam("title", fmt.Sprintf("title must be at most %d bytes with no control characters", s.cfg.MaxTitle))
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// checkAvatar: a group avatar is a media id the caller uploaded.
func (s *Service) checkAvatar(ctx context.Context, avatar string, uid int64) error {
	if avatar == "" {
		return nil
	}
	owner, err := s.cfg.MediaOwner(ctx, avatar)
	switch {
	case errors.Is(err, ErrNoMedia):
		return httperr.BadParam("avatar", "avatar names no stored media")
	case err != nil:
		return jsonapi.StoreFault(err)
	case owner != userOwner(uid):
		return &httperr.Error{Status: http.StatusForbidden, Code: "media_not_allowed", Param: "avatar", Message: "avatar must be your own upload"}
	}
	return nil
}

// userOwner is the owner the edge records on a user's uploads
// (edge.UserOwner; repeated here so chat does not import the edge).
func userOwner(uid int64) string { return "user:" + strconv.FormatInt(uid, 10) }

func (s *Service) checkUsers(ctx context.Context, ids []int64) error {
	missing, err := s.cfg.UsersExist(ctx, ids)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	if len(missing) > 0 {
		return &httperr.Error{Status: http.StatusNotFound, Code: "user_not_found", Param: "member_ids",
			Message: fmt.Sprintf("no user %d", missing[0])}
	}
	return nil
}

// listConversations: GET /v1/conversations?limit=&cursor= — the chat
// list, most recent activity first. The cursor is the last item's
// "<activity ms>.<id>". Each page reads all of the user's conversations
// (one partition) and their headers and marks in parallel, and sorts them:
// a user in thousands of conversations pays for that on every page, the
// price of not rewriting a per-user index on every message of every group.
func (s *Service) listConversations(w http.ResponseWriter, r *http.Request, uid int64) error {
	ctx := r.Context()
	limit, err := jsonapi.Limit(r, s.cfg.PageLimit, s.cfg.MaxPageLimit)
	if err != nil {
		return err
	}
	var curAt, curID int64
	if c := r.URL.Query().Get("cursor"); c != "" {
		a, b, ok := strings.Cut(c, ".")
		curAt, err = strconv.ParseInt(a, 10, 64)
		if err == nil {
			curID, err = strconv.ParseInt(b, 10, 64)
		}
		if !ok || err != nil {
			return httperr.BadParam("cursor", "cursor is not one this server gave")
		}
	}
	ids, err := s.store.UserConversations(ctx, uid)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	items := make([]convJSON, len(ids))
	keep := make([]bool, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, id := range ids {
		g.Go(func() error {
			c, err := s.store.GetConversation(gctx, id)
			if err != nil {
				if errors.Is(err, ErrNotFound) {
					return nil
				}
				return err
			}
			m, err := s.store.GetMember(gctx, id, uid)
			if err != nil {
				return nil // left meanwhile
			}
			items[i], keep[i] = toConvJSON(c, m), true
			if c.Kind == Direct {
				ms, err := s.store.ListMembers(gctx, id, 0, 2)
				if err != nil {
					return err
				}
				for _, o := range ms {
					if o.User != uid {
						items[i].Peer = o.User
					}
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return jsonapi.StoreFault(err)
	}
	page := make([]convJSON, 0, len(ids))
	for i := range items {
		if keep[i] {
			page = append(page, items[i])
		}
	}
	slices.SortFunc(page, func(a, b convJSON) int {
		return cmp.Or(b.LastActivity.Compare(a.LastActivity), cmp.Compare(b.ID, a.ID))
	})
	if curID != 0 {
		i, _ := slices.BinarySearchFunc(page, curID, func(c convJSON, _ int64) int {
			at := c.LastActivity.UnixMilli()
			return cmp.Or(cmp.Compare(curAt, at), cmp.Compare(curID, c.ID))
		})
		// Skip to the first item strictly after the cursor.
		for i < len(page) && page[i].LastActivity.UnixMilli() == curAt && page[i].ID >= curID {
			i++
		}
		page = page[i:]
	}
	out := struct {
		Items []convJSON `json:"items"`
		Next  string     `json:"next_cursor,omitempty"`
	}{Items: page}
	if len(page) > limit {
		out.Items = page[:limit]
		last := out.Items[limit-1]
		out.Next = strconv.FormatInt(last.LastActivity.UnixMilli(), 10) + "." + strconv.FormatInt(last.ID, 10)
	}
	return jsonapi.Write(w, http.StatusOK, out)
}

// getConversation: GET /v1/conversations/{id}, with pinned seqs.
func (s *Service) getConversation(w http.ResponseWriter, r *http.Request, uid int64) error {
	m, err := s.member(r, uid)
	if err != nil {
		return err
	}
	c, err := s.store.GetConversation(r.Context(), m.Conv)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	j := toConvJSON(c, m)
	pins, err := s.store.Pins(r.Context(), m.Conv)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	for _, p := range pins {
		j.Pins = append(j.Pins, p.Seq)
	}
	if c.Kind == Direct {
		ms, err := s.store.ListMembers(r.Context(), c.ID, 0, 2)
		if err != nil {
			return jsonapi.StoreFault(err)
		}
		for _, o := range ms {
			if o.User != uid {
				j.Peer = o.User
			}
		}
	}
	return jsonapi.Write(w, http.StatusOK, j)
}

// admin gates group-only admin routes.
func (s *Service) admin(r *http.Request, uid int64) (Member, Conversation, error) {
	m, err := s.member(r, uid)
	if err != nil {
		return m, Conversation{}, err
	}
	c, err := s.store.GetConversation(r.Context(), m.Conv)
	if err != nil {
		return m, c, jsonapi.StoreFault(err)
	}
	if c.Kind != Group {
		return m, c, errNotGroup
	}
	if m.Role != RoleAdmin {
		return m, c, errNotAdmin
	}
	return m, c, nil
}

// updateConversation: PATCH /v1/conversations/{id} {title?, avatar?}, by
// a group admin.
func (s *Service) updateConversation(w http.ResponseWriter, r *http.Request, uid int64) error {
	ctx := r.Context()
	m, _, err := s.admin(r, uid)
	if err != nil {
		return err
	}
	f, err := jsonapi.ReadBody(w, r, s.cfg.MaxBody, "title", "avatar")
	if err != nil {
		return err
	}
	var p ConvPatch
	if f.Has("title") {
		t, _, err := f.Str("title")
		if err != nil {
			return err
		}
		if err := s.checkTitle(t); err != nil {
			return err
		}
		p.Title = &t
	}
	if f.Has("avatar") {
		a, _, err := f.Str("avatar")
		if err != nil {
			return err
		}
		p.Avatar = &a
	}
	if err := s.act(uid, tooManyChanges); err != nil {
		return err
	}
	if p.Avatar != nil {
		if err := s.checkAvatar(ctx, *p.Avatar, uid); err != nil {
			return err
		}
	}
	to, err := s.memberIDs(ctx, m.Conv)
	if err != nil {
		return err
	}
	d := convData{Conv: m.Conv}
	if p.Title != nil {
		d.Title = *p.Title
	}
	ev, err := s.event("conversation.updated", uid, to, d, s.clock())
	if err != nil {
		return err
	}
	c, err := s.store.UpdateConversation(ctx, m.Conv, p, ev)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	s.notify()
	return jsonapi.Write(w, http.StatusOK, toConvJSON(c, m))
}

type memberJSON struct {
	User     int64     `json:"user_id,string"`
	Role     Role      `json:"role"`
	JoinedAt time.Time `json:"joined_at"`
	ReadSeq  int64     `json:"read_seq"`
	Deliv    int64     `json:"delivered_seq"`
}

// listMembers: GET /v1/conversations/{id}/members?limit=&cursor=, in user
// id order; the cursor is the last user id.
func (s *Service) listMembers(w http.ResponseWriter, r *http.Request, uid int64) error {
	m, err := s.member(r, uid)
	if err != nil {
		return err
	}
	limit, err := jsonapi.Limit(r, s.cfg.PageLimit, s.cfg.MaxPageLimit)
	if err != nil {
		return err
	}
	var after int64
	if c := r.URL.Query().Get("cursor"); c != "" {
		if after, err = strconv.ParseInt(c, 10, 64); err != nil || after < 0 {
			return httperr.BadParam("cursor", "cursor is not one this server gave")
		}
	}
	ms, err := s.store.ListMembers(r.Context(), m.Conv, after, limit+1)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	out := struct {
		Items []memberJSON `json:"items"`
		Next  string       `json:"next_cursor,omitempty"`
	}{Items: []memberJSON{}}
	for i, x := range ms {
		if i == limit {
			out.Next = strconv.FormatInt(ms[limit-1].User, 10)
			break
		}
		out.Items = append(out.Items, memberJSON{User: x.User, Role: x.Role, JoinedAt: x.JoinedAt.UTC(), ReadSeq: x.ReadSeq, Deliv: x.DeliveredSeq})
	}
	return jsonapi.Write(w, http.StatusOK, out)
}

// addMembers: POST /v1/conversations/{id}/members {user_ids}, by a group
// admin; at most MaxMembers in all.
func (s *Service) addMembers(w http.ResponseWriter, r *http.Request, uid int64) error {
	ctx := r.Context()
	m, _, err := s.admin(r, uid)
	if err != nil {
		return err
	}
	f, err := jsonapi.ReadBody(w, r, s.cfg.MaxBody, "user_ids")
	if err != nil {
		return err
	}
	ids, ok, err := f.IDs("user_ids")
	if err != nil {
		return err
	}
	if !ok || len(ids) == 0 {
		return httperr.BadParam("user_ids", "user_ids is required")
	}
	ids = uniq(ids)
	if len(ids) > s.cfg.MaxMembers {
		return ErrMemberCap
	}
	if err := s.act(uid, tooManyChanges); err != nil {
		return err
	}
	if err := s.checkUsers(ctx, ids); err != nil {
		return err
	}
	// Only the adder's blocks count: a member who blocks someone the
	// adder adds shares the group with them, as with any group message.
	if err := s.checkBlocked(ctx, uid, ids, "user_ids"); err != nil {
		return err
	}
	to, err := s.memberIDs(ctx, m.Conv)
	if err != nil {
		return err
	}
	now := s.clock()
	ms := make([]Member, len(ids))
	for i, u := range ids {
		ms[i] = Member{Conv: m.Conv, User: u, Role: RoleMember, JoinedAt: now}
	}
	ev, err := s.event("member.added", uid, uniq(append(to, ids...)), convData{Conv: m.Conv, Users: ids}, now)
	if err != nil {
		return err
	}
	added, err := s.store.AddMembers(ctx, m.Conv, ms, s.cfg.MaxMembers, ev)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	if len(added) > 0 {
		s.notify()
	}
	return jsonapi.Write(w, http.StatusOK, struct {
		Added jsonapi.IDs `json:"added"`
	}{Added: append(jsonapi.IDs{}, added...)})
}

// removeMember: DELETE /v1/conversations/{id}/members/{user}: leave
// (yourself) or remove (a group admin).
func (s *Service) removeMember(w http.ResponseWriter, r *http.Request, uid int64) error {
	ctx := r.Context()
	target, err := jsonapi.PathID(r, "user")
	if err != nil {
		return err
	}
	var conv int64
	if target == uid {
		m, err := s.member(r, uid)
		if err != nil {
			return err
		}
		c, err := s.store.GetConversation(ctx, m.Conv)
		if err != nil {
			return jsonapi.StoreFault(err)
		}
		if c.Kind != Group {
			return errNotGroup
		}
		conv = m.Conv
	} else {
		m, _, err := s.admin(r, uid)
		if err != nil {
			return err
		}
		conv = m.Conv
	}
	if err := s.act(uid, tooManyChanges); err != nil {
		return err
	}
	to, err := s.memberIDs(ctx, conv)
	if err != nil {
		return err
	}
	ev, err := s.event("member.removed", uid, to, convData{Conv: conv, Users: []int64{target}}, s.clock())
	if err != nil {
		return err
	}
	changed, err := s.store.RemoveMember(ctx, conv, target, ev)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	if changed {
		s.notify()
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setRole: PUT /v1/conversations/{id}/members/{user}/role {role}, by a
// group admin.
func (s *Service) setRole(w http.ResponseWriter, r *http.Request, uid int64) error {
	ctx := r.Context()
	m, _, err := s.admin(r, uid)
	if err != nil {
		return err
	}
	target, err := jsonapi.PathID(r, "user")
	if err != nil {
		return err
	}
	f, err := jsonapi.ReadBody(w, r, s.cfg.MaxBody, "role")
	if err != nil {
		return err
	}
	role, err := f.Required("role")
	if err != nil {
		return err
	}
	if Role(role) != RoleAdmin && Role(role) != RoleMember {
		return httperr.BadParam("role", `role must be "admin" or "member"`)
	}
	if err := s.act(uid, tooManyChanges); err != nil {
		return err
	}
	to, err := s.memberIDs(ctx, m.Conv)
	if err != nil {
		return err
	}
	ev, err := s.event("member.role", uid, to, convData{Conv: m.Conv, Users: []int64{target}, Role: Role(role)}, s.clock())
	if err != nil {
		return err
	}
	changed, err := s.store.SetRole(ctx, m.Conv, target, Role(role), ev)
	if err != nil {
		return jsonapi.StoreFault(err)
	}
	if changed {
		s.notify()
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func uniq(ids []int64) []int64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// createFault answers a store error of a conversation create. ErrBusy there
// is another create of the same conversation still in flight (the same
// Idempotency-Key, or the same pair for a direct one), not a send: the
// table's send_in_progress would name a client_msg_id the request has not.
func createFault(err error, param string) error {
	if errors.Is(err, ErrBusy) {
		return &httperr.Error{Status: http.StatusConflict, Code: "create_in_progress", Param: param, RetryAfter: 1,
			Message: "the same conversation is being created by another request; retry to get it"}
	}
	return jsonapi.StoreFault(err)
}
