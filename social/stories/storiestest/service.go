package storiestest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"

	"github.com/mediaedge/mediaedge/internal/socialtest"
	"github.com/mediaedge/mediaedge/social/stories"
	"github.com/mediaedge/mediaedge/social/users"
)

// Graph is a follow graph in memory: Following[u] are the users u follows.
type Graph struct{ Following map[int64][]int64 }

// ListEdges lists u's followees (the only direction the service reads).
func (g Graph) ListEdges(_ context.Context, user int64, dir users.Direction, after int64, limit int) ([]users.Edge, error) {
	if dir != users.Following {
		return nil, nil
	}
	l := slices.Sorted(slices.Values(g.Following[user]))
	var out []users.Edge
	for _, u := range l {
		if u > after && (limit <= 0 || len(out) < limit) {
			out = append(out, users.Edge{UserID: u})
		}
	}
	return out, nil
}

// CountEdges counts u's followees.
func (g Graph) CountEdges(_ context.Context, user int64) (users.Counts, error) {
	return users.Counts{Following: int64(len(g.Following[user]))}, nil
}

// service is a stories.Service over the backend's store and clock.
func (f *fixture) service(g Graph) *stories.Service {
	f.t.Helper()
	cfg := stories.DefaultConfig()
	cfg.Store, cfg.IDs, cfg.Auth, cfg.Graph, cfg.Now = f.s, f.ids, socialtest.HeaderAuth{}, g, f.b.Now
	cfg.MediaInfo = func(context.Context, string) (stories.MediaInfo, error) {
		return stories.MediaInfo{}, stories.ErrNoMedia
	}
	svc, err := stories.New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return svc
}

// getJSON GETs path as uid from svc into v, wanting 200.
func (f *fixture) getJSON(svc http.Handler, uid int64, path string, v any) {
	f.t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set(socialtest.UserHeader, strconv.FormatInt(uid, 10))
	rec := httptest.NewRecorder()
	svc.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		f.t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		f.t.Fatalf("GET %s: %v", path, err)
	}
}

type trayJSON struct {
	Items []struct {
		Author  string `json:"author"`
		Unseen  bool   `json:"unseen"`
		Stories []struct {
			ID   string `json:"id"`
			Seen bool   `json:"seen"`
		} `json:"stories"`
	} `json:"items"`
}

func tray(f *fixture) {
	viewer, a, b, c, d, e := f.id(), f.id(), f.id(), f.id(), f.id(), f.id()
	svc := f.service(Graph{Following: map[int64][]int64{viewer: {a, b, c, e}}})
	a1 := f.create(f.story(a, 0))
	b1 := f.create(f.story(b, 0))
	e1 := f.create(f.story(e, 0))
	f.create(f.story(c, 0, viewer)) // hidden from the viewer
	f.create(f.story(d, 0))         // not followed
	a2 := f.create(f.story(a, 0))
	f.view(b1, viewer, f.now())
	f.view(a1, viewer, f.now())

	var got trayJSON
	f.getJSON(svc, viewer, "/v1/stories/feed", &got)
	type entry struct {
		author  int64
		unseen  bool
		stories []int64
	}
	want := []entry{{a, true, []int64{a1.ID, a2.ID}}, {e, true, []int64{e1.ID}}, {b, false, []int64{b1.ID}}}
	if len(got.Items) != len(want) {
		f.t.Fatalf("tray has %d authors, want %d: %+v", len(got.Items), len(want), got)
	}
	for i, w := range want {
		it := got.Items[i]
		var ids []int64
		for _, s := range it.Stories {
			id, _ := strconv.ParseInt(s.ID, 10, 64)
			ids = append(ids, id)
		}
		if it.Author != strconv.FormatInt(w.author, 10) || it.Unseen != w.unseen || !slices.Equal(ids, w.stories) {
			f.t.Fatalf("tray entry %d: %+v, want %+v", i, it, w)
		}
	}
	if !got.Items[0].Stories[0].Seen || got.Items[0].Stories[1].Seen {
		f.t.Fatalf("seen flags of a's stories: %+v", got.Items[0].Stories)
	}

	// The hidden story is left out of the author's list for the viewer
	// only.
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	f.getJSON(svc, viewer, "/v1/users/"+strconv.FormatInt(c, 10)+"/stories", &list)
	if len(list.Items) != 0 {
		f.t.Fatalf("a story hidden from the viewer is listed: %s", list.Items)
	}
	f.getJSON(svc, d, "/v1/users/"+strconv.FormatInt(c, 10)+"/stories", &list)
	if len(list.Items) != 1 {
		f.t.Fatalf("c's story for another user: %d items", len(list.Items))
	}
}
