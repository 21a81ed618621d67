package transform

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func mustQuery(t testing.TB, s string) url.Values {
	t.Helper()
	q, err := url.ParseQuery(s)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestParseKeys(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Presets = map[string]string{"thumb": "w=200&h=200&fit=crop"}
	tests := []struct {
		ext, query, accept, wantKey string
		vary                        bool
	}{
		{"", "", "", "orig", false},
		{"", "w=400", "", "w=400", false},
		{"", "h=300&w=400", "", "w=400&h=300", false},
		{"", "w=400&h=300&fit=clip&crop=center&dpr=1", "", "w=400&h=300", false},
		{"", "w=400&dpr=2", "", "w=400&dpr=2", false},
		{"", "w=400&fit=crop&crop=left,top", "", "w=400&fit=crop&crop=left,top", false},
		{"", "w=400&fit=crop&crop=top,left", "", "w=400&fit=crop&crop=left,top", false},
		{"", "w=400&crop=top", "", "w=400", false}, // crop without a cropping fit changes nothing
		{"", "w=10&fit=crop&crop=focalpoint&fp-x=0.25&fp-y=0.75", "", "w=10&fit=crop&crop=focalpoint&fp=0.25,0.75", false},
		{"webp", "w=400", "", "w=400&fm=webp", false},
		{"", "fm=jpeg", "", "fm=jpg", false},
		{"", "fm=webp&q=80", "", "fm=webp", false}, // the default quality spelled out
		{"", "fm=webp&q=70", "", "fm=webp&q=70", false},
		{"", "fm=png&q=70", "", "fm=png", false}, // lossless: q changes nothing
		{"", "q=70&dpr=1.0&fit=clip&w=10&crop=left", "", "w=10&q=70", false},
		{"", "w=10&fm=avif&q=60", "", "w=10&fm=avif", false},
		{"", "bg=fff", "", "bg=ffffffff", false},
		{"", "bg=ffffff", "", "bg=ffffffff", false},
		{"", "bg=80ff0000", "", "bg=ff000080", false},
		{"", "flip=vh", "", "flip=hv", false},
		{"mp4", "smallest=1", "", "fm=mp4&smallest=1", false},
		{"mp4", "w=300&fit=max", "", "w=300&fm=mp4", false}, // an MP4 never enlarges: max is clip
		{"", "auto=format", "image/avif,image/webp,*/*", "fm=avif&auto=format", true},
		{"", "auto=format", "image/avif,*/*", "orig", true}, // AVIF only where WebP is taken too
		{"", "fm=avif&auto=format", "", "fm=avif&auto=format", false},
		{"", "auto=format&fm=avif", "image/jpeg", "fm=avif&auto=format", false},
		{"", "auto=format", "image/avif;q=0.5,image/webp", "fm=webp", true},
		{"", "auto=format", "image/avif;q=0,image/webp;q=0", "orig", true},
		{"", "auto=format&fm=png", "image/avif", "fm=png", false}, // fm wins
		{"", "p=thumb", "", "w=200&h=200&fit=crop", false},
		{"", "p=thumb&w=300", "", "w=300&h=200&fit=crop", false},
	}
	for _, tt := range tests {
		s, err := Parse(cfg, tt.ext, mustQuery(t, tt.query), tt.accept)
		if err != nil {
			t.Errorf("%s?%s: %v", tt.ext, tt.query, err)
			continue
		}
		if s.Key() != tt.wantKey || s.Vary() != tt.vary {
			t.Errorf("%s?%s: key %q vary %v, want %q %v", tt.ext, tt.query, s.Key(), s.Vary(), tt.wantKey, tt.vary)
		}
	}
}

// TestKeyEquivalence: every URL in a group means the same rendition and must
// share one cache key, whatever the order and however many defaults are
// spelled out; different groups must not collide.
func TestKeyEquivalence(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Presets = map[string]string{"card": "w=400&h=300&fit=crop"}
	groups := [][]string{
		{"w=400", "w=400&dpr=1", "dpr=1.00&w=400&fit=clip", "fit=clip&crop=center&w=400", "w=400&crop=entropy", "w=0400"},
		{"w=400&fm=webp", "fm=webp&w=400&q=80", "q=80&w=400&fm=WEBP", "auto=format&w=400|image/webp"},
		{"w=400&h=300&fit=crop", "h=300&fit=crop&w=400&crop=center", "p=card", "p=card&fit=crop", "fit=crop&crop=centre&h=300&w=400"},
		{"w=400&h=300&fit=crop&crop=top,left", "crop=left,top&fit=crop&h=300&w=400", "w=400&h=300&fit=crop&crop=top,left,center"},
		{"fm=png&w=10", "w=10&fm=png&q=50", "q=100&fm=png&w=10"},
		{"bg=fff&w=10", "w=10&bg=FFFFFF", "w=10&bg=%23ffffffff"},
		{"w=10&flip=hv", "flip=vh&w=10"},
		{"fm=mp4&smallest=1", "smallest=true&fm=mp4"},
		{"fm=mp4", "fm=mp4&smallest=0", "smallest=false&fm=mp4"},
		{"w=200&dpr=2", "dpr=2.0&w=200", "dpr=2.001&w=200"},
	}
	seen := map[string]int{}
	for gi, g := range groups {
		var first string
		for i, u := range g {
			query, accept, _ := strings.Cut(u, "|")
			s, err := Parse(cfg, "", mustQuery(t, query), accept)
			if err != nil {
				t.Fatalf("%s: %v", u, err)
			}
			if i == 0 {
				first = s.Key()
				if other, ok := seen[first]; ok {
					t.Errorf("groups %d and %d share key %q", other, gi, first)
				}
				seen[first] = gi
			} else if s.Key() != first {
				t.Errorf("%s: key %q, want %q (as %s)", u, s.Key(), first, g[0])
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	cfg := DefaultConfig()
	tests := []struct{ ext, query, param string }{
		{"", "w=0", "w"}, {"", "w=8193", "w"}, {"", "w=abc", "w"}, {"", "h=-1", "h"},
		{"", "w=5000&dpr=2", "dpr"}, {"", "dpr=6", "dpr"}, {"", "dpr=0.5", "dpr"}, {"", "dpr=NaN", "dpr"},
		{"", "fit=stretch", "fit"}, {"", "crop=middle", "crop"}, {"", "crop=top,bottom", "crop"},
		{"", "fm=bmp", "fm"}, {"bmp", "", "ext"}, {"webp", "fm=png", "fm"}, {"", "auto=magic", "auto"},
		{"", "q=0", "q"}, {"", "q=101", "q"}, {"", "blur=2001", "blur"}, {"", "sharp=101", "sharp"},
		{"", "bg=zzz", "bg"}, {"", "bg=12345", "bg"}, {"", "rot=360", "rot"}, {"", "rot=-90", "rot"},
		{"", "flip=x", "flip"}, {"", "p=nope", "p"}, {"", "zz=1", "zz"}, {"", "w=1&w=2", "w"},
		{"", "fp-x=0.5", "fp-x"}, {"", "fit=crop&crop=focalpoint&fp-x=2", "fp-x"},
		{"", "fm=mp4&blur=10", "fm"}, {"", "fm=mp4&t=2", "t"}, {"mp4", "t=0.5&w=100", "t"},
		{"", "fm=mp4&w=300&h=300&fit=crop", "fit"}, {"mp4", "w=300&h=300&fit=fill", "fit"}, {"mp4", "w=3&fit=scale", "fit"},
		{"", "smallest=1", "smallest"}, {"", "fm=webp&smallest=1", "smallest"}, {"mp4", "smallest=yes", "smallest"},
		{"", "h=8193", "h"}, {"", "h=3000&dpr=3", "dpr"}, {"", "fp-y=0.5", "fp-y"},
		{"", "fit=crop&crop=focalpoint&fp-y=-0.1", "fp-y"}, {"", "t=-1", "t"}, {"", "t=x", "t"},
		{"", "blur=-1", "blur"}, {"", "sharp=x", "sharp"}, {"", "q=8.5", "q"}, {"", "rot=1e3", "rot"},
		{"", "bg=#12", "bg"}, {"", "auto=format,zz", "auto"}, {"", "dpr=Inf", "dpr"},
	}
	for _, tt := range tests {
		_, err := Parse(cfg, tt.ext, mustQuery(t, tt.query), "")
		var pe *ParamError
		if !errors.As(err, &pe) || pe.Param != tt.param {
			t.Errorf("%s?%s: got %v, want a ParamError on %q", tt.ext, tt.query, err, tt.param)
		}
	}
}

func TestPresetsOnly(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Presets = map[string]string{"thumb": "w=200"}
	cfg.PresetsOnly = true
	if _, err := Parse(cfg, "", mustQuery(t, "p=thumb"), ""); err != nil {
		t.Fatal(err)
	}
	var pe *ParamError
	if _, err := Parse(cfg, "", mustQuery(t, "w=10"), ""); !errors.As(err, &pe) || pe.Param != "w" {
		t.Fatalf("free parameter allowed: %v", err)
	}
	if _, err := Parse(cfg, "", mustQuery(t, "p=thumb&w=10"), ""); !errors.As(err, &pe) {
		t.Fatalf("override of preset allowed: %v", err)
	}
}

// TestPresetsChecked: a preset is checked at start as a request's own
// parameters are; a typo or a bad value is a configuration error naming the
// preset and the parameter, not a 400 on every request that uses it.
func TestPresetsChecked(t *testing.T) {
	for preset, param := range map[string]string{"wdth=200": "wdth", "w=0": "w", "fm=tiff": "fm", "fit=zoom&w=1": "fit"} {
		cfg := DefaultConfig()
		cfg.Presets = map[string]string{"thumb": preset}
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "preset thumb") || !strings.Contains(err.Error(), param) {
			t.Errorf("preset %q: %v, want an error naming the preset and %s", preset, err, param)
		}
	}
	cfg := DefaultConfig()
	cfg.Presets = map[string]string{"card": "w=400&h=300&fit=crop&auto=format"}
	cfg.PresetsOnly = true
	if err := cfg.Validate(); err != nil {
		t.Errorf("good preset refused: %v", err)
	}
}

func TestSignature(t *testing.T) {
	old, cur := []byte("old-key"), []byte("current-key")
	cfg := DefaultConfig()
	cfg.SignKeys = [][]byte{cur, old}
	cfg.RequireSignature = true
	q := mustQuery(t, "w=400&fm=webp")
	path := "/m/abc"
	for _, k := range [][]byte{cur, old} {
		sq := mustQuery(t, "fm=webp&w=400") // order does not matter
		sq.Set("s", Sign(k, path, q))
		if err := Verify(cfg, path, sq); err != nil {
			t.Errorf("valid signature refused: %v", err)
		}
	}
	bad := mustQuery(t, "w=400&fm=webp")
	bad.Set("s", Sign([]byte("other"), path, q))
	if err := Verify(cfg, path, bad); !errors.Is(err, ErrSignature) {
		t.Errorf("wrong key accepted: %v", err)
	}
	tampered := mustQuery(t, "w=800&fm=webp")
	tampered.Set("s", Sign(cur, path, q))
	if err := Verify(cfg, path, tampered); !errors.Is(err, ErrSignature) {
		t.Errorf("tampered query accepted: %v", err)
	}
	if err := Verify(cfg, path, q); !errors.Is(err, ErrSignature) {
		t.Errorf("unsigned accepted with RequireSignature: %v", err)
	}
	cfg.RequireSignature = false
	if err := Verify(cfg, path, q); err != nil {
		t.Errorf("unsigned refused without RequireSignature: %v", err)
	}
}

func TestNegotiate(t *testing.T) {
	for accept, want := range map[string]string{
		"":                                  "",
		"image/webp,*/*":                    "webp",
		"image/avif,image/webp":             "avif",
		"image/webp;q=1,image/avif;q=0.8":   "webp",
		"image/avif;q=0":                    "",
		"text/html,image/apng,IMAGE/WEBP":   "webp",
		"image/avif;q=0.9, image/webp;q=.9": "avif",
	} {
		if got := Negotiate(accept); got != want {
			t.Errorf("Negotiate(%q) = %q, want %q", accept, got, want)
		}
	}
}

// FuzzParse: any query parses or fails with a ParamError, never panics, and
// the key of a parsed spec parses back to the same key.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"w=400&h=300&fit=crop", "fm=webp&q=70", "auto=format", "crop=focalpoint&fit=crop&fp-x=0.2&fp-y=1",
		"bg=80ff0000&rot=45&flip=hv", "blur=2000&sharp=100", "dpr=2.5&w=100", "w=1&w=2", "%zz", "p=x", "fm=mp4&t=2&w=10"} {
		f.Add("", s, "image/avif")
	}
	f.Add("webp", "w=1", "")
	cfg := DefaultConfig()
	cfg.Presets = map[string]string{"x": "w=10"}
	f.Fuzz(func(t *testing.T, ext, query, accept string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		s, err := Parse(cfg, ext, q, accept)
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("non-param error %v", err)
			}
			return
		}
		key := s.Key()
		if key == "orig" {
			return
		}
		kq, err := url.ParseQuery(key)
		if err != nil {
			t.Fatalf("key %q does not parse: %v", key, err)
		}
		// fp and the canonical bg spelling are key-only forms; map them back.
		if fp := kq.Get("fp"); fp != "" {
			kq.Del("fp")
			x, y, _ := cutComma(fp)
			kq.Set("fp-x", x)
			kq.Set("fp-y", y)
		}
		if bg := kq.Get("bg"); bg != "" {
			kq.Set("bg", bg[6:]+bg[:6])
		}
		s2, err := Parse(cfg, "", kq, "")
		if err != nil {
			t.Fatalf("key %q does not parse back: %v", key, err)
		}
		if s2.Key() != key {
			t.Fatalf("key %q reparses to %q", key, s2.Key())
		}
	})
}

func cutComma(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func BenchmarkParseKey(b *testing.B) {
	cfg := DefaultConfig()
	q := mustQuery(b, "w=400&h=300&fit=crop&crop=focalpoint&fp-x=0.3&fp-y=0.6&auto=format&q=70&sharp=10")
	accept := "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
	b.ReportAllocs()
	for b.Loop() {
		s, err := Parse(cfg, "", q, accept)
		if err != nil {
			b.Fatal(err)
		}
		_ = s.Key()
	}
}
