package jsonapi

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/mediaedge/mediaedge/httperr"
)

// IDs is a list of ids that encodes as JSON strings ("123"), as every id in
// the API does: JavaScript loses precision above 2^53, and encoding/json's
// ",string" option does not reach into a slice's elements.
type IDs []int64

// MarshalJSON writes the ids as a list of decimal strings.
func (l IDs) MarshalJSON() ([]byte, error) {
	b := []byte{'['}
	for i, id := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = strconv.AppendInt(b, id, 10)
		b = append(b, '"')
	}
	return append(b, ']'), nil
}

// IDs reads field name as a list of positive ids written as strings (as
// IDs encodes them): ok is false when absent or null. A 400 naming the
// field for anything else.
func (f Fields) IDs(name string) (ids []int64, ok bool, err error) {
	raw, present := f[name]
	if !present || string(raw) == "null" {
		return nil, false, nil
	}
	var ss []string
	if err := json.Unmarshal(raw, &ss); err != nil {
		return nil, false, httperr.BadParam(name, name+" must be a list of id strings")
	}
	out := make([]int64, 0, len(ss))
	for _, v := range ss {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n <= 0 {
			return nil, false, httperr.BadParam(name, fmt.Sprintf("%s: %q is not an id", name, v))
		}
		out = append(out, n)
	}
	return out, true, nil
}
