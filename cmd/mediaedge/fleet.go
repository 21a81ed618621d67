package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediaedge/mediaedge/fleet"
)

func init() { subcommands = append(subcommands, newFleetCmd) }

func newFleetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "Inspect the fleet of edges",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newFleetStatusCmd())
	return cmd
}

// statusMember is one row of `fleet status`.
type statusMember struct {
	Name   string  `json:"name"`
	HTTP   string  `json:"http"`
	Gossip string  `json:"gossip"`
	State  string  `json:"state"`
	Load   int64   `json:"load"`     // in-flight requests it serves itself; -1: no fresh report
	Share  float64 `json:"share"`    // fraction of sampled keys it owns
	Owned  int     `json:"owned"`    // of Samples
	Report string  `json:"load_age"` // age of the load report
}

type statusReport struct {
	Members []statusMember `json:"members"`
	Samples int            `json:"samples"`
}

// newFleetStatusCmd joins the fleet as an observer and prints what it sees.
//
// Why join rather than ask an edge's admin endpoint: --peers names gossip
// addresses, the one thing an operator always has for a fleet (HTTP and
// metrics listeners may be private or per-edge), and an observer sees the
// fleet as the edges do: memberlist's states, the loads they gossip, and the
// owners computed with the same Rank. An observer carries no HTTP address,
// so it owns no key and no edge forwards to it; it leaves when done.
func newFleetStatusCmd() *cobra.Command {
	var (
		peers   []string
		bind    string
		key     string
		asJSON  bool
		samples int
		wait    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status --peers HOST:PORT",
		Short: "Members, state, load and owned-key share of a fleet",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var errs []error
			if len(peers) == 0 {
				errs = append(errs, errors.New("--peers: name at least one member's gossip address HOST:PORT"))
			}
			for _, p := range peers {
				if _, _, err := net.SplitHostPort(p); err != nil {
					errs = append(errs, fmt.Errorf("--peers %q: want HOST:PORT: %w", p, err))
				}
			}
			if bind != "" {
				if err := ipPort(bind); err != nil {
					errs = append(errs, fmt.Errorf("--bind %q: %w", bind, err))
				}
			}
			k, err := fleetOptions{Key: key}.key()
			if err != nil {
				errs = append(errs, err)
			}
			if samples < 1 {
				errs = append(errs, fmt.Errorf("--samples %d: want at least 1", samples))
			}
			if wait <= 0 {
				errs = append(errs, fmt.Errorf("--wait %v: want more than 0", wait))
			}
			if err := errors.Join(errs...); err != nil {
				return err
			}
			if bind == "" {
				if bind, err = observerBind(peers[0]); err != nil {
					return fmt.Errorf("--bind: %w (name the address to gossip from)", err)
				}
			}
			rep, err := fleetStatus(cmd.Context(), peers, bind, k, samples, wait)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return printStatus(cmd.OutOrStdout(), rep)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&peers, "peers", nil, "gossip addresses HOST:PORT of fleet members (any one live is enough)")
	f.StringVar(&bind, "bind", "", "IP:PORT to gossip from (default: the local address that reaches the first peer, a free port)")
	f.StringVar(&key, "fleet-key", "", "the fleet's hex gossip key, if it has one")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.IntVar(&samples, "samples", 10000, "synthetic keys sampled to estimate each member's owned share")
	f.DurationVar(&wait, "wait", 1500*time.Millisecond, "how long to listen for the members and their load reports")
	return cmd
}

// observerBind is the local IP that routes to peer, with port 0: the
// address the members can reach the observer back on.
func observerBind(peer string) (string, error) {
	c, err := net.Dial("udp", peer)
	if err != nil {
		return "", err
	}
	defer c.Close()
	ip := c.LocalAddr().(*net.UDPAddr).IP
	return net.JoinHostPort(ip.String(), "0"), nil
}

func fleetStatus(ctx context.Context, peers []string, bind string, key []byte, samples int, wait time.Duration) (statusReport, error) {
	cfg := fleet.DefaultConfig()
	cfg.Bind, cfg.Peers, cfg.SecretKey, cfg.Observer = bind, peers, key, true
	host, _ := os.Hostname()
	cfg.Name = "observer-" + host + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10)
	cfg.Logger = nil // slog.Default, which the user sees only at warn
	f, err := fleet.Join(ctx, cfg)
	if err != nil {
		return statusReport{}, err
	}
	defer f.Close()
	// The membership arrives with the join's push/pull; the loads with the
	// members' next reports (every LoadInterval).
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) && len(f.Members()) == 0 {
		time.Sleep(50 * time.Millisecond)
	}
	if len(f.Members()) == 0 {
		return statusReport{}, fmt.Errorf("--peers %v: no fleet member answered within %v", peers, wait)
	}
	time.Sleep(time.Until(deadline))
	owned := map[string]int{}
	for i := 0; i < samples; i++ {
		owned[f.Owner("sample/"+strconv.Itoa(i)).Name]++
	}
	rep := statusReport{Samples: samples}
	for _, m := range f.Members() {
		sm := statusMember{Name: m.Name, HTTP: m.HTTPAddr, Gossip: m.GossipAddr, State: m.State, Load: m.Load,
			Owned: owned[m.Name], Share: float64(owned[m.Name]) / float64(samples), Report: "none"}
		if m.LoadAge >= 0 {
			sm.Report = m.LoadAge.Round(time.Millisecond).String()
		} else {
			sm.Load = -1
		}
		rep.Members = append(rep.Members, sm)
	}
	return rep, nil
}

func printStatus(w io.Writer, rep statusReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tHTTP\tGOSSIP\tSTATE\tLOAD\tSHARE")
	for _, m := range rep.Members {
		load := "?"
		if m.Load >= 0 {
			load = strconv.FormatInt(m.Load, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.1f%%\n", m.Name, m.HTTP, m.Gossip, m.State, load, 100*m.Share)
	}
	fmt.Fprintf(tw, "\n%d members; shares from %d sampled keys\n", len(rep.Members), rep.Samples)
	return tw.Flush()
}
