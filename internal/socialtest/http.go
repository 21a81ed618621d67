package socialtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
)

// Do sends a JSON request to url as user uid (in UserHeader; none when
// uid <= 0) and returns the status, the body decoded as a JSON object (nil
// when it is not one) and the response headers. body is sent as is when a
// string, empty when nil, JSON-encoded otherwise; hdr are header name,
// value pairs set after Content-Type (so they may replace it). A transport
// error ends the test.
func Do(t testing.TB, method, url string, uid int64, body any, hdr ...string) (int, map[string]any, http.Header) {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatalf("encode the body of %s %s: %v", method, url, err)
		}
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if uid > 0 {
		req.Header.Set(UserHeader, strconv.FormatInt(uid, 10))
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out) // an empty or non-object body stays nil: the caller checks what it needs
	return resp.StatusCode, out, resp.Header
}
