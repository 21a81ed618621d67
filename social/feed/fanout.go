package feed

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"golang.org/x/sync/errgroup"

	"github.com/mediaedge/mediaedge/social/events"
	"github.com/mediaedge/mediaedge/social/users"
)

// Start runs the fan-out consumer ("feed-fanout") on bus until the returned
// consumer is closed. Every edge runs one; they share the durable
// consumer, so each event is handled once (at least once) fleet-wide.
func (s *Service) Start(ctx context.Context, bus *events.Bus) (*events.Consumer, error) {
	cfg := s.cfg.Fanout
	if cfg.Logger == nil {
		cfg.Logger = s.log
	}
	return bus.Consume(ctx, cfg, s.Handle)
}

// postData is the payload of post.created, post.deleted and post.archived.
type postData struct {
	PostID string `json:"post_id"`
	Author string `json:"author"`
}

// userData is the payload of follow, unfollow and block: the target.
type userData struct {
	UserID string `json:"user_id"`
}

// Handle is the fan-out consumer's handler. It returns nil only once the
// event's effect is stored; every effect is a keyed write or delete, so a
// redelivered event changes nothing more. A malformed event is logged and
// dropped (a retry cannot fix it).
//
//   - post.created: the post goes into the author's own feed and, unless
//     the author is a celebrity (more than Config.CelebrityThreshold
//     followers), into every follower's feed. A celebrity is recorded in
//     the celebrity set instead and merged at read time.
//   - follow: the followee's newest Config.Backfill posts go into the
//     follower's feed, unless the followee is a celebrity.
//   - unfollow: the followee's posts leave the follower's feed.
//   - block: each user's posts leave the other's feed.
//   - post.deleted, post.archived: nothing. Removal is lazy: the feed row
//     stays until trimmed and Posts skips it when a page is rendered;
//     removing it eagerly would cost a second fan-out per delete.
func (s *Service) Handle(ctx context.Context, ev events.Event) error {
	switch ev.Kind {
	case KindPostCreated:
		var d postData
		post, author, ok := s.decodePost(ev, &d)
		if !ok {
			return nil
		}
		return s.fanout(ctx, Entry{Post: post, Author: author})
	case KindPostDeleted, KindPostArchived:
		return nil
	case KindFollow, KindUnfollow, KindBlock:
		var d userData
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			s.log.Error("feed: malformed event", "kind", ev.Kind, "event", ev.ID, "err", err)
			return nil
		}
		target, err := strconv.ParseInt(d.UserID, 10, 64)
		if err != nil || target <= 0 || ev.Actor <= 0 || target == ev.Actor {
			s.log.Error("feed: malformed event", "kind", ev.Kind, "event", ev.ID, "user_id", d.UserID, "actor", ev.Actor)
			return nil
		}
		switch ev.Kind {
		case KindFollow:
			return s.backfill(ctx, ev.Actor, target)
		case KindUnfollow:
			return s.remove(ctx, ev.Actor, target)
		default:
			if err := s.remove(ctx, ev.Actor, target); err != nil {
				return err
			}
			return s.remove(ctx, target, ev.Actor)
		}
	}
	return nil // a kind the consumer was not subscribed to: nothing to do
}

func (s *Service) decodePost(ev events.Event, d *postData) (post, author int64, ok bool) {
	err := json.Unmarshal(ev.Data, d)
	if err == nil {
		post, err = strconv.ParseInt(d.PostID, 10, 64)
	}
	if err == nil {
		author, err = strconv.ParseInt(d.Author, 10, 64)
	}
	if err != nil || post <= 0 || author <= 0 {
		s.log.Error("feed: malformed event", "kind", ev.Kind, "event", ev.ID, "data", string(ev.Data), "err", err)
		return 0, 0, false
	}
	return post, author, true
}

// fanout writes e into its author's feed and, for an author at or below
// the celebrity threshold, into every follower's, a page of followers at a
// time (the store writes a page with bounded concurrency).
func (s *Service) fanout(ctx context.Context, e Entry) error {
	counts, err := s.cfg.Graph.CountEdges(ctx, e.Author)
	if err != nil {
		return fmt.Errorf("feed: count followers of %d: %w", e.Author, err)
	}
	if counts.Followers > s.cfg.CelebrityThreshold {
		// The set entry first: once it is durable, readers merge the
		// author's timeline, so the post is visible before the event is
		// acknowledged.
		if err := s.store.MarkCelebrity(ctx, e.Author); err != nil {
			return fmt.Errorf("feed: mark %d a celebrity: %w", e.Author, err)
		}
		if err := s.store.Add(ctx, e.Author, []Entry{e}); err != nil {
			return fmt.Errorf("feed: add post %d to its author's feed: %w", e.Post, err)
		}
		return s.trimSome(ctx, []int64{e.Author}, e.Post)
	}
	page := []int64{e.Author}
	var after int64
	for {
		edges, err := s.cfg.Graph.ListEdges(ctx, e.Author, users.Followers, after, s.cfg.FanoutPage)
		if err != nil {
			return fmt.Errorf("feed: followers of %d after %d: %w", e.Author, after, err)
		}
		for _, ed := range edges {
			page = append(page, ed.UserID)
		}
		if len(page) > 0 {
			if err := s.store.Fanout(ctx, page, e); err != nil {
				return fmt.Errorf("feed: fan out post %d: %w", e.Post, err)
			}
			if err := s.trimSome(ctx, page, e.Post); err != nil {
				return err
			}
		}
		if len(edges) < s.cfg.FanoutPage {
			return nil
		}
		after = edges[len(edges)-1].UserID
		page = page[:0]
	}
}

// trimReads bounds the trims one fan-out runs at once.
const trimReads = 16

// trimSome trims the feeds among users picked for this post: one write in
// Config.TrimEvery trims, picked by a hash of (user, post), the same on
// every edge and every redelivery. A feed so grows by about TrimEvery
// entries past the cap between trims (more with ever smaller odds), and a
// fan-out reads only one feed in TrimEvery.
func (s *Service) trimSome(ctx context.Context, users []int64, post int64) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(trimReads)
	for _, u := range users {
		if s.cfg.TrimEvery > 1 && mix(uint64(u)^mix(uint64(post)))%uint64(s.cfg.TrimEvery) != 0 {
			continue
		}
		g.Go(func() error {
			if err := s.store.Trim(ctx, u, s.cfg.FeedCap); err != nil {
				return fmt.Errorf("feed: trim feed of %d: %w", u, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// mix is splitmix64's finalizer: ids' low bits are a sequence, so they are
// spread before they pick.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// backfill copies followee's newest posts into follower's feed. It first
// checks that the follow still stands: with several handlers at once, a
// follow handled after the unfollow that undid it would otherwise leave
// the unfollowed posts in the feed.
func (s *Service) backfill(ctx context.Context, follower, followee int64) error {
	if s.cfg.Backfill == 0 {
		return nil
	}
	edges, err := s.cfg.Graph.ListEdges(ctx, follower, users.Following, followee-1, 1)
	if err != nil {
		return fmt.Errorf("feed: does %d follow %d: %w", follower, followee, err)
	}
	if len(edges) == 0 || edges[0].UserID != followee {
		return nil // unfollowed since
	}
	celebs, err := s.store.Celebrities(ctx)
	if err != nil {
		return fmt.Errorf("feed: celebrity set: %w", err)
	}
	for _, c := range celebs {
		if c == followee {
			return nil // merged at read time
		}
	}
	line, err := s.cfg.Posts.Timeline(ctx, followee, 0, s.cfg.Backfill)
	if err != nil {
		return fmt.Errorf("feed: timeline of %d: %w", followee, err)
	}
	if len(line) == 0 {
		return nil
	}
	entries := make([]Entry, len(line))
	for i, p := range line {
		entries[i] = Entry{Post: p, Author: followee}
	}
	if err := s.store.Add(ctx, follower, entries); err != nil {
		return fmt.Errorf("feed: back-fill %d's posts into %d's feed: %w", followee, follower, err)
	}
	if err := s.store.Trim(ctx, follower, s.cfg.FeedCap); err != nil {
		return fmt.Errorf("feed: trim feed of %d: %w", follower, err)
	}
	return nil
}

// remove takes author's posts out of user's feed.
func (s *Service) remove(ctx context.Context, user, author int64) error {
	if err := s.store.RemoveAuthor(ctx, user, author); err != nil {
		return fmt.Errorf("feed: remove %d's posts from %d's feed: %w", author, user, err)
	}
	return nil
}
