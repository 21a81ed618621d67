package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// applyConfigFile fills flags that neither the command line nor the
// environment set from a YAML file whose keys are the flag names
// (cache-dir: [a, b]; listen: 127.0.0.1:8080; preset: {thumb: "w=200"}).
// Precedence: flag > env > file > default. An unknown key is an error: a
// typo must not silently keep a default.
//
// The file is the flags written down, not a second schema: one set of names
// to document, and every key a command accepts is listed by its --help. The
// root config struct each command fills (serveConfig for serve) is built
// from the flags alone.
func applyConfigFile(fs *pflag.FlagSet, path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	var errs []string
	for _, k := range slices.Sorted(maps.Keys(m)) { // errors in a stable order
		v := m[k]
		f := fs.Lookup(k)
		if f == nil {
			errs = append(errs, fmt.Sprintf("unknown key %q", k))
			continue
		}
		if f.Changed {
			continue
		}
		var vals []string
		switch t := v.(type) {
		case []any:
			for _, e := range t {
				vals = append(vals, fmt.Sprint(e))
			}
		case map[string]any: // a NAME=VALUE flag such as --preset
			for _, mk := range slices.Sorted(maps.Keys(t)) {
				vals = append(vals, mk+"="+fmt.Sprint(t[mk]))
			}
		case nil:
			errs = append(errs, fmt.Sprintf("%s: no value", k))
			continue
		default:
			vals = []string{fmt.Sprint(t)}
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			if err := sv.Replace(vals); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", k, err))
			}
		} else if err := fs.Set(k, strings.Join(vals, ",")); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", k, err))
		}
		f.Changed = true
	}
	if len(errs) > 0 {
		return fmt.Errorf("config %s: %s", path, strings.Join(errs, "; "))
	}
	return nil
}
