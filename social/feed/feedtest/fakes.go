package feedtest

import (
	"context"
	"slices"
	"sync"

	"github.com/mediaedge/mediaedge/social/posts"
	"github.com/mediaedge/mediaedge/social/users"
)

// Graph is an in-memory follow graph (a feed.Graph) for tests.
type Graph struct {
	mu        sync.Mutex // guards followers and following
	followers map[int64]map[int64]bool
	following map[int64]map[int64]bool
}

// NewGraph returns an empty graph.
func NewGraph() *Graph {
	return &Graph{followers: map[int64]map[int64]bool{}, following: map[int64]map[int64]bool{}}
}

// Follow makes a follow b.
func (g *Graph) Follow(a, b int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.followers[b] == nil {
		g.followers[b] = map[int64]bool{}
	}
	if g.following[a] == nil {
		g.following[a] = map[int64]bool{}
	}
	g.followers[b][a], g.following[a][b] = true, true
}

// Unfollow undoes Follow.
func (g *Graph) Unfollow(a, b int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.followers[b], a)
	delete(g.following[a], b)
}

// ListEdges implements feed.Graph.
func (g *Graph) ListEdges(_ context.Context, user int64, dir users.Direction, after int64, limit int) ([]users.Edge, error) {
	g.mu.Lock()
	m := g.followers[user]
	if dir == users.Following {
		m = g.following[user]
	}
	var ids []int64
	for id := range m {
		if id > after {
			ids = append(ids, id)
		}
	}
	g.mu.Unlock()
	slices.Sort(ids)
	if len(ids) > limit {
		ids = ids[:limit]
	}
	out := make([]users.Edge, len(ids))
	for i, id := range ids {
		out[i] = users.Edge{UserID: id}
	}
	return out, nil
}

// CountEdges implements feed.Graph.
func (g *Graph) CountEdges(_ context.Context, user int64) (users.Counts, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return users.Counts{Followers: int64(len(g.followers[user])), Following: int64(len(g.following[user]))}, nil
}

// Posts is an in-memory posts service (a feed.Posts) for tests: posts get
// ascending ids, as time-ordered ids are.
type Posts struct {
	mu    sync.Mutex // guards every field below
	next  int64
	by    map[int64]int64 // post -> author
	gone  map[int64]bool  // deleted or archived
	lines map[int64][]int64
	// Calls counts calls of Posts (rendering rounds).
	Calls int
}

// NewPosts returns a posts service with no post; ids start at base.
func NewPosts(base int64) *Posts {
	return &Posts{next: base, by: map[int64]int64{}, gone: map[int64]bool{}, lines: map[int64][]int64{}}
}

// Create makes a post of author and returns its id.
func (p *Posts) Create(author int64) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next++
	p.by[p.next] = author
	p.lines[author] = append(p.lines[author], p.next)
	return p.next
}

// Delete hides a post from Posts and Timeline.
func (p *Posts) Delete(id int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gone[id] = true
}

// Author is a post's author.
func (p *Posts) Author(id int64) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.by[id]
}

// Posts renders the live posts of ids (id, author, text "post"), in the order given.
func (p *Posts) Posts(_ context.Context, _ int64, ids []int64) ([]posts.PostJSON, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Calls++
	var out []posts.PostJSON
	for _, id := range ids {
		a, ok := p.by[id]
		if !ok || p.gone[id] {
			continue
		}
		out = append(out, posts.PostJSON{ID: id, Author: a, Text: "post", Media: []posts.MediaView{}})
	}
	return out, nil
}

// Timeline lists author's live posts below before, newest first.
func (p *Posts) Timeline(_ context.Context, author, before int64, limit int) ([]int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := p.lines[author]
	var out []int64
	for i := len(line) - 1; i >= 0 && len(out) < limit; i-- {
		if id := line[i]; (before == 0 || id < before) && !p.gone[id] {
			out = append(out, id)
		}
	}
	return out, nil
}
