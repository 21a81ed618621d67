package jsonapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/jsonapi"
)

var errGone = errors.New("gone")

var table = httperr.Table{
	{Err: errGone, Status: http.StatusNotFound, Code: "not_found", Message: "no such thing"},
	{Err: jsonapi.ErrStore, Status: http.StatusServiceUnavailable, Code: "store_unavailable", Message: "the store is unavailable", RetryAfter: 1},
}

// auth accepts "Bearer <uid>".
type auth struct{}

func (auth) Authenticate(_ context.Context, r *http.Request) (int64, error) {
	var uid int64
	if _, err := fmt.Sscanf(r.Header.Get("Authorization"), "Bearer %d", &uid); err != nil {
		return 0, &httperr.Error{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "sign in",
			Header: http.Header{"Www-Authenticate": {"Bearer"}}}
	}
	return uid, nil
}

type errBody struct {
	Error struct{ Code, Message, Param string }
}

func TestRoute(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	route := func(err error) http.HandlerFunc {
		return jsonapi.Route(auth{}, table, quiet)(func(w http.ResponseWriter, r *http.Request, uid int64) error {
			if err != nil {
				return err
			}
			return jsonapi.Write(w, http.StatusOK, map[string]int64{"uid": uid})
		})
	}
	for _, tc := range []struct {
		name       string
		authz      string
		err        error
		status     int
		code       string
		retryAfter string
		wwwAuth    string
	}{
		{"ok", "Bearer 7", nil, 200, "", "", ""},
		{"unauthenticated: auth's error as is", "", nil, 401, "unauthenticated", "", "Bearer"},
		{"auth error before the route runs", "", errGone, 401, "unauthenticated", "", "Bearer"},
		{"sentinel by the table", "Bearer 7", fmt.Errorf("read: %w", errGone), 404, "not_found", "", ""},
		{"store fault keeps its sentinel", "Bearer 7", jsonapi.StoreFault(errGone), 404, "not_found", "", ""},
		{"unknown store fault is a 503", "Bearer 7", jsonapi.StoreFault(errors.New("timeout")), 503, "store_unavailable", "1", ""},
		{"an httperr.Error as is", "Bearer 7", httperr.BadParam("x", "bad x"), 400, "invalid_parameter", "", ""},
		{"anything else is a 500", "Bearer 7", errors.New("secret detail"), 500, "internal", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/x", nil)
			if tc.authz != "" {
				req.Header.Set("Authorization", tc.authz)
			}
			rec := httptest.NewRecorder()
			route(tc.err).ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if got := rec.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			if got := rec.Header().Get("Www-Authenticate"); got != tc.wwwAuth {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.wwwAuth)
			}
			if tc.status == 200 {
				if !strings.Contains(rec.Body.String(), `"uid":7`) {
					t.Errorf("body %s, want uid 7", rec.Body)
				}
				return
			}
			var b errBody
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
				t.Fatal(err)
			}
			if b.Error.Code != tc.code {
				t.Errorf("code %q, want %q", b.Error.Code, tc.code)
			}
			if strings.Contains(rec.Body.String(), "secret") || strings.Contains(rec.Body.String(), "timeout") {
				t.Errorf("the body echoes the cause: %s", rec.Body)
			}
		})
	}
}

func TestHandlePublic(t *testing.T) {
	h := jsonapi.Handle(table, slog.New(slog.NewTextHandler(io.Discard, nil)))(func(w http.ResponseWriter, r *http.Request) error {
		if r.URL.Query().Has("fail") {
			return errGone
		}
		return jsonapi.Write(w, http.StatusCreated, map[string]bool{"ok": true})
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/x", nil)) // no Authorization: public
	if rec.Code != http.StatusCreated {
		t.Errorf("status %d, want 201", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/x?fail", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("status %d, want 404", rec.Code)
	}
}

func TestMark(t *testing.T) {
	if jsonapi.StoreFault(nil) != nil || jsonapi.Mark(nil, errGone) != nil {
		t.Fatal("a nil error marked is not nil")
	}
	cause := fmt.Errorf("read row: %w", errGone)
	err := jsonapi.StoreFault(cause)
	if !errors.Is(err, jsonapi.ErrStore) || !errors.Is(err, errGone) {
		t.Errorf("StoreFault(%v) matches ErrStore %v, its cause %v; want both", cause,
			errors.Is(err, jsonapi.ErrStore), errors.Is(err, errGone))
	}
	if err.Error() != cause.Error() {
		t.Errorf("message %q, want the cause's %q", err, cause)
	}
	errMedia := errors.New("media fault")
	if m := jsonapi.Mark(cause, errMedia); !errors.Is(m, errMedia) || errors.Is(m, jsonapi.ErrStore) {
		t.Errorf("Mark(cause, errMedia) matches errMedia %v, ErrStore %v", errors.Is(m, errMedia), errors.Is(m, jsonapi.ErrStore))
	}
}

func TestParams(t *testing.T) {
	mux := http.NewServeMux()
	var got []any
	mux.HandleFunc("GET /a/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := jsonapi.PathID(r, "id")
		got = append(got, id, param(err))
		n, err := jsonapi.QueryInt(r, "after")
		got = append(got, n, param(err))
		l, err := jsonapi.Limit(r, 20, 100)
		got = append(got, l, param(err))
	})
	for _, tc := range []struct {
		url  string
		want string
	}{
		{"/a/12", "[12  0  20 ]"},
		{"/a/12?after=5&limit=100", "[12  5  100 ]"},
		{"/a/12?after=&limit=", "[12  0  20 ]"},
		{"/a/0?after=-1&limit=0", "[0 id 0 after 0 limit]"},
		{"/a/x?after=y&limit=101", "[0 id 0 after 0 limit]"},
		{"/a/-3?limit=z", "[0 id 0  0 limit]"},
	} {
		got = nil
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", tc.url, nil))
		if s := fmt.Sprint(got); s != tc.want {
			t.Errorf("%s: got %s, want %s", tc.url, s, tc.want)
		}
	}
	_, err := jsonapi.Limit(httptest.NewRequest("GET", "/?limit=500", nil), 20, 100)
	if he := (*httperr.Error)(nil); !errors.As(err, &he) || he.Message != "limit must be 1..100" || he.Status != 400 {
		t.Errorf("limit 500: %v", err)
	}
}

// param is the parameter a 400 names, "" for no error.
func param(err error) string {
	if err == nil {
		return ""
	}
	var he *httperr.Error
	if !errors.As(err, &he) || he.Status != http.StatusBadRequest || he.Code != "invalid_parameter" {
		return "not a 400: " + err.Error()
	}
	return he.Param
}

func TestCursor(t *testing.T) {
	for _, pos := range []int64{1, 42, 1 << 62} {
		c := jsonapi.EncodeCursor(pos)
		got, err := jsonapi.DecodeCursor(c)
		if err != nil || got != pos {
			t.Errorf("DecodeCursor(EncodeCursor(%d)) = %d, %v", pos, got, err)
		}
	}
	for _, bad := range []string{"", "!!", "AAAA", jsonapi.EncodeCursor(0), jsonapi.EncodeCursor(-5)} {
		if _, err := jsonapi.DecodeCursor(bad); param(err) != "cursor" {
			t.Errorf("DecodeCursor(%q): %v, want a 400 naming cursor", bad, err)
		}
	}
}

func TestIDs(t *testing.T) {
	for _, tc := range []struct {
		ids  jsonapi.IDs
		want string
	}{{nil, "[]"}, {jsonapi.IDs{}, "[]"}, {jsonapi.IDs{1, 9007199254740993}, `["1","9007199254740993"]`}} {
		b, err := json.Marshal(struct {
			L jsonapi.IDs `json:"l"`
		}{tc.ids})
		if err != nil || string(b) != `{"l":`+tc.want+`}` {
			t.Errorf("marshal %v: %s, %v; want %s", tc.ids, b, err, tc.want)
		}
	}
}

func TestFieldsIDs(t *testing.T) {
	for _, tc := range []struct {
		body string
		want string // ids, ok, or the error's message
	}{
		{`{}`, "[] false"},
		{`{"user_ids":null}`, "[] false"},
		{`{"user_ids":[]}`, "[] true"},
		{`{"user_ids":["1"," 22 "]}`, "[1 22] true"},
		{`{"user_ids":[1]}`, "user_ids must be a list of id strings"},
		{`{"user_ids":"1"}`, "user_ids must be a list of id strings"},
		{`{"user_ids":["0"]}`, `user_ids: "0" is not an id`},
		{`{"user_ids":["1","x"]}`, `user_ids: "x" is not an id`},
	} {
		req := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
		f, err := jsonapi.ReadBody(httptest.NewRecorder(), req, 1024, "user_ids")
		if err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		ids, ok, err := f.IDs("user_ids")
		var got string
		if err != nil {
			var he *httperr.Error
			if !errors.As(err, &he) || he.Param != "user_ids" || he.Status != 400 {
				t.Errorf("%s: %v, want a 400 naming user_ids", tc.body, err)
				continue
			}
			got = he.Message
		} else {
			got = fmt.Sprint(append([]int64{}, ids...), " ", ok)
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.body, got, tc.want)
		}
	}
}

func TestValidatePage(t *testing.T) {
	if errs := jsonapi.ValidatePage("posts", 20, 100); errs != nil {
		t.Errorf("20/100: %v", errs)
	}
	for _, tc := range []struct {
		limit, max int
		want       string
	}{
		{0, 100, "posts: page limit 0: must be positive"},
		{20, 0, "posts: max page limit 0: must be positive\nposts: page limit 20 above max page limit 0"},
		{101, 100, "posts: page limit 101 above max page limit 100"},
	} {
		if got := errors.Join(jsonapi.ValidatePage("posts", tc.limit, tc.max)...); got == nil || got.Error() != tc.want {
			t.Errorf("%d/%d: %v, want %q", tc.limit, tc.max, got, tc.want)
		}
	}
}

func TestCheckIdempotencyKey(t *testing.T) {
	for k, ok := range map[string]bool{
		"a": true, "key-1_~!": true, strings.Repeat("k", 255): true,
		"": false, strings.Repeat("k", 256): false, "a b": false, "é": false, "a\x7f": false,
	} {
		err := jsonapi.CheckIdempotencyKey(k)
		if ok && err != nil || !ok && param(err) != "Idempotency-Key" {
			t.Errorf("%q: %v, want ok %v", k, err, ok)
		}
	}
}
