package posts

import (
	"net/url"
	"strings"
)

// MediaView is a media attachment as apps see it: ready-made URLs of the
// edge's transforms, so no app needs the transform grammar. Fields that do
// not apply to the type are absent.
type MediaView struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Thumb  string `json:"thumb,omitempty"`
	Srcset string `json:"srcset,omitempty"`
	MP4    string `json:"mp4,omitempty"`    // animated GIF/WebP as a video
	HLS    string `json:"hls,omitempty"`    // video: the HLS playlist
	Poster string `json:"poster,omitempty"` // video: a still frame
}

// MediaJSON is the one place that says which URLs a media of type typ
// (a MIME type) has; posts and stories both answer with it.
//
//   - images: url, thumb (320x320 crop) and a srcset of 320, 640, 1080 and
//     1600 pixels wide;
//   - animated GIF/WebP (image/gif, image/webp): the same and mp4;
//   - video/*: url, hls, poster (a JPEG at 640 wide) and thumb (at 320);
//   - anything else: url only.
func MediaJSON(id, typ string) MediaView {
	base := "/m/" + url.PathEscape(id)
	v := MediaView{ID: id, Type: typ, URL: base}
	mt := strings.ToLower(strings.TrimSpace(strings.SplitN(typ, ";", 2)[0]))
	switch {
	case strings.HasPrefix(mt, "image/"):
		v.Thumb = base + "?w=320&h=320&fit=crop"
		v.Srcset = base + "?w=320 320w, " + base + "?w=640 640w, " + base + "?w=1080 1080w, " + base + "?w=1600 1600w"
		if mt == "image/gif" || mt == "image/webp" {
			v.MP4 = base + "?fm=mp4"
		}
	case strings.HasPrefix(mt, "video/"):
		v.HLS = base + "/hls/index.m3u8"
		v.Poster = base + "?fm=jpg&w=640"
		v.Thumb = base + "?fm=jpg&w=320"
	}
	return v
}
