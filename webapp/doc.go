// Package webapp is mediaedge's browser app: upload, library, renditions
// playground, video player and the social views, served by the binary
// itself at / and /app/ (edge.Deps.App).
//
// # Why no bundler
//
// The app is plain HTML, CSS and ES modules embedded with go:embed, so the
// binary serves a working page with no network at run time and no build
// step on the user's side. The two libraries it needs, tus-js-client
// (resumable uploads) and hls.js (HLS where the browser has no native
// player), are pinned in package.json; `make webapp` runs npm ci and copies
// their prebuilt dist files into assets/vendor/, which the build then
// embeds. A binary built without them still serves the app and the page says
// which libraries are missing.
//
// # Caching
//
// Assets are served under /app/v-HASH/..., where HASH covers every embedded
// file: such URLs never change content, so they are immutable for a year.
// index.html (at /) names that prefix and is revalidated on every load
// (no-cache, with an ETag), so a new binary's assets are picked up at once.
// The unversioned /app/NAME paths work too, with a short max-age, for
// links typed by hand.
//
// # Security headers
//
// Every answer carries X-Content-Type-Options: nosniff and a strict
// Content-Security-Policy: scripts and styles only from this origin (no
// inline code, no eval), images and media from this origin, blob: and
// data: (hls.js feeds the <video> through MediaSource blob: URLs and runs
// its demuxer in a blob: worker), connections only to this origin, over
// HTTP or WebSocket. The upload token travels in the URL fragment
// (/#token=T), which browsers never send to the server, so it appears in no
// access log; the page moves it to sessionStorage and removes it from the
// address bar.
package webapp
