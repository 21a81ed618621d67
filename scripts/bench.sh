#!/usr/bin/env bash
# bench.sh [WORKLOAD...] — runs `mediaedge bench` with its reference servers.
#
# References that a package registry serves are installed by
# `scripts/install-deps.sh bench` (the one list of tools), outside the repo:
#   nginx     Debian package nginx-light
#   tusd      Go module proxy, github.com/tus/tusd/v2/cmd/tusd at a pinned version
#   imaginary Go module proxy, github.com/h2non/imaginary at a pinned version
# imgproxy is only published as source, so it is never built by this project: build it
# yourself, outside the repo, and pass the binary with IMGPROXY_BIN=/path/to/imgproxy.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh bench
REF="${XDG_CACHE_HOME:-$HOME/.cache}/mediaedge/ref"
ver() { sed -n "s/^$1=//p" scripts/install-deps.sh; }
export TUSD_BIN="${TUSD_BIN:-$REF/tusd-$(ver TUSD_VERSION)/tusd}"
export IMAGINARY_BIN="${IMAGINARY_BIN:-$REF/imaginary-$(ver IMAGINARY_VERSION)/imaginary}"
export CENTRIFUGO_BIN="${CENTRIFUGO_BIN:-$REF/centrifugo-$(ver CENTRIFUGO_VERSION)/centrifugo}"
export NGINX_BIN="${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}"
export IMGPROXY_BIN="${IMGPROXY_BIN:-}"
# The Cassandra runs (chunkstore, chat, feed, fleet) use the single node the tests
# use; start it unless hosts were named.
if [[ -z "${MEDIAEDGE_CASSANDRA:-}" ]]; then
  scripts/cassandra.sh start
  export MEDIAEDGE_CASSANDRA=127.0.0.1
fi

if [[ $# -eq 0 ]]; then set -- all; fi
for w in "$@"; do
  bin/mediaedge bench "$w"
done
