package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newHealthCmd) }

// healthOptions are the flags of `mediaedge health`, the probe a container
// runtime runs (Dockerfile HEALTHCHECK, compose's healthcheck).
type healthOptions struct {
	// Listen is serve's --listen, so that the environment twin the serve
	// process reads (MEDIAEDGE_LISTEN) names the port here too.
	Listen string
	// URL, when set, is asked instead of the one derived from Listen.
	URL     string
	Timeout time.Duration
}

func newHealthCmd() *cobra.Command {
	o := healthOptions{Listen: "127.0.0.1:8080", Timeout: 5 * time.Second}
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Exit 0 if the local server is ready (GET /readyz answers 200), 1 if not",
		Long: `Health asks a running server's /readyz (the store answers and a cache disk is
online) and exits 0 on 200, 1 on anything else or no answer within --timeout. It
is the container health check: the URL is derived from --listen, whose
environment twin MEDIAEDGE_LISTEN the server reads too (an address that binds
every interface is asked on loopback). A server started with --config or a
--listen flag the environment does not carry needs --url.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			target, err := o.target()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), o.Timeout)
			defer cancel()
			status, err := probeReady(ctx, target)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), target+":", status)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", o.Listen, "the server's --listen address; the URL asked is http://LISTEN/readyz (0.0.0.0 and :: as loopback)")
	f.StringVar(&o.URL, "url", "", "URL to ask instead (default derived from --listen)")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "give up after this long")
	return cmd
}

// target is the URL health asks: --url, or /readyz on --listen with an
// address that binds every interface replaced by loopback (a probe runs
// beside the server, and 0.0.0.0 is no address to connect to).
func (o healthOptions) target() (string, error) {
	if o.Timeout <= 0 {
		return "", fmt.Errorf("--timeout %v: must be positive", o.Timeout)
	}
	if o.URL != "" {
		if u, err := url.Parse(o.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("--url %q: want an absolute http(s) URL", o.URL)
		}
		return o.URL, nil
	}
	host, port, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return "", fmt.Errorf("--listen %q: %w", o.Listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1" // [::] may be IPv6 only (net.ipv6.bindv6only)
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// probeReady GETs target and returns its status line when it is 200, an
// error naming the status (and the start of the body, which says why) when
// not.
func probeReady(ctx context.Context, target string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return "", fmt.Errorf("health %s: %w", target, err)
	}
	// Straight to the server: no proxy from the environment (a probe of
	// this process must not depend on one), and no connection kept.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("health %s: %w", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("health %s: %s: %s", target, resp.Status, strings.TrimSpace(string(body)))
	}
	return resp.Status, nil
}
