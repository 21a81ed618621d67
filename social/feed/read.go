package feed

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/mediaedge/mediaedge/social/jsonapi"
	"github.com/mediaedge/mediaedge/social/posts"
	"github.com/mediaedge/mediaedge/social/users"
)

// celebReads bounds the celebrity timelines one page reads at once.
const celebReads = 8

// Read returns up to limit rendered posts of uid's home feed below before
// (a post id; 0 from the newest), newest first, and the cursor of the next
// page (0 when there is none).
//
// A page is the user's feed rows merged with the timelines of the
// celebrities the user follows, de-duplicated, newest first (ids are time
// ordered). The posts service renders them and skips the deleted and
// archived ones, so each round over-fetches by half; when a round still
// comes up short the next one reads below the last candidate, up to
// Config.MaxRounds rounds, after which the page is answered short with a
// cursor. The cursor is the id of the last post returned, or of the last
// candidate examined, so no post is shown twice or skipped.
func (s *Service) Read(ctx context.Context, uid, before int64, limit int) ([]posts.PostJSON, int64, error) {
	celebs, err := s.followedCelebrities(ctx, uid)
	if err != nil {
		return nil, 0, err
	}
	n := limit + limit/2 + 4
	var out []posts.PostJSON
	cur := before
	for range s.cfg.MaxRounds {
		cands, more, err := s.candidates(ctx, uid, celebs, cur, n)
		if err != nil {
			return nil, 0, err
		}
		if len(cands) == 0 {
			return out, 0, nil
		}
		rendered, err := s.cfg.Posts.Posts(ctx, uid, cands)
		if err != nil {
			return nil, 0, jsonapi.StoreFault(fmt.Errorf("render posts: %w", err))
		}
		byID := make(map[int64]posts.PostJSON, len(rendered))
		for _, p := range rendered {
			byID[p.ID] = p
		}
		for i, id := range cands {
			p, ok := byID[id]
			if !ok {
				continue // deleted, archived or gone
			}
			out = append(out, p)
			if len(out) == limit {
				if i < len(cands)-1 || more {
					return out, id, nil
				}
				return out, 0, nil
			}
		}
		if !more {
			return out, 0, nil
		}
		cur = cands[len(cands)-1]
	}
	return out, cur, nil
}

// candidates returns the newest post ids (at most n) below before of uid's
// feed rows and of celebs' timelines, de-duplicated, newest first; more is
// true when some source may hold more below the last one.
//
// Each source is read n deep. When a source comes back full, ids below its
// last one are unsafe (it may hold more there); the newest n of the union
// never reach below any full source's last id (that source alone has n ids
// at or above it), so cutting at n is exact.
func (s *Service) candidates(ctx context.Context, uid int64, celebs []int64, before int64, n int) (ids []int64, more bool, err error) {
	rows, err := s.store.Read(ctx, uid, before, n)
	if err != nil {
		return nil, false, jsonapi.StoreFault(fmt.Errorf("read feed of %d: %w", uid, err))
	}
	seen := make(map[int64]bool, len(rows))
	add := func(id int64) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	more = len(rows) >= n
	for _, e := range rows {
		add(e.Post)
	}
	if len(celebs) > 0 {
		lines := make([][]int64, len(celebs))
		errs := make([]error, len(celebs))
		var wg sync.WaitGroup
		sem := make(chan struct{}, celebReads)
		for i, c := range celebs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				lines[i], errs[i] = s.cfg.Posts.Timeline(ctx, c, before, n)
			}()
		}
		wg.Wait()
		for i, line := range lines {
			if errs[i] != nil {
				return nil, false, jsonapi.StoreFault(fmt.Errorf("timeline of %d: %w", celebs[i], errs[i]))
			}
			more = more || len(line) >= n
			for _, id := range line {
				add(id)
			}
		}
	}
	slices.SortFunc(ids, func(a, b int64) int { return cmp.Compare(b, a) })
	if len(ids) > n {
		ids, more = ids[:n], true
	}
	return ids, more, nil
}

// followedCelebrities lists the celebrities uid follows: the user's
// followings intersected with the celebrity set. With no celebrity at all
// (most deployments, most of the time) it reads nothing of the graph.
func (s *Service) followedCelebrities(ctx context.Context, uid int64) ([]int64, error) {
	set, err := s.celebrities(ctx)
	if err != nil || len(set) == 0 {
		return nil, err
	}
	var out []int64
	var after int64
	for {
		edges, err := s.cfg.Graph.ListEdges(ctx, uid, users.Following, after, s.cfg.FanoutPage)
		if err != nil {
			return nil, jsonapi.StoreFault(fmt.Errorf("followings of %d: %w", uid, err))
		}
		for _, e := range edges {
			if set[e.UserID] {
				out = append(out, e.UserID)
			}
		}
		if len(edges) < s.cfg.FanoutPage {
			return out, nil
		}
		after = edges[len(edges)-1].UserID
	}
}

// celebrities is the celebrity set, re-read after Config.CelebrityCacheTTL.
func (s *Service) celebrities(ctx context.Context) (map[int64]bool, error) {
	ttl := s.cfg.CelebrityCacheTTL
	if ttl > 0 {
		s.celebMu.Lock()
		set, at := s.celebs, s.celebsAt
		s.celebMu.Unlock()
		if set != nil && s.now().Sub(at) < ttl {
			return set, nil
		}
	}
	list, err := s.store.Celebrities(ctx)
	if err != nil {
		return nil, jsonapi.StoreFault(fmt.Errorf("celebrity set: %w", err))
	}
	set := make(map[int64]bool, len(list))
	for _, id := range list {
		set[id] = true
	}
	if ttl > 0 {
		s.celebMu.Lock()
		s.celebs, s.celebsAt = set, s.now()
		s.celebMu.Unlock()
	}
	return set, nil
}
