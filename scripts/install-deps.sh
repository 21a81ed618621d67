#!/usr/bin/env bash
# install-deps.sh — installs what mediaedge needs and this machine lacks, then checks it.
# Idempotent: a package already installed is not touched, so a second run is quick
# and needs no network. Runs as root, or through sudo when not root.
#
#   scripts/install-deps.sh [run]    runtime + build: libvips, ffmpeg, pkg-config, C compiler
#   scripts/install-deps.sh test     + everything any test runs (the TOOLS table below)
#   scripts/install-deps.sh bench    + the benchmark references (nginx, tusd, imaginary, centrifugo)
#   scripts/install-deps.sh check [run|test|bench]
#                                    installs nothing; fails naming every missing tool
#
# This file is the one list of what the project needs. A test that runs a tool
# names it here (in TOOLS, with the package that brings it), and `make test`
# runs `check test` before any test starts, so a tool that only a hand install
# provided fails the run with a clear message instead of failing (or skipping)
# one test deep in the log. The Go tests find the same tools through
# internal/testenv, which fails (CI=true) or skips (elsewhere) when one is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# TOOLS: "mode command apt-package why". mode is the first set that needs it
# (run < test < bench: test includes run, bench includes test). A command that
# starts with / is checked as a path.
TOOLS=(
  "run   vips             libvips-tools      libvips CLI: tests read renditions back with vipsheader/vips"
  "run   vipsheader       libvips-tools      header checks of outputs"
  "run   pkg-config       pkg-config         cgo finds libvips (transform)"
  "run   gcc              gcc                cgo"
  "run   ffmpeg           ffmpeg             GIF/WebP to MP4, HLS packaging, posters"
  "run   ffprobe          ffmpeg             video probing, HLS and MP4 checks"
  "test  python3          python3            scripts/cassandra.sh readiness probe"
  "test  java             openjdk-17-jdk-headless  Cassandra 5.0 (scripts/cassandra.sh)"
  "test  mvn              maven              fetches cassandra-all from Maven Central"
  "test  node             nodejs             tus-js-client and playwright e2e tests"
  "run   npm              npm                installs webapp/ (make webapp) and e2e/*/package.json"
  "test  chromium         chromium           hls.js playback e2e (e2e/hls)"
  "test  promtool         prometheus         checks deploy/prometheus/alerts.yml (promtool check rules)"
  "test  /usr/sbin/nginx  nginx-light        bench smoke tests (bench/origin, bench/cachehit)"
  "test  tusd             -                  bench upload smoke test (Go module proxy, see ref_tool)"
  "test  centrifugo       -                  bench ws smoke test and WebSocket benchmark reference (Go module proxy)"
  "bench imaginary        -                  transform benchmark reference (Go module proxy)"
  "bench wrk              wrk                load generator for the hot-hit comparisons (one thread, pinned)"
)
# Apt packages that carry no command a test calls but are needed to build.
# libdeflate-dev: the PNG fast path inflates with libdeflate (transform/pngfast.go).
LIBS_RUN=(libvips-dev libdeflate-dev libc6-dev ca-certificates)

# Reference tools from the Go module proxy, built in a scratch module outside
# the repo (`go install mod@vX` needs a version list the proxy may refuse).
TUSD_VERSION=v2.9.1
IMAGINARY_VERSION=v1.2.4
CENTRIFUGO_VERSION=v6.9.1
REF="${XDG_CACHE_HOME:-$HOME/.cache}/mediaedge/ref"

# ref_path NAME prints where ref_tool installs NAME (bench/ and internal/testenv
# look there too).
ref_path() {
  case $1 in
    tusd) echo "$REF/tusd-$TUSD_VERSION/tusd" ;;
    imaginary) echo "$REF/imaginary-$IMAGINARY_VERSION/imaginary" ;;
    centrifugo) echo "$REF/centrifugo-$CENTRIFUGO_VERSION/centrifugo" ;;
  esac
}

ref_tool() {
  local name=$1 pkg ver
  case $name in
    tusd) pkg=github.com/tus/tusd/v2/cmd/tusd ver=$TUSD_VERSION ;;
    imaginary) pkg=github.com/h2non/imaginary ver=$IMAGINARY_VERSION ;;
    centrifugo) pkg=github.com/centrifugal/centrifugo/v6 ver=$CENTRIFUGO_VERSION ;;
  esac
  local bin; bin=$(ref_path "$name")
  [[ -x "$bin" ]] && return 0
  echo "install-deps: building $name $ver from the Go module proxy into $(dirname "$bin")" >&2
  local dir; dir=$(dirname "$bin")
  rm -rf "$dir" && mkdir -p "$dir"
  # imaginary is cgo over libvips: built against the libvips-dev installed above.
  (cd "$dir" && go mod init ref >/dev/null 2>&1 && go get "$pkg@$ver" >/dev/null 2>&1 && go build -o "$name" "$pkg") ||
    { echo "install-deps: could not build $name $ver" >&2; rm -rf "$dir"; return 1; }
}

level() { case $1 in run) echo 0 ;; test) echo 1 ;; bench) echo 2 ;; *) echo "usage: $0 [check] [run|test|bench]" >&2; exit 2 ;; esac; }

# has CMD: the command exists (a path, a reference tool, or on PATH).
has() {
  case $1 in
    /*) [[ -x $1 ]] ;;
    tusd|imaginary|centrifugo) [[ -x "$(ref_path "$1")" ]] ;;
    java) java -version 2>&1 | grep -qE 'version "(11|17)\.' ;;
    *) command -v "$1" >/dev/null ;;
  esac
}

check() {
  local want; want=$(level "$1") missing=0
  for row in "${TOOLS[@]}"; do
    read -r mode cmd pkg why <<<"$row"
    (( $(level "$mode") <= want )) || continue
    if ! has "$cmd"; then
      echo "install-deps: MISSING $cmd (package $pkg): $why" >&2
      missing=1
    fi
  done
  if ! command -v go >/dev/null; then
    echo "install-deps: MISSING go: Go 1.26 or newer on PATH (https://go.dev/dl); Debian 12's golang is too old" >&2
    missing=1
  fi
  if ((missing)); then
    echo "install-deps: run scripts/install-deps.sh $1 (make test does) to install what is missing" >&2
    return 1
  fi
  echo "install-deps: every tool the '$1' set needs is here" >&2
}

if [[ ${1:-} == check ]]; then
  check "${2:-run}"
  exit
fi

mode=${1:-run}
want_level=$(level "$mode")
want=("${LIBS_RUN[@]}")
for row in "${TOOLS[@]}"; do
  read -r m cmd pkg _ <<<"$row"
  (( $(level "$m") <= want_level )) || continue
  [[ $pkg == - ]] && continue
  # Tools that may come from outside apt (a Temurin JDK, nvm's node): only ask
  # apt for them when no usable one is on PATH.
  has "$cmd" || want+=("$pkg")
done

missing=()
for p in "${want[@]}"; do
  [[ " ${missing[*]} " == *" $p "* ]] && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  # Update the package lists only when they are missing or older than a day.
  if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]]; then
    $SUDO apt-get update -qq
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null; then
  echo "install-deps: Go 1.26 or newer is needed on PATH (https://go.dev/dl); Debian 12's golang is too old" >&2
  exit 1
fi

for row in "${TOOLS[@]}"; do
  read -r m cmd pkg _ <<<"$row"
  (( $(level "$m") <= want_level )) || continue
  [[ $pkg == - ]] && ref_tool "$cmd"
done

# Sample media for `bench video` (real camera footage and GIFs shipped in a
# module's docs): downloaded into the module cache as data, never built.
if ((want_level >= 2)); then
  go mod download github.com/u2takey/ffmpeg-go@v0.5.0 >/dev/null 2>&1 ||
    echo "install-deps: could not fetch the bench video samples (bench video runs without them)" >&2
fi

check "$mode"
