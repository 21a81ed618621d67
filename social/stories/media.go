package stories

import "github.com/mediaedge/mediaedge/social/posts"

// mediaJSON is a story's media as apps see it: the same URLs as a post's
// (posts.MediaJSON is the one place that knows them).
func mediaJSON(id, typ string) any { return posts.MediaJSON(id, typ) }
