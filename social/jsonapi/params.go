package jsonapi

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"strconv"

	"github.com/mediaedge/mediaedge/httperr"
)

// PathID reads the {name} path value as a positive decimal id.
func PathID(r *http.Request, name string) (int64, error) {
	v, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || v <= 0 {
		return 0, httperr.BadParam(name, name+" must be a positive decimal id")
	}
	return v, nil
}

// QueryInt reads a non-negative integer query parameter; 0 when absent or
// empty.
func QueryInt(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, httperr.BadParam(name, name+" must be a non-negative integer")
	}
	return n, nil
}

// Limit reads ?limit=, a page size within [1, max]; def when absent or
// empty.
func Limit(r *http.Request, def, max int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, httperr.BadParam("limit", fmt.Sprintf("limit must be 1..%d", max))
	}
	return n, nil
}

// CheckIdempotencyKey checks an Idempotency-Key header's value: 1 to 255
// visible ASCII characters, else a 400 naming the header.
func CheckIdempotencyKey(k string) error {
	bad := len(k) == 0 || len(k) > 255
	for i := 0; i < len(k) && !bad; i++ {
		bad = k[i] < 0x21 || k[i] > 0x7e
	}
	if bad {
		return httperr.BadParam("Idempotency-Key", "Idempotency-Key must be 1 to 255 visible ASCII characters")
	}
	return nil
}

// EncodeCursor is the cursor of a page that ended at pos (an id, a
// position): 8 bytes big endian, base64url. Clients treat it as opaque, so
// one cannot make up a cursor that reads from the wrong place, and the form
// can change without breaking anyone.
func EncodeCursor(pos int64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(pos))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// DecodeCursor reads a cursor of EncodeCursor: a 400 naming "cursor" for
// one that this server did not return.
func DecodeCursor(v string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) != 8 || int64(binary.BigEndian.Uint64(b)) <= 0 {
		return 0, httperr.BadParam("cursor", "cursor is not one this server returned")
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// ValidatePage checks a service's page sizes: the default limit and the
// largest ?limit= both positive, the default within the largest. Problems
// are named with the service's prefix ("posts"), for its Validate to join.
func ValidatePage(prefix string, limit, max int) []error {
	var errs []error
	if limit < 1 {
		errs = append(errs, fmt.Errorf("%s: page limit %d: must be positive", prefix, limit))
	}
	if max < 1 {
		errs = append(errs, fmt.Errorf("%s: max page limit %d: must be positive", prefix, max))
	}
	if limit > max {
		errs = append(errs, fmt.Errorf("%s: page limit %d above max page limit %d", prefix, limit, max))
	}
	return errs
}
