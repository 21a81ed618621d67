package chunkstore

import (
	"crypto/rand"
	"encoding/base32"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a new file or upload id: 128 random bits in lower-case base32
// (26 characters), unguessable and safe in URLs and file names.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("chunkstore: crypto/rand failed: " + err.Error()) // never on Linux
	}
	return idEncoding.EncodeToString(b[:])
}

// ValidID reports whether id has the form NewID returns.
func ValidID(id string) bool {
	if len(id) != 26 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}
