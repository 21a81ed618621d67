package stories

import (
	"context"
	"net/http"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/mediaedge/mediaedge/social/jsonapi"
	"github.com/mediaedge/mediaedge/social/users"
)

// trayEntry is one author in the tray.
type trayEntry struct {
	Author  int64       `json:"author,string"`
	Stories []StoryJSON `json:"stories"`
	// Unseen: the viewer has not viewed at least one of the stories.
	Unseen bool `json:"unseen"`
}

type trayPage struct {
	Items []trayEntry `json:"items"`
}

// tray: GET /v1/stories/feed?limit=: the followees with live stories the
// viewer may see, one entry per author with its stories oldest first;
// authors with an unseen story first, then by their newest story, newest
// first. At most limit authors.
func (s *Service) tray(w http.ResponseWriter, r *http.Request, uid int64) error {
	ctx := r.Context()
	limit, err := jsonapi.Limit(r, s.cfg.PageLimit, s.cfg.MaxPageLimit)
	if err != nil {
		return err
	}
	followees, err := s.followees(ctx, uid)
	if err != nil {
		return err
	}
	// Each followee's stories, read TrayParallel at a time.
	per := make([][]Story, len(followees))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.TrayParallel)
	for i, f := range followees {
		g.Go(func() error {
			sts, err := s.visibleStories(gctx, f, uid)
			per[i] = sts
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var all []Story
	for _, sts := range per {
		all = append(all, sts...)
	}
	rendered, err := s.render(ctx, uid, all)
	if err != nil {
		return err
	}
	page := trayPage{Items: []trayEntry{}}
	newest := map[int64]int64{} // author -> id of their newest story (ids are time-ordered)
	i := 0
	for _, sts := range per {
		if len(sts) == 0 {
			continue
		}
		e := trayEntry{Author: sts[0].Owner, Stories: rendered[i : i+len(sts)]}
		i += len(sts)
		for _, j := range e.Stories {
			e.Unseen = e.Unseen || !j.Seen
			newest[e.Author] = max(newest[e.Author], j.ID)
		}
		page.Items = append(page.Items, e)
	}
	slices.SortStableFunc(page.Items, func(a, b trayEntry) int {
		if a.Unseen != b.Unseen {
			if a.Unseen {
				return -1
			}
			return 1
		}
		switch na, nb := newest[a.Author], newest[b.Author]; {
		case na > nb:
			return -1
		case na < nb:
			return 1
		}
		return 0
	})
	page.Items = page.Items[:min(len(page.Items), limit)]
	return jsonapi.Write(w, http.StatusOK, page)
}

// followees lists up to MaxFollowees users uid follows.
func (s *Service) followees(ctx context.Context, uid int64) ([]int64, error) {
	var out []int64
	var after int64
	for len(out) < s.cfg.MaxFollowees {
		n := min(1000, s.cfg.MaxFollowees-len(out))
		edges, err := s.cfg.Graph.ListEdges(ctx, uid, users.Following, after, n)
		if err != nil {
			return nil, jsonapi.StoreFault(err)
		}
		for _, e := range edges {
			out = append(out, e.UserID)
		}
		if len(edges) < n {
			break
		}
		after = edges[len(edges)-1].UserID
	}
	return out, nil
}
