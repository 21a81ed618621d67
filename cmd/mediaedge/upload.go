package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/mediaedge/mediaedge/edgecache"
	"github.com/mediaedge/mediaedge/tus"
)

func init() { subcommands = append(subcommands, newUploadCmd) }

// uploadFlags are the flags of `mediaedge upload`.
type uploadFlags struct {
	server    string
	token     string
	chunkSize string
	stateDir  string
	quiet     bool
}

func newUploadCmd() *cobra.Command {
	var f uploadFlags
	cmd := &cobra.Command{
		Use:   "upload FILE...",
		Short: "Upload files with tus (resumable) and print their media URLs",
		Long: `Upload sends each FILE to the server's tus endpoint (/files/) in checksummed
chunks, with a progress bar on stderr, and prints the media URL of each file on
stdout. An interrupted upload (Ctrl-C, a dropped network, a server restart)
resumes where it stopped when the same command runs again: the upload URL is
remembered per file (path, size, modification time) in --state-dir. An upload
another request is writing (423 Locked, say the same file sent from a second
terminal) is waited for as long as the server's Retry-After says, two minutes
at most without progress; when the offset moved (409) the upload asks the
server for it again and goes on from there.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runUpload(ctx, f, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.String("config", "", "YAML file whose keys are these flags' names")
	fl.StringVar(&f.server, "server", "http://127.0.0.1:8080", "server URL")
	fl.StringVar(&f.token, "token", "", "upload token (as printed by mediaedge serve)")
	fl.StringVar(&f.chunkSize, "chunk-size", "8MiB", "bytes per request")
	fl.StringVar(&f.stateDir, "state-dir", "", "where unfinished uploads are remembered (default: the user cache folder)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress bar")
	return cmd
}

func runUpload(ctx context.Context, f uploadFlags, files []string, out, errw io.Writer) error {
	chunk, err := edgecache.ParseSize(f.chunkSize)
	if err != nil || chunk <= 0 {
		return fmt.Errorf("--chunk-size %q: want a size like 8MiB", f.chunkSize)
	}
	server := strings.TrimSuffix(f.server, "/")
	if !strings.HasPrefix(server, "http://") && !strings.HasPrefix(server, "https://") {
		return fmt.Errorf("--server %q: want an http(s) URL", f.server)
	}
	c := &tus.Client{Endpoint: server + "/files/", Token: f.token, ChunkSize: chunk, StateDir: f.stateDir}
	var failed []error
	for _, path := range files {
		id, err := uploadOne(ctx, c, path, f.quiet, errw)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted; run the same command again to resume: %w", err)
			}
			fmt.Fprintf(errw, "%s: %v\n", path, err)
			failed = append(failed, err)
			continue
		}
		fmt.Fprintln(out, server+"/m/"+id)
	}
	if len(failed) > 0 {
		// Each failure was printed with its file above.
		return fmt.Errorf("%d of %d uploads failed", len(failed), len(files))
	}
	return nil
}

func uploadOne(ctx context.Context, c *tus.Client, path string, quiet bool, errw io.Writer) (string, error) {
	if quiet {
		return c.Upload(ctx, path, nil)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	bar := progressbar.NewOptions64(fi.Size(),
		progressbar.OptionSetWriter(errw),
		progressbar.OptionSetDescription(filepath.Base(path)),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionFullWidth(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(errw) }),
	)
	id, err := c.Upload(ctx, path, func(done, _ int64) { _ = bar.Set64(done) })
	if err != nil {
		fmt.Fprintln(errw)
	}
	return id, err
}
