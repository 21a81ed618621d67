package chat

import (
	"context"
	"fmt"
	"net/http"

	"golang.org/x/sync/errgroup"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/jsonapi"
)

// Blocks between users (Config.Blocks) decide who may start talking to
// whom. Between two users one of whom blocks the other, whoever blocked:
//
//   - their direct conversation is neither created nor returned;
//   - neither adds the other to a group, nor creates a group with them;
//   - neither can send in their direct conversation made before the block.
//
// Each is refused 403 blocked. Messages in a group both are already in
// still flow, as in most chat apps: the group is everyone's, a block does
// not remove anyone from it, and refusing the blocked member's sends there
// would silence them for every other member too. A client hides a blocked
// sender's messages itself if it wants to. After an unblock all of it
// works again: nothing was deleted.

// blockReads caps the block reads of one request in flight at once (a
// group of MaxMembers is checked member by member).
const blockReads = 16

// errBlocked refuses the caller anything with other; param names the
// request field that named other ("" for a send).
func errBlocked(param string, other int64) error {
	return &httperr.Error{Status: http.StatusForbidden, Code: "blocked", Param: param,
		Message: fmt.Sprintf("you cannot chat with user %d: one of you blocks the other", other)}
}

// checkBlocked refuses when uid and any of others (uid itself skipped)
// block each other; param names the field that listed others.
func (s *Service) checkBlocked(ctx context.Context, uid int64, others []int64, param string) error {
	if s.cfg.Blocks == nil {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(blockReads)
	for _, o := range others {
		if o == uid {
			continue
		}
		g.Go(func() error {
			blocked, err := s.cfg.Blocks.Blocked(gctx, uid, o)
			if err != nil {
				return jsonapi.StoreFault(fmt.Errorf("blocks between %d and %d: %w", uid, o, err))
			}
			if blocked {
				return errBlocked(param, o)
			}
			return nil
		})
	}
	return g.Wait()
}

// checkSendBlocked refuses uid's send in conv when conv is a direct
// conversation whose other member and uid block each other. A group send
// is never refused (see above). It costs a send the conversation's header
// and, in a direct one, its two members and the pair's blocks: point reads.
func (s *Service) checkSendBlocked(ctx context.Context, conv, uid int64) error {
	if s.cfg.Blocks == nil {
		return nil
	}
	users, ok := s.directPeers.Get(conv)
	if !ok {
		c, err := s.store.GetConversation(ctx, conv)
		if err != nil {
			return jsonapi.StoreFault(err)
		}
		if c.Kind == Direct {
			ms, err := s.store.ListMembers(ctx, conv, 0, 2)
			if err != nil {
				return jsonapi.StoreFault(err)
			}
			users = make([]int64, len(ms))
			for i, m := range ms {
				users[i] = m.User
			}
		}
		s.directPeers.Add(conv, users)
	}
	if len(users) == 0 {
		return nil // a group
	}
	return s.checkBlocked(ctx, uid, users, "")
}

// directPeersCached bounds the conversations whose kind (and, for a direct
// one, two members) a send's block check remembers. Neither changes once a
// conversation is made (nobody leaves a direct conversation), so an entry
// never goes stale; it saves each send the conversation's header and
// member reads, leaving a direct send the pair's two block reads and a
// group send none.
const directPeersCached = 100_000
