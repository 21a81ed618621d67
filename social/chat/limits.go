package chat

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/mediaedge/mediaedge/httperr"
	"github.com/mediaedge/mediaedge/social/ratelimit"
)

// typingEvery is how often one user may signal typing in one
// conversation. Clients repeat the signal every few seconds while the user
// types, so a well-behaved client never meets this; anything faster is a
// broken client or a flood, each signal a frame to every other member's
// sockets. Typing has these buckets of its own, not the one of
// Config.SendRate, so typing never costs a user the message being typed.
const typingEvery = time.Second

// typingLimit is typingEvery as a bucket: one signal, then one a second.
var typingLimit = ratelimit.Limit{Every: typingEvery, Burst: 1}

// act spends one token of uid's Config.SendRate bucket, the one budget of
// every action that writes an event for other members (sends, edits,
// deletes for everyone, pins, conversation and member changes, creating
// conversations). Callers check what needs no lookup first and call act
// before lookups per named user or media id and before the write: a
// refused request costs no token, a heavy one is still limited. msg is
// what the 429 says.
func (s *Service) act(uid int64, msg string) error {
	return s.limit(s.rate, strconv.FormatInt(uid, 10), msg)
}

// limit spends one attempt of key from l, or answers 429 rate_limited
// with Retry-After (whole seconds, rounded up) and spends nothing.
func (s *Service) limit(l *ratelimit.Keyed, key, msg string) error {
	if wait := l.Take(key, s.now()); wait > 0 {
		return &httperr.Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
			Message: msg, RetryAfter: int(math.Ceil(wait.Seconds()))}
	}
	return nil
}

// Messages of the 429s.
const (
	tooManyMessages = "too many messages, slow down"
	tooManyChanges  = "too many changes, slow down"
	tooManyTyping   = "typing is signalled at most once a second per conversation"
)
