#!/usr/bin/env bash
# Installs the Debian packages that `make test` and .ci/run need beyond Go: the real programs the tests drive
# (Prometheus, Chromium, dpkg, …), never fakes. Only missing ones are fetched. As root with apt-get it installs
# them; otherwise it names them and the one command that installs them, and fails, so that no test whose program
# is missing is skipped quietly. The README's "System packages" lists the same packages.
# Usage: scripts/install-deps.sh           install what is missing (root), or fail naming it
#        scripts/install-deps.sh --list    print every package, the program that shows it is installed, its use
set -euo pipefail

# package | program (or file) present once it is installed | what needs it
deps=(
  "make|make|the build and test entry points"
  "git|git|CI's clone; the image's revision label"
  "prometheus|prometheus|a real Prometheus (and promtool) for the scrape, remote-write, rules and differential tests"
  "chromium|chromium|the headless browser of the dashboard test"
  "util-linux|unshare|emulating a pod's service-account mount (compat, image tests)"
  "coreutils|chroot|running the image's file tree chrooted"
  "ca-certificates|/etc/ssl/certs/ca-certificates.crt|the trust store the image carries"
  "dpkg|dpkg|installing and purging the .deb"
  "rpm|rpm|querying the .rpm"
  "systemd|systemd-analyze|verifying the installed systemd unit"
)

present() {
  if [[ "$1" == /* ]]; then [[ -s "$1" ]]; else command -v "$1" >/dev/null 2>&1; fi
}

if [[ "${1:-}" == --list ]]; then
  for d in "${deps[@]}"; do
    IFS='|' read -r pkg probe why <<<"$d"
    printf '%-16s %-36s %s\n' "$pkg" "$probe" "$why"
  done
  exit 0
fi

missing() {
  local d pkg probe why
  for d in "${deps[@]}"; do
    IFS='|' read -r pkg probe why <<<"$d"
    present "$probe" || printf '%s\n' "$pkg"
  done
}

mapfile -t need < <(missing)
if ((${#need[@]} == 0)); then
  echo "deps: the ${#deps[@]} Debian packages the tests drive are installed"
  exit 0
fi

if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
  echo "deps: the tests drive real programs from these Debian packages, missing here: ${need[*]}" >&2
  if command -v apt-get >/dev/null 2>&1; then
    echo "deps: install them with: sudo $0" >&2
  else
    echo "deps: no apt-get here: install these packages (or your system's equivalents) with its package manager" >&2
  fi
  exit 1
fi

echo "deps: installing ${need[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
mapfile -t still < <(missing)
if ((${#still[@]})); then
  echo "deps: still missing after apt-get install: ${still[*]}" >&2
  exit 1
fi
