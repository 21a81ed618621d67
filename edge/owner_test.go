package edge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mediaedge/mediaedge/edge"
	"github.com/mediaedge/mediaedge/exifstrip"
	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/internal/testmedia"
)

// sessions is a users service that knows two session tokens.
type sessions map[string]int64

func (s sessions) Authenticate(_ context.Context, r *http.Request) (int64, error) {
	if uid, ok := s[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]; ok {
		return uid, nil
	}
	return 0, httperr.New(http.StatusUnauthorized, "unauthenticated", "log in")
}

func uploadAs(t *testing.T, e *env, tok string, data []byte) (int, map[string]any) {
	t.Helper()
	resp, body := do(t, "POST", e.ts.URL+"/upload", map[string]string{"Authorization": "Bearer " + tok}, bytes.NewReader(data))
	var out map[string]any
	_ = json.Unmarshal(body, &out)
	return resp.StatusCode, out
}

func hasLocation(t *testing.T, b []byte) bool {
	t.Helper()
	p, err := exifstrip.Find(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return len(p) > 0
}

// TestUploadOwnershipAndLocation: a user's session uploads; the media row
// records the user; only that user (or a service token) deletes it; and
// by default a user's photo loses its location while a service token's
// original stays byte-exact.
func TestUploadOwnershipAndLocation(t *testing.T) {
	e := newEnv(t, false, func(_ *edge.Config, d *edge.Deps) {
		d.Sessions = sessions{"alice-session": 1, "bob-session": 2}
	})
	photo := testmedia.GPSJPEG()

	st, alice := uploadAs(t, e, "alice-session", photo)
	if st != 201 {
		t.Fatalf("upload with a session: %d %v", st, alice)
	}
	id := alice["id"].(string)
	info, err := e.store.Stat(context.Background(), id)
	if err != nil || info.Owner != edge.UserOwner(1) {
		t.Fatalf("owner %q, %v", info.Owner, err)
	}
	_, got := do(t, "GET", e.ts.URL+"/m/"+id, nil, nil)
	if len(got) != len(photo) || hasLocation(t, got) {
		t.Fatalf("a user's photo kept its location (%d bytes)", len(got))
	}

	st, svc := uploadAs(t, e, token, photo)
	if st != 201 {
		t.Fatalf("upload with the service token: %d", st)
	}
	_, orig := do(t, "GET", e.ts.URL+"/m/"+svc["id"].(string), nil, nil)
	if !bytes.Equal(orig, photo) {
		t.Fatal("a service token's original is not byte-exact")
	}

	if resp, _ := do(t, "DELETE", e.ts.URL+"/m/"+id, map[string]string{"Authorization": "Bearer bob-session"}, nil); resp.StatusCode != 403 {
		t.Fatalf("another user deleted alice's media: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "DELETE", e.ts.URL+"/m/"+id, map[string]string{"Authorization": "Bearer alice-session"}, nil); resp.StatusCode != 204 {
		t.Fatalf("the owner could not delete: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "DELETE", e.ts.URL+"/m/"+svc["id"].(string), map[string]string{"Authorization": "Bearer " + token}, nil); resp.StatusCode != 204 {
		t.Fatalf("the service token could not delete: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "POST", e.ts.URL+"/upload", map[string]string{"Authorization": "Bearer nobody"}, bytes.NewReader(photo)); resp.StatusCode != 401 {
		t.Fatalf("an unknown token uploaded: %d", resp.StatusCode)
	}
}

// TestStripLocationAlways: with --strip-location=always even a service
// token's photo loses its location.
func TestStripLocationAlways(t *testing.T) {
	e := newEnv(t, false, func(c *edge.Config, _ *edge.Deps) { c.StripLocation = edge.StripAlways })
	st, out := uploadAs(t, e, token, testmedia.GPSJPEG())
	if st != 201 {
		t.Fatal(st)
	}
	if _, got := do(t, "GET", e.ts.URL+"/m/"+out["id"].(string), nil, nil); hasLocation(t, got) {
		t.Fatal("location kept with strip-location=always")
	}
}

// TestUserQuota: a user's uploads count against UserQuota; one that would
// exceed it is refused with 413 quota_exceeded before anything is kept
// (declared by Content-Length, or found while a chunked body streams); a
// delete gives the room back; a service token has no quota.
func TestUserQuota(t *testing.T) {
	e := newEnv(t, false, func(c *edge.Config, d *edge.Deps) {
		c.UserQuota = 1000
		d.Sessions = sessions{"alice-session": 1}
	})
	st, first := uploadAs(t, e, "alice-session", bytes.Repeat([]byte("a"), 600))
	if st != 201 {
		t.Fatalf("first upload: %d", st)
	}
	resp, body := do(t, "POST", e.ts.URL+"/upload", map[string]string{"Authorization": "Bearer alice-session"}, bytes.NewReader(bytes.Repeat([]byte("b"), 600)))
	if resp.StatusCode != 413 || !strings.Contains(string(body), "quota_exceeded") {
		t.Fatalf("over quota by Content-Length: %d %s", resp.StatusCode, body)
	}
	// A chunked body (no Content-Length) is cut where the quota ends.
	resp, body = do(t, "POST", e.ts.URL+"/upload", map[string]string{"Authorization": "Bearer alice-session"}, struct{ io.Reader }{bytes.NewReader(bytes.Repeat([]byte("c"), 600))})
	if resp.StatusCode != 413 || !strings.Contains(string(body), "quota_exceeded") {
		t.Fatalf("over quota while streaming: %d %s", resp.StatusCode, body)
	}
	if used, _ := e.store.Usage(context.Background(), edge.UserOwner(1)); used != 600 {
		t.Fatalf("usage %d after refused uploads, want 600", used)
	}
	if st, _ := uploadAs(t, e, token, bytes.Repeat([]byte("d"), 2000)); st != 201 {
		t.Fatalf("a service token is under no quota: %d", st)
	}
	if resp, _ := do(t, "DELETE", e.ts.URL+"/m/"+first["id"].(string), map[string]string{"Authorization": "Bearer alice-session"}, nil); resp.StatusCode != 204 {
		t.Fatal(resp.StatusCode)
	}
	if st, _ := uploadAs(t, e, "alice-session", bytes.Repeat([]byte("e"), 900)); st != 201 {
		t.Fatalf("after a delete the room is back: %d", st)
	}
}
