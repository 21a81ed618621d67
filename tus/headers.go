package tus

import (
	"encoding/base64"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/mediaedge/mediaedge/httperr"
)

// reservedPrefix marks metadata keys the store keeps for itself
// ("mediaedge.partial"); clients may not set them and HEAD does not show them.
const reservedPrefix = "mediaedge."

// maxMetadataPairs bounds Upload-Metadata (the header size is bounded by
// the server already; this bounds the map the store keeps).
const maxMetadataPairs = 64

// ParseMetadata parses Upload-Metadata: comma-separated "key base64value"
// pairs, the value optional. Unlike tusd, which drops malformed pairs
// silently, a malformed header is a 400 naming it: a client that sends a
// broken filename should hear about it.
func ParseMetadata(v string) (map[string]string, error) {
	meta := map[string]string{}
	if strings.TrimSpace(v) == "" {
		return meta, nil
	}
	bad := func(msg string) error { return httperr.BadParam("Upload-Metadata", msg) }
	for _, pair := range strings.Split(v, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		key, val, hasVal := strings.Cut(pair, " ")
		if key == "" || strings.ContainsAny(key, " \t") {
			return nil, bad("an Upload-Metadata key is empty")
		}
		if strings.HasPrefix(key, reservedPrefix) {
			return nil, bad("Upload-Metadata keys starting with " + reservedPrefix + " are reserved")
		}
		if _, dup := meta[key]; dup {
			return nil, bad("Upload-Metadata key " + strconv.Quote(key) + " appears twice")
		}
		dec := []byte(nil)
		if hasVal {
			var err error
			if dec, err = base64.StdEncoding.DecodeString(strings.TrimSpace(val)); err != nil {
				return nil, bad("the value of Upload-Metadata key " + strconv.Quote(key) + " is not base64")
			}
		}
		meta[key] = string(dec)
		if len(meta) > maxMetadataPairs {
			return nil, bad("Upload-Metadata has more than " + strconv.Itoa(maxMetadataPairs) + " keys")
		}
	}
	return meta, nil
}

// FormatMetadata is the Upload-Metadata header for meta, keys sorted,
// reserved keys left out.
func FormatMetadata(meta map[string]string) string {
	keys := make([]string, 0, len(meta))
	for k := range meta {
		if !strings.HasPrefix(k, reservedPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		if v := meta[k]; v != "" {
			b.WriteByte(' ')
			b.WriteString(base64.StdEncoding.EncodeToString([]byte(v)))
		}
	}
	return b.String()
}

// Filename is the file name a client sent in its metadata ("filename" as
// tus-js-client's examples and Uppy use, "name" as older clients do).
func Filename(meta map[string]string) string {
	if v := meta["filename"]; v != "" {
		return v
	}
	return meta["name"]
}

// Filetype is the media type a client claimed ("filetype" or "type"). It
// is informational: the edge serves the type found from magic bytes.
func Filetype(meta map[string]string) string {
	if v := meta["filetype"]; v != "" {
		return v
	}
	return meta["type"]
}

// maxConcatParts bounds the parts of a final concatenation. Each part costs
// a row read and a reader (with its chunk buffer) while the final is built,
// and a 64 KiB header holds about 1,900 references to one short id: without
// a bound a single request could ask for that much work and memory. 1,000 is
// far beyond what a client splits an upload into (tus-js-client's
// parallelUploads is a handful) and still cheap to check.
const maxConcatParts = 1000

// concatHeader is a parsed Upload-Concat header.
type concatHeader struct {
	partial bool
	final   bool
	parts   []string // upload URLs or paths, for final
}

// parseConcat parses "partial" or "final;URL URL ...". The URLs are
// resolved to ids by the caller.
func parseConcat(v string) (concatHeader, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return concatHeader{}, nil
	case v == "partial":
		return concatHeader{partial: true}, nil
	case strings.HasPrefix(v, "final;"):
		parts := strings.Fields(v[len("final;"):])
		if len(parts) == 0 {
			return concatHeader{}, httperr.BadParam("Upload-Concat", "Upload-Concat: final names no partial uploads")
		}
		if len(parts) > maxConcatParts {
			return concatHeader{}, httperr.BadParam("Upload-Concat",
				"Upload-Concat: final names more than "+strconv.Itoa(maxConcatParts)+" partial uploads")
		}
		return concatHeader{final: true, parts: parts}, nil
	}
	return concatHeader{}, httperr.BadParam("Upload-Concat", `Upload-Concat must be "partial" or "final;URL URL ..."`)
}

// parseLength reads Upload-Length / Upload-Defer-Length of a creation
// request: exactly one of them, a non-negative length or "1".
func parseLength(hdr http.Header) (length int64, deferred bool, err error) {
	lv, dv := hdr.Get("Upload-Length"), hdr.Get("Upload-Defer-Length")
	switch {
	case lv != "" && dv != "":
		return 0, false, httperr.BadParam("Upload-Length", "send Upload-Length or Upload-Defer-Length, not both")
	case dv != "":
		if dv != "1" {
			return 0, false, httperr.BadParam("Upload-Defer-Length", "Upload-Defer-Length must be 1")
		}
		return -1, true, nil
	case lv == "":
		return 0, false, httperr.BadParam("Upload-Length", "Upload-Length or Upload-Defer-Length: 1 is required")
	}
	n, err := strconv.ParseInt(lv, 10, 64)
	if err != nil || n < 0 {
		return 0, false, httperr.BadParam("Upload-Length", "Upload-Length must be a non-negative integer")
	}
	return n, false, nil
}

// parseOffset reads Upload-Offset.
func parseOffset(hdr http.Header) (int64, error) {
	n, err := strconv.ParseInt(hdr.Get("Upload-Offset"), 10, 64)
	if err != nil || n < 0 {
		return 0, httperr.BadParam("Upload-Offset", "Upload-Offset must be a non-negative integer")
	}
	return n, nil
}

// isChunk tells whether the request body is tus upload data.
func isChunk(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == contentTypeChunk
}
