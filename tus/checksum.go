package tus

import (
	"bytes"
	"crypto/md5"  // tus checksum algorithms: integrity against transit damage,
	"crypto/sha1" // not security, so the weak hashes are fine here
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/mediaedge/mediaedge/httperr"
)

// checksumAlgorithms is advertised as Tus-Checksum-Algorithm.
const checksumAlgorithms = "sha1,sha256,md5,crc32"

// errChecksumMismatch is what Verify returns when the digest differs; the
// store discards the chunk and the client gets 460.
var errChecksumMismatch = errors.New("tus: checksum mismatch")

// checksum is a parsed Upload-Checksum header: "alg base64(digest)".
type checksum struct {
	alg  string
	want []byte
	h    hash.Hash
}

// newHash returns the hash for a tus algorithm name, or nil if unsupported.
// crc32 is the IEEE polynomial (as zlib, gzip and tus-java-server use), its
// digest the 4 bytes big-endian.
func newHash(alg string) hash.Hash {
	switch alg {
	case "sha1":
		return sha1.New()
	case "sha256":
		return sha256.New()
	case "md5":
		return md5.New()
	case "crc32":
		return crc32.NewIEEE()
	}
	return nil
}

// parseChecksum parses Upload-Checksum; an empty header is no checksum.
func parseChecksum(v string) (*checksum, error) {
	if v == "" {
		return nil, nil
	}
	alg, b64, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return nil, httperr.BadParam("Upload-Checksum", `Upload-Checksum must be "algorithm base64-digest"`)
	}
	alg = strings.ToLower(alg)
	h := newHash(alg)
	if h == nil {
		return nil, httperr.BadParam("Upload-Checksum", "unsupported checksum algorithm "+alg+"; supported: "+checksumAlgorithms)
	}
	want, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil || len(want) != h.Size() {
		return nil, httperr.BadParam("Upload-Checksum", "the "+alg+" digest must be base64 of "+strconv.Itoa(h.Size())+" bytes")
	}
	return &checksum{alg: alg, want: want, h: h}, nil
}

func (c *checksum) match() bool { return bytes.Equal(c.h.Sum(nil), c.want) }

func mismatchError(alg string) error {
	return httperr.Wrap(StatusChecksumMismatch, "checksum_mismatch",
		"the "+alg+" checksum of the body does not match Upload-Checksum; the chunk was discarded", errChecksumMismatch)
}
