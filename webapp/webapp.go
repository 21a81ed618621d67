package webapp

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mediaedge/mediaedge/httperr"
)

//go:embed all:assets
var embedded embed.FS

// Config is what the page needs to know about the server it runs on.
type Config struct {
	// RequireSignature mirrors the edge's --require-signature: transform
	// URLs without a valid s= are refused, and the page cannot sign them
	// (the key never reaches a browser), so it says that its URLs need
	// signing by the app's own backend.
	RequireSignature bool
	// PresetsOnly mirrors --presets-only: only p=NAME transforms are
	// served, so the playground's free parameters will be refused.
	PresetsOnly bool
	// Logger receives the errors of failed writes; nil discards them.
	Logger *slog.Logger
}

// Cache lifetimes.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheShort     = "public, max-age=300"
	cacheIndex     = "no-cache"
)

// asset is one embedded file, ready to serve.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// Handler serves the app. It holds only immutable data built by New, so it
// is safe for concurrent use.
type Handler struct {
	cfg     Config
	assets  map[string]asset // by path under assets/, e.g. "app.js"
	index   asset            // index.html with the version prefix filled in
	version string           // "v-" + a hash of every asset
	missing []string         // vendor libraries not embedded (built without make webapp)
}

// Vendor files `make webapp` copies in; their absence is reported on the
// page instead of failing the build.
var vendorFiles = []string{"vendor/tus.min.js", "vendor/hls.min.js"}

// New reads the embedded assets and prepares the page.
func New(cfg Config) (*Handler, error) {
	sub, err := fs.Sub(embedded, "assets")
	if err != nil {
		return nil, fmt.Errorf("webapp: assets: %w", err)
	}
	return newFromFS(cfg, sub)
}

func newFromFS(cfg Config, fsys fs.FS) (*Handler, error) {
	h := &Handler{cfg: cfg, assets: map[string]asset{}}
	var names []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil // .gitkeep and other dotfiles are not served
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		h.assets[p] = asset{body: b, ctype: contentType(p), etag: etagOf(b)}
		names = append(names, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("webapp: read assets: %w", err)
	}
	raw, ok := h.assets["index.html"]
	if !ok {
		return nil, fmt.Errorf("webapp: assets/index.html is missing")
	}
	delete(h.assets, "index.html") // served only at /, rendered
	sort.Strings(names)
	sum := sha256.New()
	for _, n := range names {
		fmt.Fprintf(sum, "%s\x00%d\x00", n, len(h.assets[n].body))
		sum.Write(h.assets[n].body)
	}
	h.version = "v-" + hex.EncodeToString(sum.Sum(nil))[:16]
	for _, v := range vendorFiles {
		if _, ok := h.assets[v]; !ok {
			h.missing = append(h.missing, v)
		}
	}
	page := strings.NewReplacer(
		"{{APP}}", "/app/"+h.version,
		"{{REQUIRE_SIGNATURE}}", strconv.FormatBool(cfg.RequireSignature),
		"{{PRESETS_ONLY}}", strconv.FormatBool(cfg.PresetsOnly),
		"{{MISSING}}", strings.Join(h.missing, " "),
	).Replace(string(raw.body))
	h.index = asset{body: []byte(page), ctype: raw.ctype, etag: etagOf([]byte(page))}
	return h, nil
}

// Version is the prefix segment of the immutable asset URLs.
func (h *Handler) Version() string { return h.version }

// Missing lists the vendor libraries this binary was built without.
func (h *Handler) Missing() []string { return h.missing }

// ServeHTTP answers / with the page and /app/... with assets.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		httperr.Write(w, r, h.cfg.Logger, httperr.New(http.StatusMethodNotAllowed, "method_not_allowed", "the app is read with GET"))
		return
	}
	if r.URL.Path == "/" || r.URL.Path == "/index.html" {
		hdr.Set("Content-Security-Policy", csp(r.Host))
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("X-Frame-Options", "DENY")
		h.serve(w, r, "index.html", h.index, cacheIndex)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/app/")
	cache := cacheShort
	if ok {
		if v, rest, found := strings.Cut(name, "/"); found && strings.HasPrefix(v, "v-") {
			name = rest
			// Only the current version's URLs are immutable: a page from an
			// older binary asking for its version gets today's file, which
			// must not be pinned under the old name for a year.
			if v == h.version {
				cache = cacheImmutable
			}
		}
	}
	a, found := h.assets[name]
	if !ok || !found || name != path.Clean(name) {
		httperr.Write(w, r, h.cfg.Logger, httperr.NotFound("no such file in the web app"))
		return
	}
	hdr.Set("Content-Security-Policy", csp(r.Host))
	h.serve(w, r, name, a, cache)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, name string, a asset, cache string) {
	hdr := w.Header()
	hdr.Set("Content-Type", a.ctype)
	hdr.Set("Cache-Control", cache)
	hdr.Set("ETag", a.etag)
	// ServeContent does HEAD, If-None-Match and Range from the ETag.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}

// csp is the page's Content-Security-Policy. 'self' covers ws: and wss: to
// the same host in CSP level 3 browsers; the explicit ws:// and wss:// of
// the request's host cover older ones.
func csp(host string) string {
	connect := "'self'"
	if validHost(host) {
		connect += " ws://" + host + " wss://" + host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; " +
		"img-src 'self' blob: data:; media-src 'self' blob:; worker-src 'self' blob:; " +
		"connect-src " + connect + "; font-src 'self'; manifest-src 'self'; " +
		"base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
}

// validHost accepts a host[:port] of letters, digits, dots, dashes and an
// IPv6 literal's brackets and colons: nothing that could end a CSP
// directive or add a source.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, c := range h {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}

// contentType is set from the extension: the assets are ours, and the
// OS MIME table (which net/http would consult) differs between machines.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".json", ".map":
		return "application/json; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".ico":
		return "image/x-icon"
	case ".txt":
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

func etagOf(b []byte) string {
	s := sha256.Sum256(b)
	return `"` + hex.EncodeToString(s[:12]) + `"`
}
