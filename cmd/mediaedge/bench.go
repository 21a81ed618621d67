package main

import (
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediaedge/mediaedge/bench"
	"github.com/mediaedge/mediaedge/edgecache"
)

func init() { subcommands = append(subcommands, newBenchCmd, newDigestSinkCmd) }

// newDigestSinkCmd serves bench.DigestSink, the upload benchmark's third
// target: it is this binary so that the benchmark can pin it like every
// other server it starts. Hidden: it stores nothing and is of no use alone.
func newDigestSinkCmd() *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:    "bench-digest-sink",
		Short:  "Serve the upload benchmark's hash-only tus target (stores nothing)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			srv := &http.Server{Addr: listen, Handler: bench.DigestSink(), ReadHeaderTimeout: 10 * time.Second}
			return srv.ListenAndServe()
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8090", "address to listen on")
	return cmd
}

func newBenchCmd() *cobra.Command {
	var size, rssSize, uploadSize string
	var conc int
	var hosts []string
	ws := bench.DefaultWSConfig()
	chat := bench.DefaultChatConfig()
	var chatHosts []string
	if h := os.Getenv("MEDIAEDGE_CASSANDRA"); h != "" {
		chatHosts = strings.Split(h, ",")
	}
	feed := bench.DefaultFeedConfig()
	feedHosts := chatHosts
	fleetsim := bench.DefaultFleetsimConfig()
	fleetCfg := bench.DefaultFleetConfig()
	fleetHosts := chatHosts
	var pinOn bool
	var serverCPUs, clientCPUs string
	// benchWorkloads maps a workload name to its runner.
	benchWorkloads := map[string]func(cmd *cobra.Command) error{}
	cmd := &cobra.Command{
		Use:   "bench WORKLOAD|all",
		Short: "Run a whole-system benchmark against its reference (see scripts/bench.sh)",
		Long: `Workloads: chunkstore, cachehit, eviction, upload, origin, transform, transformhit, video, events, ws, chat, feed, fleetsim, fleet.
References come from the environment: NGINX_BIN, TUSD_BIN, IMAGINARY_BIN, IMGPROXY_BIN,
CENTRIFUGO_BIN (scripts/bench.sh installs all but imgproxy, which you build yourself).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pin, why := bench.DefaultPinning()
			if p, ok := bench.PinnedByParent(); ok {
				pin, why = p, ""
			} else if !pinOn {
				pin, why = bench.Pinning{}, "--pin=false"
			} else if pin.Server != "" {
				if serverCPUs != "" {
					pin.Server = serverCPUs
				}
				if clientCPUs != "" {
					pin.Client = clientCPUs
				}
				if err := bench.PinSelf(pin); err != nil {
					return err
				}
			}
			bench.SetPinning(pin)
			if why != "" {
				why = " (" + why + ")"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s%s\n", pin, why)
			names := args
			if args[0] == "all" {
				names = workloadNames(benchWorkloads)
			}
			for _, n := range names {
				run, ok := benchWorkloads[n]
				if !ok {
					return fmt.Errorf("unknown workload %q (have %s)", n, strings.Join(workloadNames(benchWorkloads), ", "))
				}
				fmt.Fprintf(cmd.OutOrStdout(), "== %s\n", n)
				if err := run(cmd); err != nil {
					return fmt.Errorf("%s: %w", n, err)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&pinOn, "pin", true, "pin the servers and the load generator to separate CPUs (taskset), as the README's figures are measured")
	f.StringVar(&serverCPUs, "server-cpus", "", "CPU list for the servers when pinned (default 1)")
	f.StringVar(&clientCPUs, "client-cpus", "", "CPU list for the load generator when pinned (default 0)")
	f.StringVar(&size, "size", "256MiB", "chunkstore: file size")
	f.StringVar(&uploadSize, "upload-size", "64MiB", "upload: bytes per upload (8 uploads at once; past the kernel's dirty limits tusd's bytes must reach the disk too)")
	f.StringVar(&rssSize, "rss-size", "2GiB", "chunkstore: file streamed while peak RSS is sampled (0 skips)")
	f.IntVar(&conc, "concurrency", 4, "chunkstore: chunks in flight")
	f.StringSliceVar(&hosts, "cassandra-hosts", []string{"127.0.0.1"}, "chunkstore: Cassandra contact points (empty skips)")
	f.IntVar(&ws.Conns, "ws-conns", ws.Conns, "ws: idle sockets opened on each server for the RSS figure")
	f.IntVar(&ws.Users, "ws-users", ws.Users, "ws: users owning the sockets (each an argon2 sign-up on mediaedge)")
	f.IntVar(&ws.Connected, "ws-connected", ws.Connected, "ws: sockets kept open for the latency run")
	f.IntVar(&ws.Followers, "ws-followers", ws.Followers, "ws: mediaedge accounts whose follows are the events (followers x users events at most)")
	f.IntVar(&ws.Rate, "ws-rate", ws.Rate, "ws: events offered per second")
	f.DurationVar(&ws.Duration, "ws-duration", ws.Duration, "ws: length of the latency run")
	f.IntVar(&ws.SourceAddrs, "ws-source-addrs", ws.SourceAddrs, "ws: client addresses 127.0.0.2 and up the sockets come from")
	f.IntVar(&chat.Users, "chat-users", chat.Users, "chat: users, one socket each (each an argon2 sign-up on mediaedge)")
	f.IntVar(&chat.Directs, "chat-directs", chat.Directs, "chat: direct conversations, distinct pairs of users")
	f.IntVar(&chat.GroupSize, "chat-group-size", chat.GroupSize, "chat: members of the group (users 0..N-1)")
	f.IntVar(&chat.Rate, "chat-rate", chat.Rate, "chat: direct messages offered per second")
	f.IntVar(&chat.GroupRate, "chat-group-rate", chat.GroupRate, "chat: group messages offered per second")
	f.DurationVar(&chat.Duration, "chat-duration", chat.Duration, "chat: length of each workload (direct, then group)")
	f.DurationVar(&chat.WarmUp, "chat-warm-up", chat.WarmUp, "chat: unmeasured run of each workload before its measured one (0 skips)")
	f.IntVar(&chat.Senders, "chat-senders", chat.Senders, "chat: send requests in flight at most")
	f.DurationVar(&chat.Grace, "chat-grace", chat.Grace, "chat: how long after the last send a message may arrive before it is lost")
	f.StringSliceVar(&chatHosts, "chat-cassandra-hosts", chatHosts, "chat: Cassandra contact points for the Cassandra run (default $MEDIAEDGE_CASSANDRA; empty skips it)")
	f.IntVar(&feed.Followers, "feed-followers", feed.Followers, "feed: followers of the author (seeded through the users store, not signed up)")
	f.IntVar(&feed.Posts, "feed-posts", feed.Posts, "feed: posts whose fan-out is timed")
	f.DurationVar(&feed.PostGap, "feed-post-gap", feed.PostGap, "feed: pause between posts")
	f.IntVar(&feed.Sample, "feed-sample", feed.Sample, "feed: random followers polling for each post")
	f.IntVar(&feed.Reads, "feed-reads", feed.Reads, "feed: home-feed reads timed")
	f.IntVar(&feed.ReadConc, "feed-read-concurrency", feed.ReadConc, "feed: home-feed reads in flight")
	f.IntVar(&feed.Likes, "feed-likes", feed.Likes, "feed: distinct followers liking one post (at most --feed-followers)")
	f.IntVar(&feed.LikeRate, "feed-like-rate", feed.LikeRate, "feed: likes offered per second")
	f.IntVar(&feed.LikeInFlight, "feed-like-in-flight", feed.LikeInFlight, "feed: like requests in flight at most")
	f.StringSliceVar(&feedHosts, "feed-cassandra-hosts", feedHosts, "feed: Cassandra contact points for the Cassandra run (default $MEDIAEDGE_CASSANDRA; empty skips it)")
	f.IntVar(&fleetsim.Edges, "fleetsim-edges", fleetsim.Edges, "fleetsim: edges in the simulated fleet")
	f.IntVar(&fleetsim.Keys, "fleetsim-keys", fleetsim.Keys, "fleetsim: distinct keys (the working set)")
	f.IntVar(&fleetsim.Requests, "fleetsim-requests", fleetsim.Requests, "fleetsim: requests per Zipf skew")
	f.Float64SliceVar(&fleetsim.Skews, "fleetsim-skews", fleetsim.Skews, "fleetsim: Zipf exponents s to run")
	f.Float64Var(&fleetsim.CacheFraction, "fleetsim-cache-fraction", fleetsim.CacheFraction, "fleetsim: fleet cache bytes as a fraction of the working set's")
	f.Float64Var(&fleetsim.LoadFactor, "fleetsim-load-factor", fleetsim.LoadFactor, "fleetsim: c of bounded loads")
	f.IntVar(&fleetsim.Window, "fleetsim-window", fleetsim.Window, "fleetsim: requests per load window (0: 100 per edge)")
	f.IntVar(&fleetsim.VirtualNodes, "fleetsim-vnodes", fleetsim.VirtualNodes, "fleetsim: hash ring points per edge")
	f.Uint64Var(&fleetsim.Seed, "fleetsim-seed", fleetsim.Seed, "fleetsim: seed of the trace and the random routing")
	f.StringVar(&fleetsim.Plot, "fleetsim-plot", fleetsim.Plot, "fleetsim: write the SVG plot here (empty skips it)")
	f.DurationVar(&fleetsim.Timeout, "fleetsim-timeout", fleetsim.Timeout, "fleetsim: bound on the whole simulation")

	benchWorkloads["chunkstore"] = func(cmd *cobra.Command) error {
		cfg := bench.DefaultChunkstoreConfig()
		var err error
		if cfg.Size, err = edgecache.ParseSize(size); err != nil {
			return fmt.Errorf("--size: %w", err)
		}
		if cfg.RSSSize, err = edgecache.ParseSize(rssSize); err != nil {
			return fmt.Errorf("--rss-size: %w", err)
		}
		cfg.Concurrency, cfg.CassandraHosts = conc, hosts
		_, err = bench.Chunkstore(cmd.Context(), cfg, cmd.OutOrStdout())
		return err
	}
	benchWorkloads["cachehit"] = func(cmd *cobra.Command) error {
		cfg := bench.DefaultCacheHitConfig()
		if b := os.Getenv("NGINX_BIN"); b != "" {
			cfg.Nginx = b
		}
		_, err := bench.CacheHit(cmd.Context(), cfg, cmd.OutOrStdout())
		return err
	}
	benchWorkloads["eviction"] = func(cmd *cobra.Command) error {
		_, err := bench.Eviction(cmd.Context(), bench.DefaultEvictionConfig(), cmd.OutOrStdout())
		return err
	}
	self := func() (string, error) { return os.Executable() }
	benchWorkloads["upload"] = func(cmd *cobra.Command) error {
		cfg := bench.DefaultUploadConfig()
		var err error
		if cfg.Mediaedge, err = self(); err != nil {
			return err
		}
		if cfg.RSSSize, err = edgecache.ParseSize(rssSize); err != nil {
			return fmt.Errorf("--rss-size: %w", err)
		}
		if cfg.Size, err = edgecache.ParseSize(uploadSize); err != nil || cfg.Size <= 0 {
			return fmt.Errorf("--upload-size %q: want a size above 0 (e.g. 64MiB)", uploadSize)
		}
		cfg.Tusd = os.Getenv("TUSD_BIN")
		_, err = bench.Upload(cmd.Context(), cfg, cmd.OutOrStdout())
		return err
	}
	benchWorkloads["origin"] = func(cmd *cobra.Command) error {
		cfg := bench.DefaultOriginConfig()
		var err error
		if cfg.Mediaedge, err = self(); err != nil {
			return err
		}
		if b := os.Getenv("NGINX_BIN"); b != "" {
			cfg.Nginx = b
		}
		_, err = bench.Origin(cmd.Context(), cfg, cmd.OutOrStdout())
		return err
	}
	benchWorkloads["transform"] = func(cmd *cobra.Command) error {
		cfg := bench.DefaultTransformConfig()
		var err error
		if cfg.Mediaedge, err = self(); err != nil {
			return err
		}
		cfg.Imaginary, cfg.Imgproxy = os.Getenv("IMAGINARY_BIN"), os.Getenv("IMGPROXY_BIN")
		_, err = bench.Transform(cmd.Context(), cfg, cmd.OutOrStdout())
		return err
	}
	thWidth := bench.DefaultTransformHitConfig().Width
	f.IntVar(&thWidth, "transformhit-width", thWidth, "transformhit: width of the cached WebP rendition (400: about 10 KB, 1400: about 50 KB)")
	benchWorkloads["transformhit"] = func(cmd *cobra.Command) error {
		cfg := bench.DefaultTransformHitConfig()
		cfg.Width = thWidth
		var err error
		if cfg.Mediaedge, err = self(); err != nil {
			return err
		}
		if b := os.Getenv("NGINX_BIN"); b != "" {
			cfg.Nginx = b
		}
		_, err = bench.TransformHit(cmd.Context(), cfg, cmd.OutOrStdout())
		return err
	}
	benchWorkloads["events"] = func(cmd *cobra.Command) error {
		_, err := bench.Events(cmd.Context(), bench.DefaultEventsConfig(), cmd.OutOrStdout())
		return err
	}
	benchWorkloads["ws"] = func(cmd *cobra.Command) error {
		cfg := ws
		var err error
		if cfg.Mediaedge, err = self(); err != nil {
			return err
		}
		cfg.Centrifugo = os.Getenv("CENTRIFUGO_BIN")
		_, err = bench.WS(cmd.Context(), cfg, cmd.OutOrStdout())
		return err
	}
	benchWorkloads["chat"] = func(cmd *cobra.Command) error {
		cfg := chat
		var err error
		if cfg.Mediaedge, err = self(); err != nil {
			return err
		}
		cfg.Centrifugo = os.Getenv("CENTRIFUGO_BIN")
		cfg.CassandraHosts = chatHosts
		_, err = bench.Chat(cmd.Context(), cfg, cmd.OutOrStdout())
		return err
	}
	benchWorkloads["feed"] = func(cmd *cobra.Command) error {
		cfg := feed
		var err error
		if cfg.Mediaedge, err = self(); err != nil {
			return err
		}
		cfg.CassandraHosts = feedHosts
		_, err = bench.Feed(cmd.Context(), cfg, cmd.OutOrStdout())
		return err
	}
	f.StringSliceVar(&fleetHosts, "fleet-cassandra-hosts", fleetHosts, "fleet: Cassandra contact points the edges share (default $MEDIAEDGE_CASSANDRA)")
	f.IntVar(&fleetCfg.Edges, "fleet-edges", fleetCfg.Edges, "fleet: edges")
	f.IntVar(&fleetCfg.Sources, "fleet-sources", fleetCfg.Sources, "fleet: originals uploaded")
	f.IntVar(&fleetCfg.Widths, "fleet-widths", fleetCfg.Widths, "fleet: renditions per original")
	f.IntVar(&fleetCfg.Requests, "fleet-requests", fleetCfg.Requests, "fleet: requests in the trace")
	f.Float64Var(&fleetCfg.Skew, "fleet-skew", fleetCfg.Skew, "fleet: Zipf exponent of the trace")
	benchWorkloads["fleet"] = func(cmd *cobra.Command) error {
		cfg := fleetCfg
		var err error
		if cfg.Mediaedge, err = self(); err != nil {
			return err
		}
		cfg.CassandraHosts = fleetHosts
		_, err = bench.Fleet(cmd.Context(), cfg, cmd.OutOrStdout())
		return err
	}
	benchWorkloads["fleetsim"] = func(cmd *cobra.Command) error {
		_, err := bench.Fleetsim(cmd.Context(), fleetsim, cmd.OutOrStdout())
		return err
	}
	benchWorkloads["video"] = func(cmd *cobra.Command) error {
		bin, err := self()
		if err != nil {
			return err
		}
		_, err = bench.Video(cmd.Context(), bench.VideoConfig{Mediaedge: bin}, cmd.OutOrStdout())
		return err
	}
	return cmd
}

func workloadNames(m map[string]func(*cobra.Command) error) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
