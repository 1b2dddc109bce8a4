#!/usr/bin/env bash
# Builds otelcol-phoenix's .deb and .rpm with nfpm (packaging/nfpm.yaml) into OUT_DIR and prints their paths.
# Quiet on success; nfpm's output on failure.
# Usage: scripts/package.sh OUT_DIR
#   BINARY   the collector (default distribution/_build/otelcol-phoenix)
#   NFPM     the nfpm command (default: go tool -modfile=tools/go.mod nfpm; `make package` builds .bin/nfpm)
#   ARCH     Go architecture of BINARY (default: go env GOARCH); FORMATS (default: deb rpm)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[[ $# -eq 1 ]] || { echo "usage: scripts/package.sh OUT_DIR" >&2; exit 2; }
mkdir -p "$1"
out=$(cd "$1" && pwd)

BINARY=$(realpath "${BINARY:-$root/distribution/_build/otelcol-phoenix}")
[[ -x $BINARY ]] || { echo "package: $BINARY is not an executable: run make build" >&2; exit 1; }
VERSION=$("$root/scripts/version.sh" "$root")
ARCH=${ARCH:-$(go env GOARCH)}
export BINARY VERSION ARCH
read -r -a nfpm <<<"${NFPM:-go tool -modfile=$root/tools/go.mod nfpm}"

cd "$root"
# The formats are built side by side (compressing the binary is most of the time), each logging to its own file.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
pids=() targets=()
for format in ${FORMATS:-deb rpm}; do
  target=$out/otelcol-phoenix_${VERSION}_linux_${ARCH}.$format
  rm -f "$target"
  "${nfpm[@]}" package --config packaging/nfpm.yaml --packager "$format" --target "$target" >"$logs/$format" 2>&1 &
  pids+=($!) targets+=("$target")
done
failed=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    format=${targets[$i]##*.}
    cat "$logs/$format" >&2
    echo "package: nfpm failed for $format" >&2
    failed=1
  fi
done
((failed == 0)) || exit 1
printf '%s\n' "${targets[@]}"
