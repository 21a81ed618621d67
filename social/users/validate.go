package users

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mediaedge/mediaedge/chunkstore"
	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/jsonapi"
)

// Field limits. Usernames are ASCII so that they are safe in URLs and
// cannot be confused with one another through look-alike letters.
const (
	minUsername    = 3
	maxUsername    = 30
	minPassword    = 8    // bytes
	maxPassword    = 1024 // bytes: argon2 takes any length, the cap bounds what a request may make it read
	maxDisplayName = 50   // characters
	maxBio         = 500  // characters
	defaultLimit   = 20
	maxLimit       = 100
)

// NormaliseUsername folds ASCII upper case: usernames are case-insensitive
// and stored lower case, and lookups by name (GetUserByName, the other
// services' @username paths) match the stored form exactly, so every name
// a client typed goes through this first.
func NormaliseUsername(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// checkUsername normalises and validates a username.
func checkUsername(raw string) (string, error) {
	u := NormaliseUsername(raw)
	if len(u) < minUsername || len(u) > maxUsername {
		return "", httperr.BadParam("username", "username must be 3 to 30 characters of a-z, 0-9 and _")
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return "", httperr.BadParam("username", "username must be 3 to 30 characters of a-z, 0-9 and _")
		}
	}
	return u, nil
}

// checkPassword checks a new password, sent as param (sign-up's password,
// a change's new_password).
func checkPassword(param, p string) error {
	if len(p) < minPassword || len(p) > maxPassword {
		return httperr.BadParam(param, param+" must be 8 to 1024 bytes")
	}
	return nil
}

// checkText validates free text: valid UTF-8, at most max characters, no
// control characters (newlines only where multiline).
func checkText(param, s string, max int, multiline bool) error {
	if !utf8.ValidString(s) {
		return httperr.BadParam(param, param+" must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return httperr.BadParam(param, param+" is too long")
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && r == '\n') {
			return httperr.BadParam(param, param+" must not contain control characters")
		}
	}
	return nil
}

func checkDisplayName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", httperr.BadParam("display_name", "display_name must not be empty")
	}
	if err := checkText("display_name", s, maxDisplayName, false); err != nil {
		return "", httperr.BadParam("display_name", "display_name must be 1 to 50 characters, without control characters")
	}
	return s, nil
}

func checkBio(s string) error {
	if err := checkText("bio", s, maxBio, true); err != nil {
		return httperr.BadParam("bio", "bio must be at most 500 characters")
	}
	return nil
}

// checkAvatarForm checks an avatar is "" (none) or a media id as
// chunkstore makes them (26 lower-case base32 characters).
func checkAvatarForm(s string) error {
	if s != "" && !chunkstore.ValidID(s) {
		return httperr.BadParam("avatar", "avatar must be a media id (26 characters of a-z and 2-7) or empty")
	}
	return nil
}

// Cursors are opaque to clients: jsonapi's, the last user id of a page.
func encodeCursor(id int64) string { return jsonapi.EncodeCursor(id) }

func decodeCursor(s string) (int64, error) { return jsonapi.DecodeCursor(s) }
