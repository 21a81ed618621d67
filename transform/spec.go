package transform

import (
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Fit modes (imgix names).
const (
	FitClip  = "clip"  // fit inside the box (default)
	FitCrop  = "crop"  // fill the box, then crop
	FitFill  = "fill"  // fit inside, pad to the box with bg
	FitMax   = "max"   // clip, never enlarge
	FitMin   = "min"   // crop, never enlarge
	FitScale = "scale" // stretch to the box
)

// Spec is one canonical transform request. Two URLs that mean the same
// rendition parse to equal Specs, and Key is its cache key.
type Spec struct {
	Width, Height int     // requested CSS pixels, 0 = unset
	DPR           float64 // 1..5
	Fit           string
	Crop          string  // center, a sorted combination of top/bottom/left/right, entropy, attention, focalpoint
	FPX, FPY      float64 // focal point, 0..1, with Crop == focalpoint
	Format        string  // jpg png webp avif gif mp4; "" = the source's own
	AutoFormat    bool    // the format came from Accept: responses Vary on it
	// AnimWebP: with Format avif, an animated source comes as animated WebP
	// instead of its first frame as a still AVIF (libvips 8.14 writes no
	// AVIF sequences). Set by auto=format, which picks AVIF only for clients
	// that also take WebP; its key form is fm=avif&auto=format.
	AnimWebP bool
	Quality  int     // 0 = the format's default
	Blur     int     // 0..2000 (imgix scale)
	Sharp    int     // 0..100
	BG       string  // "rrggbbaa", "" = unset
	Rot      int     // 0..359
	Flip     string  // "", h, v, hv
	T        float64 // poster time in seconds, for video sources (0 = first frame)
	// Smallest, with fm=mp4 of an animated GIF, serves the GIF itself when
	// it is smaller than the MP4 and shows the same picture (smallest=1).
	// It is an opt-in because the answer is then image/gif, which a <video>
	// cannot play: a client that asks must look at Content-Type.
	Smallest bool
}

// OutWidth and OutHeight are the device pixels asked for (w*dpr, h*dpr).
func (s Spec) OutWidth() int  { return int(math.Round(float64(s.Width) * s.dpr())) }
func (s Spec) OutHeight() int { return int(math.Round(float64(s.Height) * s.dpr())) }

func (s Spec) dpr() float64 {
	if s.DPR == 0 {
		return 1
	}
	return s.DPR
}

// IsIdentity reports that nothing but the original was asked for: the
// canonical key is empty. It is defined by the key, not by the fields, so
// that no spec can have the original's key and still be rendered: a
// rendition stored under the original's key would replace the original in
// the cache (auto=format with an Accept that takes neither AVIF nor WebP,
// or a crop without a cropping fit, once did).
func (s Spec) IsIdentity() bool { return s.Key() == "orig" }

// Vary reports that the response depends on the Accept header.
func (s Spec) Vary() bool { return s.AutoFormat }

// Key is the canonical form: parameters in a fixed order, defaults left out,
// spellings normalised. It is the cache key and what Verify signs over.
func (s Spec) Key() string {
	var b []string
	add := func(k, v string) { b = append(b, k+"="+v) }
	if s.Width > 0 {
		add("w", strconv.Itoa(s.Width))
	}
	if s.Height > 0 {
		add("h", strconv.Itoa(s.Height))
	}
	if d := s.dpr(); d != 1 {
		add("dpr", strconv.FormatFloat(d, 'f', -1, 64))
	}
	if s.Fit != "" && s.Fit != FitClip {
		add("fit", s.Fit)
	}
	if s.Crop != "" && s.Crop != "center" && cropMatters(s.Fit) {
		add("crop", s.Crop)
		if s.Crop == "focalpoint" {
			add("fp", strconv.FormatFloat(s.FPX, 'f', -1, 64)+","+strconv.FormatFloat(s.FPY, 'f', -1, 64))
		}
	}
	if s.Format != "" {
		add("fm", s.Format)
	}
	if s.AnimWebP {
		add("auto", "format")
	}
	if s.Quality > 0 {
		add("q", strconv.Itoa(s.Quality))
	}
	if s.Blur > 0 {
		add("blur", strconv.Itoa(s.Blur))
	}
	if s.Sharp > 0 {
		add("sharp", strconv.Itoa(s.Sharp))
	}
	if s.BG != "" {
		add("bg", s.BG)
	}
	if s.Rot != 0 {
		add("rot", strconv.Itoa(s.Rot))
	}
	if s.Flip != "" {
		add("flip", s.Flip)
	}
	if s.T > 0 {
		add("t", strconv.FormatFloat(s.T, 'f', -1, 64))
	}
	if s.Smallest {
		add("smallest", "1")
	}
	if len(b) == 0 {
		return "orig"
	}
	return strings.Join(b, "&")
}

func cropMatters(fit string) bool { return fit == FitCrop || fit == FitMin }

var formatAliases = map[string]string{
	"jpg": "jpg", "jpeg": "jpg", "pjpg": "jpg", "png": "png", "webp": "webp", "avif": "avif", "gif": "gif", "mp4": "mp4",
}

// FormatOf returns the output format name of a content type ("" if none).
func FormatOf(contentType string) string {
	switch contentType {
	case "image/jpeg":
		return "jpg"
	case "image/png":
		return "png"
	case "image/webp":
		return "webp"
	case "image/avif":
		return "avif"
	case "image/gif":
		return "gif"
	}
	return ""
}

// ContentType of an output format.
func ContentType(format string) string {
	switch format {
	case "jpg":
		return "image/jpeg"
	case "mp4":
		return "video/mp4"
	}
	return "image/" + format
}

// known lists every parameter Parse accepts.
var known = map[string]bool{
	"w": true, "h": true, "dpr": true, "fit": true, "crop": true, "fp-x": true, "fp-y": true,
	"fm": true, "auto": true, "q": true, "blur": true, "sharp": true, "bg": true, "rot": true,
	"flip": true, "p": true, "s": true, "t": true, "smallest": true,
}

// Parse turns an extension ("webp" from /m/ID.webp, or "") and query
// parameters into a Spec. Every parameter is checked; the first bad one is
// returned as a *ParamError. accept is the request's Accept header, used when
// auto=format asks for negotiation.
func Parse(cfg Config, ext string, q url.Values, accept string) (Spec, error) {
	s := Spec{DPR: 1, Fit: FitClip, Crop: "center"}
	for k, vs := range q {
		if !known[k] {
			return Spec{}, paramErr(k, "unknown parameter")
		}
		if len(vs) > 1 {
			return Spec{}, paramErr(k, "given more than once")
		}
	}
	if p := q.Get("p"); p != "" || q.Has("p") {
		preset, ok := cfg.Presets[p]
		if !ok {
			return Spec{}, paramErr("p", "unknown preset %q", p)
		}
		pv, err := url.ParseQuery(preset)
		if err != nil {
			return Spec{}, paramErr("p", "preset %q is malformed", p)
		}
		// Explicit parameters override the preset's.
		merged := url.Values{}
		for k, v := range pv {
			merged[k] = v
		}
		for k, v := range q {
			if k != "p" {
				merged[k] = v
			}
		}
		if cfg.PresetsOnly {
			for k := range q {
				if k != "p" && k != "s" {
					return Spec{}, paramErr(k, "only presets (p=) are allowed on this server")
				}
			}
		}
		q = merged
	} else if cfg.PresetsOnly {
		for k := range q {
			if k != "s" {
				return Spec{}, paramErr(k, "only presets (p=) are allowed on this server")
			}
		}
		if ext != "" {
			return Spec{}, paramErr("ext", "only presets (p=) are allowed on this server")
		}
	}
	var err error
	if s.Width, err = intParam(q, "w", 1, 8192); err != nil {
		return Spec{}, err
	}
	if s.Height, err = intParam(q, "h", 1, 8192); err != nil {
		return Spec{}, err
	}
	if v := q.Get("dpr"); q.Has("dpr") {
		d, perr := strconv.ParseFloat(v, 64)
		if perr != nil || math.IsNaN(d) || d < 1 || d > 5 {
			return Spec{}, paramErr("dpr", "must be a number from 1 to 5")
		}
		s.DPR = math.Round(d*100) / 100
	}
	if s.OutWidth() > cfg.MaxOutputSide || s.OutHeight() > cfg.MaxOutputSide {
		p := "w"
		if s.OutHeight() > cfg.MaxOutputSide {
			p = "h"
		}
		if q.Has("dpr") {
			p = "dpr"
		}
		return Spec{}, paramErr(p, "the output would exceed %d pixels on a side", cfg.MaxOutputSide)
	}
	if q.Has("fit") {
		switch v := q.Get("fit"); v {
		case FitClip, FitCrop, FitFill, FitMax, FitMin, FitScale:
			s.Fit = v
		default:
			return Spec{}, paramErr("fit", "must be clip, crop, fill, max, min or scale")
		}
	}
	if q.Has("crop") {
		if s.Crop, err = parseCrop(q.Get("crop")); err != nil {
			return Spec{}, err
		}
	}
	if s.Crop == "focalpoint" {
		if s.FPX, err = floatParam(q, "fp-x", 0.5); err != nil {
			return Spec{}, err
		}
		if s.FPY, err = floatParam(q, "fp-y", 0.5); err != nil {
			return Spec{}, err
		}
	} else if q.Has("fp-x") || q.Has("fp-y") {
		p := "fp-x"
		if !q.Has("fp-x") {
			p = "fp-y"
		}
		return Spec{}, paramErr(p, "needs crop=focalpoint")
	}
	if !cropMatters(s.Fit) {
		s.Crop, s.FPX, s.FPY = "center", 0, 0
	}
	if ext != "" {
		f, ok := formatAliases[strings.ToLower(ext)]
		if !ok {
			return Spec{}, paramErr("ext", "unknown format extension %q", ext)
		}
		s.Format = f
	}
	if q.Has("fm") {
		f, ok := formatAliases[strings.ToLower(q.Get("fm"))]
		if !ok {
			return Spec{}, paramErr("fm", "must be jpg, png, webp, avif, gif or mp4")
		}
		if s.Format != "" && s.Format != f {
			return Spec{}, paramErr("fm", "conflicts with the extension .%s", ext)
		}
		s.Format = f
	}
	if q.Has("auto") {
		for _, a := range strings.Split(q.Get("auto"), ",") {
			switch strings.TrimSpace(a) {
			case "format":
				// An explicit format wins over negotiation, as with imgix.
				if s.Format == "" {
					s.AutoFormat = true
					s.Format = Negotiate(accept)
				}
				// Either way, AVIF asked with auto=format keeps an animation
				// (as WebP): Negotiate picks AVIF only where WebP is taken
				// too, and fm=avif&auto=format is this spec's own key.
				s.AnimWebP = s.Format == "avif"
			case "compress":
				// Accepted for imgix compatibility; our defaults already compress.
			default:
				return Spec{}, paramErr("auto", "must be format or compress")
			}
		}
	}
	if s.Quality, err = intParam(q, "q", 1, 100); err != nil {
		return Spec{}, err
	}
	if s.Quality > 0 && s.Format != "" && cfg.Quality[s.Format] == s.Quality {
		s.Quality = 0 // the default spelled out must not split the cache
	}
	if s.Format == "png" || s.Format == "gif" {
		s.Quality = 0 // lossless encoders here: q changes no byte, so no key either
	}
	if s.Blur, err = intParam(q, "blur", 0, 2000); err != nil {
		return Spec{}, err
	}
	if s.Sharp, err = intParam(q, "sharp", 0, 100); err != nil {
		return Spec{}, err
	}
	if q.Has("bg") {
		if s.BG, err = parseColor(q.Get("bg")); err != nil {
			return Spec{}, err
		}
	}
	if q.Has("rot") {
		r, perr := strconv.Atoi(q.Get("rot"))
		if perr != nil || r < 0 || r > 359 {
			return Spec{}, paramErr("rot", "must be an integer from 0 to 359")
		}
		s.Rot = r
	}
	if q.Has("flip") {
		switch v := q.Get("flip"); v {
		case "h", "v", "hv":
			s.Flip = v
		case "vh":
			s.Flip = "hv"
		default:
			return Spec{}, paramErr("flip", "must be h, v or hv")
		}
	}
	if q.Has("t") {
		t, perr := strconv.ParseFloat(q.Get("t"), 64)
		if perr != nil || math.IsNaN(t) || t < 0 || t > 86400 {
			return Spec{}, paramErr("t", "must be seconds from 0 to 86400")
		}
		s.T = math.Round(t*1000) / 1000
	}
	if q.Has("smallest") {
		switch q.Get("smallest") {
		case "1", "true":
			s.Smallest = true
		case "0", "false":
		default:
			return Spec{}, paramErr("smallest", "must be 1 or 0")
		}
		if s.Smallest && s.Format != "mp4" {
			return Spec{}, paramErr("smallest", "applies to fm=mp4 only (an animated GIF served as its MP4 or itself)")
		}
	}
	if s.Format == "mp4" && s.T > 0 {
		// t picks a video's poster frame; an animation's MP4 has all its
		// frames and the MP4 of a video is refused, so t would only split
		// the cache key: every value would encode the same MP4 again.
		return Spec{}, paramErr("t", "picks a video's poster frame; it does not apply to fm=mp4")
	}
	if s.Format == "mp4" && (s.Blur > 0 || s.Sharp > 0 || s.Rot != 0 || s.Flip != "" || s.Quality > 0) {
		return Spec{}, paramErr("fm", "mp4 takes only w, h, dpr, fit, bg and smallest")
	}
	if s.Format == "mp4" {
		// The video converter fits an animation inside w x h and never
		// enlarges it; a cropping, padding or stretching fit it would
		// ignore is refused rather than answered with another shape.
		switch s.Fit {
		case "", FitClip, FitMax:
			if s.Fit == FitMax {
				s.Fit = FitClip // the same MP4: one key
			}
		default:
			return Spec{}, paramErr("fit", "an MP4 is fitted inside w x h and never enlarged (fit=clip or max); fit=%s is for images", s.Fit)
		}
	}
	return s, nil
}

func intParam(q url.Values, name string, lo, hi int) (int, error) {
	if !q.Has(name) {
		return 0, nil
	}
	v, err := strconv.Atoi(q.Get(name))
	if err != nil || v < lo || v > hi {
		return 0, paramErr(name, "must be an integer from %d to %d", lo, hi)
	}
	return v, nil
}

func floatParam(q url.Values, name string, def float64) (float64, error) {
	if !q.Has(name) {
		return def, nil
	}
	v, err := strconv.ParseFloat(q.Get(name), 64)
	if err != nil || math.IsNaN(v) || v < 0 || v > 1 {
		return 0, paramErr(name, "must be a number from 0 to 1")
	}
	return math.Round(v*1000) / 1000, nil
}

func parseCrop(v string) (string, error) {
	parts := strings.Split(strings.ToLower(v), ",")
	if len(parts) == 1 {
		switch parts[0] {
		case "center", "centre", "":
			return "center", nil
		case "entropy", "attention", "focalpoint":
			return parts[0], nil
		}
	}
	seen := map[string]bool{}
	for _, p := range parts {
		switch p {
		case "top", "bottom", "left", "right":
			seen[p] = true
		case "center", "centre":
		default:
			return "", paramErr("crop", "must be center, top, bottom, left, right (combined with commas), entropy, attention or focalpoint")
		}
	}
	if (seen["top"] && seen["bottom"]) || (seen["left"] && seen["right"]) {
		return "", paramErr("crop", "top/bottom and left/right are exclusive")
	}
	var out []string
	for p := range seen {
		out = append(out, p)
	}
	if len(out) == 0 {
		return "center", nil
	}
	sort.Strings(out)
	return strings.Join(out, ","), nil
}

// parseColor accepts imgix's RGB, ARGB, RRGGBB and AARRGGBB hex and returns
// canonical "rrggbbaa".
func parseColor(v string) (string, error) {
	v = strings.ToLower(strings.TrimPrefix(v, "#"))
	for _, c := range v {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return "", paramErr("bg", "must be a hex colour: RGB, ARGB, RRGGBB or AARRGGBB")
		}
	}
	dbl := func(s string) string {
		var b strings.Builder
		for _, c := range s {
			b.WriteRune(c)
			b.WriteRune(c)
		}
		return b.String()
	}
	switch len(v) {
	case 3:
		return dbl(v) + "ff", nil
	case 4:
		return dbl(v[1:]) + dbl(v[:1]), nil
	case 6:
		return v + "ff", nil
	case 8:
		return v[2:] + v[:2], nil
	}
	return "", paramErr("bg", "must be a hex colour: RGB, ARGB, RRGGBB or AARRGGBB")
}

// rgba decodes a canonical colour.
func rgba(c string) (r, g, b, a float64) {
	if c == "" {
		return 255, 255, 255, 255
	}
	n, _ := strconv.ParseUint(c, 16, 32)
	return float64(n >> 24 & 0xff), float64(n >> 16 & 0xff), float64(n >> 8 & 0xff), float64(n & 0xff)
}

// Negotiate picks the best output format the Accept header allows: AVIF, then
// WebP at equal q; q-values are honoured (q=0 refuses a type). "" means neither
// is acceptable: keep the source's own format, which every browser that sent
// the source's type can show (a JPEG fallback would lose a PNG's alpha).
// AVIF is picked only when WebP is acceptable too, so that an animated
// source can still come animated, as WebP (Spec.AnimWebP); every browser
// that takes AVIF takes WebP.
func Negotiate(accept string) string {
	f := negotiate(accept, true)
	if f == "avif" && negotiate(accept, false) != "webp" {
		return ""
	}
	return f
}

// negotiate picks the best of AVIF (when withAVIF) and WebP that accept allows.
func negotiate(accept string, withAVIF bool) string {
	best, bestQ := "", 0.0
	rank := map[string]int{"avif": 3, "webp": 2}
	for _, part := range strings.Split(accept, ",") {
		fields := strings.Split(part, ";")
		mt := strings.ToLower(strings.TrimSpace(fields[0]))
		qv := 1.0
		for _, f := range fields[1:] {
			if k, v, ok := strings.Cut(strings.TrimSpace(f), "="); ok && strings.EqualFold(k, "q") {
				if x, err := strconv.ParseFloat(v, 64); err == nil {
					qv = x
				}
			}
		}
		var f string
		switch mt {
		case "image/avif":
			if !withAVIF {
				continue
			}
			f = "avif"
		case "image/webp":
			f = "webp"
		default:
			continue
		}
		if qv <= 0 {
			continue
		}
		if qv > bestQ || (qv == bestQ && rank[f] > rank[best]) {
			best, bestQ = f, qv
		}
	}
	return best
}
