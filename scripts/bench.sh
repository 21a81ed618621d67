#!/usr/bin/env bash
# bench.sh [WORKLOAD...] — runs `mediaedge bench` with its reference servers.
#
# References that a package registry serves are installed here, outside the repo:
#   nginx     Debian package (install-deps.sh bench)
#   tusd      Go module proxy, github.com/tus/tusd/v2/cmd/tusd at a pinned version
#   imaginary Go module proxy, github.com/h2non/imaginary at a pinned version
# imgproxy is only published as source, so it is never built by this project: build it
# yourself, outside the repo, and pass the binary with IMGPROXY_BIN=/path/to/imgproxy.
set -euo pipefail
cd "$(dirname "$0")/.."

TUSD_VERSION=v2.9.1
IMAGINARY_VERSION=v1.2.4
REF="${XDG_CACHE_HOME:-$HOME/.cache}/mediaedge/ref"
mkdir -p "$REF"

# go_tool MODULE_PKG VERSION NAME: builds a tool from the module proxy in a scratch
# module, because `go install mod@vX` needs a version list the proxy may refuse.
go_tool() {
  local pkg=$1 ver=$2 name=$3 dir="$REF/$3-$2"
  if [[ ! -x "$dir/$name" ]]; then
    echo "bench.sh: installing $name $ver from the Go module proxy" >&2
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && go mod init ref >/dev/null 2>&1 && go get "$pkg@$ver" >/dev/null && go build -o "$name" "$pkg")
  fi
  echo "$dir/$name"
}

export TUSD_BIN="${TUSD_BIN:-$(go_tool github.com/tus/tusd/v2/cmd/tusd $TUSD_VERSION tusd)}"
export IMAGINARY_BIN="${IMAGINARY_BIN:-$(go_tool github.com/h2non/imaginary $IMAGINARY_VERSION imaginary)}"
export NGINX_BIN="${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}"
export IMGPROXY_BIN="${IMGPROXY_BIN:-}"

if [[ $# -eq 0 ]]; then set -- all; fi
for w in "$@"; do
  bin/mediaedge bench "$w"
done
