package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/mediaedge/mediaedge/social/jsonapi"
)

// groupJSON is a group as the API and the live "notification" event show
// it. Ids are strings.
type groupJSON struct {
	ID         int64       `json:"id,string"`
	Kind       string      `json:"kind"`
	Object     string      `json:"object"`
	Actors     jsonapi.IDs `json:"actors"`
	ActorCount int         `json:"actor_count"`
	FirstAt    time.Time   `json:"first_at"`
	LastAt     time.Time   `json:"last_at"`
	// ActivityID is the group's Pos: the list's order and cursor, and what
	// POST /v1/notifications/read takes as upto.
	ActivityID int64 `json:"activity_id,string"`
	Read       bool  `json:"read"`
}

func toJSON(g Group) groupJSON {
	return groupJSON{ID: g.ID, Kind: g.Kind, Object: g.Object, Actors: jsonapi.IDs(g.Actors), ActorCount: g.ActorCount,
		FirstAt: g.FirstAt.UTC(), LastAt: g.LastAt.UTC(), ActivityID: g.Pos, Read: g.Read}
}

// flexID reads an id written as a JSON string ("123", as every id in
// events is) or, leniently, as a number.
type flexID int64

func (f *flexID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("id %s: %w", b, err)
	}
	*f = flexID(n)
	return nil
}
