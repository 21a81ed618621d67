package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/mediaedge/mediaedge/edgecache"
)

func init() { subcommands = append(subcommands, newCacheCmd) }

// cacheFlags are shared by the cache subcommands.
type cacheFlags struct {
	dirs []string
}

func (f *cacheFlags) config(readOnly bool) (edgecache.Config, error) {
	cfg := edgecache.DefaultConfig()
	cfg.ReadOnly = readOnly
	// Never evict: the sizes here are only what was typed (10 GiB for a folder
	// given without one), not necessarily the server's budgets, and evicting
	// down to them at the start-up scan would delete most of a larger cache.
	cfg.NoEvict = true
	var errs []error
	for _, spec := range f.dirs {
		d, err := edgecache.ParseDisk(spec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cfg.Disks = append(cfg.Disks, d)
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, fmt.Errorf("--cache-dir: %w", err)
	}
	return cfg, cfg.Validate()
}

// open opens the cache and waits for its index; Ctrl-C interrupts (rebalance and
// verify are safe to interrupt and rerun). Opened read-write, it takes the
// folders' locks and fails while a server (or another cache command) holds
// them; inUse is the advice added to that error.
func (f *cacheFlags) open(cmd *cobra.Command, readOnly bool, inUse string) (*edgecache.Cache, context.Context, func(), error) {
	cfg, err := f.config(readOnly)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := edgecache.Open(ctx, cfg, logger)
	if err != nil {
		stop()
		if errors.Is(err, edgecache.ErrInUse) {
			err = fmt.Errorf("%w; %s", err, inUse)
		}
		return nil, nil, nil, err
	}
	done := func() {
		c.Close()
		stop()
	}
	if err := c.WaitReady(ctx); err != nil {
		done()
		return nil, nil, nil, err
	}
	return c, ctx, done, nil
}

func newCacheCmd() *cobra.Command {
	var f cacheFlags
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Inspect and maintain the edge cache disks",
		Long: `Inspect and maintain the edge cache folders given by --cache-dir PATH[:SIZE]
(repeatable, or MEDIAEDGE_CACHE_DIR comma-separated). Give the same list the server uses:
placement depends on every folder and its size.

rebalance, verify and purge need the server stopped: they lock each folder as the
server does, and refuse while it runs. stats and rebalance --dry-run only read,
so they run beside a live server. None of them evicts: the sizes given here weigh
placement but are not enforced; the server evicts to its own budgets when it starts.`,
	}
	cmd.PersistentFlags().StringSliceVar(&f.dirs, "cache-dir", []string{"./data/cache"}, "cache folder PATH[:SIZE], repeatable; SIZE like 10GiB (default size 10GiB)")
	cmd.AddCommand(newCacheStatsCmd(&f), newCacheRebalanceCmd(&f), newCacheVerifyCmd(&f), newCachePurgeCmd(&f))
	return cmd
}

func newCacheStatsCmd(f *cacheFlags) *cobra.Command {
	var server string
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Per disk: state, entries, bytes, budget, hit ratio",
		Long: `Stats prints each cache disk's state, entries, bytes, budget and hit ratio.

With --server (the running server's metrics address, --metrics-listen, or its
public address when it has none) it shows the server's own view: a disk the
server took offline shows offline. Without it, the folders are read directly,
which cannot know the server's disk states; the output says so.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if server != "" {
				stats, err := serverCacheStats(cmd.Context(), server)
				if err != nil {
					return err
				}
				printStats(cmd.OutOrStdout(), stats)
				return nil
			}
			c, _, done, err := f.open(cmd, true, "")
			if err != nil {
				return err
			}
			defer done()
			fmt.Fprintln(cmd.OutOrStdout(), "(read from the folders: states are this command's view; pass --server for the running server's)")
			printStats(cmd.OutOrStdout(), c.Stats())
			return nil
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "ask the running server at this address (its --metrics-listen), e.g. 127.0.0.1:9090")
	return cmd
}

// serverCacheStats asks a running server for its disks (GET /admin/cache).
func serverCacheStats(ctx context.Context, server string) ([]edgecache.DiskStats, error) {
	base := server
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/admin/cache", nil)
	if err != nil {
		return nil, fmt.Errorf("--server: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask the server: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("the server answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var body struct {
		Disks []edgecache.DiskStats `json:"disks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("read the server's answer: %w", err)
	}
	return body.Disks, nil
}

func printStats(out io.Writer, stats []edgecache.DiskStats) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DISK\tSTATE\tENTRIES\tBYTES\tBUDGET\tUSED\tHITS\tMISSES\tHIT RATIO\tLAST ERROR")
	var tot edgecache.DiskStats
	for _, s := range stats {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%.1f%%\t%d\t%d\t%.1f%%\t%s\n", s.Path, s.State, s.Entries,
			edgecache.FormatSize(s.Bytes), edgecache.FormatSize(s.Budget), 100*float64(s.Bytes)/float64(s.Budget),
			s.Hits, s.Misses, 100*s.HitRatio(), s.LastError)
		tot.Entries += s.Entries
		tot.Bytes += s.Bytes
		tot.Budget += s.Budget
		tot.Hits += s.Hits
		tot.Misses += s.Misses
	}
	if len(stats) > 1 {
		fmt.Fprintf(tw, "total\t\t%d\t%s\t%s\t%.1f%%\t%d\t%d\t%.1f%%\t\n", tot.Entries, edgecache.FormatSize(tot.Bytes),
			edgecache.FormatSize(tot.Budget), 100*float64(tot.Bytes)/float64(tot.Budget), tot.Hits, tot.Misses, 100*tot.HitRatio())
	}
	tw.Flush()
}

// progress draws a progress bar on w, created at the first report (when the total
// is known).
func progress(w io.Writer, what string) (edgecache.Progress, func()) {
	var bar *progressbar.ProgressBar
	report := func(done, total int) {
		if bar == nil {
			bar = progressbar.NewOptions(total,
				progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription(what),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("entries"),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
			)
		}
		bar.Set(done)
	}
	finish := func() {
		if bar != nil && !bar.IsFinished() {
			bar.Exit()
			fmt.Fprintln(w)
		}
	}
	return report, finish
}

func newCacheRebalanceCmd(f *cacheFlags) *cobra.Command {
	var dry bool
	cmd := &cobra.Command{
		Use:   "rebalance",
		Short: "Move every entry to the disk placement names now (after disks were added or removed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, done, err := f.open(cmd, dry, "stop it or use --dry-run")
			if err != nil {
				return err
			}
			defer done()
			report, finish := progress(cmd.ErrOrStderr(), "rebalance")
			rep, err := c.Rebalance(ctx, dry, report)
			finish()
			verb := "moved"
			if dry {
				verb = "would move"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "checked %d entries; %s %d (%s); %d failed\n",
				rep.Checked, verb, rep.Moved, edgecache.FormatSize(rep.Bytes), rep.Failed)
			if err != nil {
				return err
			}
			printStats(cmd.OutOrStdout(), c.Stats())
			if rep.Failed > 0 {
				return fmt.Errorf("rebalance: %d moves failed (run it again)", rep.Failed)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dry, "dry-run", false, "only count what would move")
	return cmd
}

func newCacheVerifyCmd(f *cacheFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Read every entry, check its length and checksum, remove bad ones",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ctx, done, err := f.open(cmd, false, "stop it first")
			if err != nil {
				return err
			}
			defer done()
			report, finish := progress(cmd.ErrOrStderr(), "verify")
			rep, err := c.Verify(ctx, report)
			finish()
			fmt.Fprintf(cmd.OutOrStdout(), "checked %d entries; %d bad (removed); %d unreadable; %d orphan or temp files removed\n",
				rep.Checked, rep.Bad, rep.Errors, rep.Removed)
			return err
		},
	}
}

func newCachePurgeCmd(f *cacheFlags) *cobra.Command {
	var (
		id, key string
		all     bool
	)
	cmd := &cobra.Command{
		Use:   "purge",
		Short: "Remove the entries of one media id (--id), one key (--key) or all (--all)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var match edgecache.Matcher
			switch n := btoi(id != "") + btoi(key != "") + btoi(all); {
			case n != 1:
				return errors.New("purge: give exactly one of --id, --key, --all")
			case id != "":
				match = edgecache.MatchID(id)
			case key != "":
				match = edgecache.MatchKey(key)
			default:
				match = edgecache.MatchAll()
			}
			c, ctx, done, err := f.open(cmd, false, "stop it first")
			if err != nil {
				return err
			}
			defer done()
			rep, err := c.Purge(ctx, match)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "purged %d entries (%s)\n", rep.Entries, edgecache.FormatSize(rep.Bytes))
			return nil
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "media id: the original and every derived result")
	cmd.Flags().StringVar(&key, "key", "", "one exact cache key")
	cmd.Flags().BoolVar(&all, "all", false, "every entry")
	return cmd
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
