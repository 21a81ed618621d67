package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// applyConfigFile fills flags that neither the command line nor the
// environment set from a YAML file whose keys are the flag names
// (cache-dir: [a, b]; listen: 127.0.0.1:8080). Precedence: flag > env > file >
// default. An unknown key is an error: a typo must not silently keep a default.
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
	for k, v := range m {
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
