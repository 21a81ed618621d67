#!/usr/bin/env bash
# install-deps.sh — installs what mediaedge needs and this machine lacks, with apt.
# Idempotent: a package already installed is not touched, so a second run is quick
# and needs no network. Runs as root, or through sudo when not root.
#
#   scripts/install-deps.sh          runtime + build: libvips, ffmpeg, pkg-config, C compiler
#   scripts/install-deps.sh test     + JDK 17, Maven, python3 (Cassandra), Node.js/npm, Chromium
#   scripts/install-deps.sh bench    + nginx (the reference server for cache-hit benchmarks)
set -euo pipefail

want=(libvips-dev libvips-tools ffmpeg pkg-config gcc libc6-dev ca-certificates)
case "${1:-run}" in
  run) ;;
  test) want+=(python3 chromium) ;;
  bench) want+=(nginx-light) ;;
  *) echo "usage: $0 [run|test|bench]" >&2; exit 2 ;;
esac

# Tools that may come from outside apt (a Temurin JDK, nvm's node): only ask apt for
# them when no usable one is on PATH.
if [[ "${1:-run}" == test ]]; then
  if ! java -version 2>&1 | grep -qE 'version "(11|17)\.'; then want+=(openjdk-17-jdk-headless); fi
  command -v mvn >/dev/null || want+=(maven)
  command -v node >/dev/null || want+=(nodejs)
  command -v npm >/dev/null || want+=(npm)
fi

missing=()
for p in "${want[@]}"; do
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
  echo "install-deps: Go 1.24 or newer is needed on PATH (https://go.dev/dl); Debian 12's golang is too old" >&2
  exit 1
fi
