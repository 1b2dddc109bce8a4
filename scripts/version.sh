#!/usr/bin/env bash
# Prints the distribution's version: builder-config.yaml's dist.version, the one source of the version the binary
# (--version, `components`), the image tag, the .deb/.rpm and the chart's appVersion carry.
# Usage: scripts/version.sh [repo-root]
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
v=$(awk '/^dist:/ {d = 1; next} /^[^[:space:]#]/ {d = 0} d && $1 == "version:" {print $2; exit}' "$root/builder-config.yaml")
[[ -n "$v" ]] || { echo "version.sh: no dist.version in $root/builder-config.yaml" >&2; exit 1; }
echo "${v//\"/}"
