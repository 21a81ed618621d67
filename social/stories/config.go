package stories

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mediaedge/mediaedge/social/ids"
	"github.com/mediaedge/mediaedge/social/jsonapi"
	"github.com/mediaedge/mediaedge/social/users"
)

// Authenticator tells who a request is: (*users.Handler).Authenticate.
type Authenticator = jsonapi.Authenticator

// Graph is the follow graph as the tray reads it (the users store).
type Graph interface {
	ListEdges(ctx context.Context, user int64, dir users.Direction, after int64, limit int) ([]users.Edge, error)
	CountEdges(ctx context.Context, user int64) (users.Counts, error)
}

// MediaInfo is what the media service knows of an upload.
type MediaInfo struct {
	// Owner is "user:<id>" for a user's upload.
	Owner string
	// Type is its MIME type: image/jpeg, image/gif, video/mp4, ...
	Type string
}

// ErrNoMedia is what Config.MediaInfo returns (wrapped) for an id that
// names no stored file.
var ErrNoMedia = errors.New("stories: no such media")

// Config is everything the service needs; the composition root fills it.
type Config struct {
	// Store holds stories, views and likes (required).
	Store Store `json:"-"`
	// IDs makes story and event ids (required).
	IDs *ids.Generator `json:"-"`
	// Auth authenticates every route (required).
	Auth Authenticator `json:"-"`
	// MediaInfo looks up a media id (required): a story's media must exist
	// (else 400) and be the poster's own upload (else 403).
	MediaInfo func(ctx context.Context, id string) (MediaInfo, error) `json:"-"`
	// Graph lists whom a viewer follows, for the tray (required).
	Graph Graph `json:"-"`
	// UserIDs resolves @usernames in /v1/users/{id}/stories; nil answers
	// such paths 404.
	UserIDs func(ctx context.Context, usernames []string) (map[string]int64, error) `json:"-"`
	// TTL is a story's lifetime (24 h). Cassandra keeps TTLs in whole
	// seconds, so it is at least 1s.
	TTL time.Duration
	// MaxCaption caps a caption, in bytes of UTF-8 (over it: 413).
	MaxCaption int
	// MaxHideFrom caps the users one story is hidden from.
	MaxHideFrom int
	// MaxLikers caps the likers a story.created event names.
	MaxLikers int
	// MaxFollowees caps the followees the tray looks at (the first ones in
	// the graph's order).
	MaxFollowees int
	// TrayParallel is how many followees' stories the tray reads at once.
	TrayParallel int
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
		TTL:          24 * time.Hour,
		MaxCaption:   500,
		MaxHideFrom:  1000,
		MaxLikers:    1000,
		MaxFollowees: 2000,
		TrayParallel: 16,
		MaxBody:      64 << 10,
		PageLimit:    50,
		MaxPageLimit: 200,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("stories: no store"))
	}
	if c.IDs == nil {
		errs = append(errs, errors.New("stories: no id generator"))
	}
	if c.Auth == nil {
		errs = append(errs, errors.New("stories: no authenticator"))
	}
	if c.MediaInfo == nil {
		errs = append(errs, errors.New("stories: MediaInfo is required"))
	}
	if c.Graph == nil {
		errs = append(errs, errors.New("stories: no follow graph"))
	}
	if c.TTL < time.Second {
		errs = append(errs, fmt.Errorf("stories: ttl %v: want 1s or more (Cassandra TTLs are whole seconds)", c.TTL))
	}
	for name, v := range map[string]int{"max caption": c.MaxCaption, "max hide from": c.MaxHideFrom, "max likers": c.MaxLikers,
		"max followees": c.MaxFollowees, "tray parallel": c.TrayParallel} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("stories: %s %d: must be positive", name, v))
		}
	}
	errs = append(errs, jsonapi.ValidatePage("stories", c.PageLimit, c.MaxPageLimit)...)
	if c.MaxBody < 1024 {
		errs = append(errs, fmt.Errorf("stories: max body %d: want at least 1024", c.MaxBody))
	}
	return errors.Join(errs...)
}
