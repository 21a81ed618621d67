package jsonapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"

	"github.com/mediaedge/mediaedge/httperr"
)

// Fields is a decoded JSON object body: each known field's raw value.
type Fields map[string]json.RawMessage

// ReadBody reads a JSON object body of at most max bytes and checks it
// names only known fields. Errors are 4xx naming the problem: 413 for a
// body over max, 415 for a non-JSON Content-Type, 400 for malformed JSON,
// a body that is not one object, or an unknown field (named in param).
func ReadBody(w http.ResponseWriter, r *http.Request, max int64, known ...string) (Fields, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, httperr.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "the body must be application/json")
		}
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, httperr.New(http.StatusRequestEntityTooLarge, "too_large", "the request body is too large")
		}
		return nil, httperr.Wrap(http.StatusBadRequest, "bad_body", "the request body could not be read", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, httperr.New(http.StatusBadRequest, "invalid_json", "a JSON object body is required")
	}
	var f Fields
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, httperr.New(http.StatusBadRequest, "invalid_json", "the body must be a JSON object")
		}
		return nil, httperr.New(http.StatusBadRequest, "invalid_json", "the body is not valid JSON")
	}
	if f == nil { // the body was null
		return nil, httperr.New(http.StatusBadRequest, "invalid_json", "the body must be a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, httperr.New(http.StatusBadRequest, "invalid_json", "the body must be one JSON object")
	}
	names := make([]string, 0, len(f))
	for k := range f {
		names = append(names, k)
	}
	slices.Sort(names) // name the same unknown field every time
	for _, k := range names {
		if !slices.Contains(known, k) {
			return nil, &httperr.Error{Status: http.StatusBadRequest, Code: "unknown_field",
				Message: "unknown field " + strconvQuote(k), Param: k}
		}
	}
	return f, nil
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Str reads field name as a string: ok is false when absent or null.
func (f Fields) Str(name string) (s string, ok bool, err error) {
	raw, present := f[name]
	if !present || string(raw) == "null" {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, httperr.BadParam(name, name+" must be a string")
	}
	return s, true, nil
}

// Required reads a string field that must be present.
func (f Fields) Required(name string) (string, error) {
	s, ok, err := f.Str(name)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", httperr.BadParam(name, name+" is required")
	}
	return s, nil
}

// Has reports whether name is present, null or not.
func (f Fields) Has(name string) bool { _, ok := f[name]; return ok }

// Write writes v as JSON with status. Answers of the social API are
// private to their caller: never cached by shared caches.
func Write(w http.ResponseWriter, status int, v any) error {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}
