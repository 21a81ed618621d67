package socialtest

import (
	"errors"
	"testing"
)

// MustErr ends the test unless err is (wraps) want.
func MustErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}
