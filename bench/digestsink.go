package bench

// The digest sink: the least work any tus server that computes the files
// row's SHA-256 can do. It takes the bench client's uploads (POST, then
// PATCHes at the right offset), hashes every byte and stores nothing: no
// disk, no checksum, no metadata. The upload benchmark runs it as a third
// target, pinned like the others, so each run says how fast a server can be
// at all while it hashes on one core, next to how fast tusd is without
// hashing. Issue 16 asks for uploads at 1.0x tusd while hashing; when the
// sink itself is below tusd, no store behind it can get there on that core.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// sinkReadSize is the sink's read buffer: as large as the store's chunks, so
// the sink makes no more read calls than a server that fills 1 MiB chunks.
const sinkReadSize = 1 << 20

type sinkUpload struct {
	mu     sync.Mutex // held by the PATCH in progress
	length int64
	offset int64
	h      hash.Hash
}

// DigestSink is the sink's handler. It answers GET (the start-up probe) with
// 200, POST /files/ with 201 and a Location, and PATCH /files/{id} with 204
// and the new Upload-Offset once the body is hashed; the last PATCH also
// returns the digest in X-Sha256, so a test can check it hashed the bytes.
func DigestSink() http.Handler {
	var (
		mu      sync.Mutex
		uploads = map[string]*sinkUpload{}
		next    int
		bufs    = sync.Pool{New: func() any { b := make([]byte, sinkReadSize); return &b }}
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			return
		case http.MethodPost:
			n, err := strconv.ParseInt(r.Header.Get("Upload-Length"), 10, 64)
			if err != nil || n < 0 {
				http.Error(w, "Upload-Length", http.StatusBadRequest)
				return
			}
			mu.Lock()
			next++
			id := strconv.Itoa(next)
			uploads[id] = &sinkUpload{length: n, h: sha256.New()}
			mu.Unlock()
			w.Header().Set("Location", "/files/"+id)
			w.WriteHeader(http.StatusCreated)
		case http.MethodPatch:
			mu.Lock()
			u := uploads[strings.TrimPrefix(r.URL.Path, "/files/")]
			mu.Unlock()
			if u == nil {
				http.NotFound(w, r)
				return
			}
			u.mu.Lock()
			defer u.mu.Unlock()
			if off, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64); err != nil || off != u.offset {
				http.Error(w, "Upload-Offset", http.StatusConflict)
				return
			}
			buf := bufs.Get().(*[]byte)
			n, err := io.CopyBuffer(u.h, io.LimitReader(r.Body, u.length-u.offset), *buf)
			bufs.Put(buf)
			u.offset += n
			if err != nil && !errors.Is(err, io.EOF) {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Upload-Offset", strconv.FormatInt(u.offset, 10))
			if u.offset == u.length {
				w.Header().Set("X-Sha256", hex.EncodeToString(u.h.Sum(nil)))
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, fmt.Sprintf("method %s", r.Method), http.StatusMethodNotAllowed)
		}
	})
}
