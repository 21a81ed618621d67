package posts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mediaedge/mediaedge/social/ids"
	"github.com/mediaedge/mediaedge/social/jsonapi"
)

// Authenticator tells who a request is: (*users.Handler).Authenticate.
type Authenticator = jsonapi.Authenticator

// MediaInfo is what the media store records of an upload.
type MediaInfo struct {
	// Owner is "user:<id>" for a user's uploads.
	Owner string
	// Type is the MIME type (image/jpeg, image/gif, video/mp4, ...).
	Type string
}

// Config is everything the service needs; the composition root fills it.
type Config struct {
	// Store holds posts, likes and comments (required).
	Store Store `json:"-"`
	// IDs makes post, comment and event ids (required).
	IDs *ids.Generator `json:"-"`
	// Auth authenticates every route (required).
	Auth Authenticator `json:"-"`
	// MediaInfo returns an upload's owner and type, or an error wrapping
	// ErrNoMedia for an unknown id (required). A post's media must be its
	// author's own uploads.
	MediaInfo func(ctx context.Context, id string) (MediaInfo, error) `json:"-"`
	// UserIDs resolves usernames to user ids (names it does not know are
	// absent from the map): "@name" in a post or comment mentions the
	// user. nil: mentions are not resolved.
	UserIDs func(ctx context.Context, usernames []string) (map[string]int64, error) `json:"-"`
	// MaxText caps a post's text, in bytes of UTF-8 (over it: 413).
	MaxText int
	// MaxComment caps a comment's text, in bytes of UTF-8.
	MaxComment int
	// MaxMedia caps the media ids of one post.
	MaxMedia int
	// MaxMentions caps the distinct @names resolved in one text; more are
	// ignored.
	MaxMentions int
	// MaxBody caps a JSON request body; larger ones are answered 413.
	MaxBody int64
	// PageLimit is the default and MaxPageLimit the largest ?limit=.
	PageLimit, MaxPageLimit int
	// Now is the clock; nil is time.Now.
	Now func() time.Time `json:"-"`
	// Notify, when set, is called after every write that put an event in
	// the outbox (the relay's Notify).
	Notify func() `json:"-"`
	// Logger; nil is slog.Default().
	Logger *slog.Logger `json:"-"`
}

// DefaultConfig has the defaults of everything but the required fields.
func DefaultConfig() Config {
	return Config{
		MaxText:      2000,
		MaxComment:   1000,
		MaxMedia:     10,
		MaxMentions:  20,
		MaxBody:      64 << 10,
		PageLimit:    20,
		MaxPageLimit: 100,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("posts: no store"))
	}
	if c.IDs == nil {
		errs = append(errs, errors.New("posts: no id generator"))
	}
	if c.Auth == nil {
		errs = append(errs, errors.New("posts: no authenticator"))
	}
	if c.MediaInfo == nil {
		errs = append(errs, errors.New("posts: MediaInfo is required"))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"max text", c.MaxText}, {"max comment", c.MaxComment}, {"max media", c.MaxMedia},
		{"max mentions", c.MaxMentions}} {
		if f.v < 1 {
			errs = append(errs, fmt.Errorf("posts: %s %d: must be positive", f.name, f.v))
		}
	}
	errs = append(errs, jsonapi.ValidatePage("posts", c.PageLimit, c.MaxPageLimit)...)
	if c.MaxBody < 1024 {
		errs = append(errs, fmt.Errorf("posts: max body %d: want at least 1024", c.MaxBody))
	}
	return errors.Join(errs...)
}
