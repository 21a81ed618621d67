// Command mediaedge is the media CDN in one binary: the edge server, the upload
// client, cache and schema maintenance, and the benchmarks. Commands stay thin:
// flags -> config -> call the packages. Every flag has an environment twin
// (--cache-dir is MEDIAEDGE_CACHE_DIR; lists are comma-separated).
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mediaedge/mediaedge/bench"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// `bench events` restarts this binary as the process it kills -9; in
	// that role it runs the crash child and exits.
	bench.EventsCrashChild()
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "mediaedge:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "mediaedge",
		Short:         "A media CDN: chunked uploads, image transforms, video, multi-disk cache",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return err
			}
			if f := cmd.Flags().Lookup("config"); f != nil && f.Value.String() != "" {
				return applyConfigFile(cmd.Flags(), f.Value.String())
			}
			return nil
		},
	}
	root.AddCommand(newVersionCmd())
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	return root
}

// subcommands is filled by the init functions of this package's files, one file per
// command, so that commands are added without editing this file.
var subcommands []func() *cobra.Command

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "mediaedge", version)
		},
	}
}

// bindEnv gives every flag not set on the command line the value of its
// environment twin: --cache-dir reads MEDIAEDGE_CACHE_DIR. Slice flags take a
// comma-separated list.
func bindEnv(fs *pflag.FlagSet) error {
	var firstErr error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || firstErr != nil {
			return
		}
		name := "MEDIAEDGE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		if sv, isSlice := f.Value.(pflag.SliceValue); isSlice {
			if err := sv.Replace(splitList(v)); err != nil {
				firstErr = fmt.Errorf("%s: %w", name, err)
			}
			f.Changed = true
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			firstErr = fmt.Errorf("%s: %w", name, err)
		}
	})
	return firstErr
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
