#!/usr/bin/env bash
# Checks that every OpenTelemetry Collector module is pinned to the one coherent set this project builds with:
# core v0.159.0, stable v1.65.0, contrib v0.159.0 — across go.mod, tools/go.mod, builder-config.yaml and the
# chart's appVersion. Prints every disagreement, exits 1 if there is any.
# Usage: scripts/check-versions.sh [repo-root]
set -euo pipefail

CORE=v0.159.0
STABLE=v1.65.0
CONTRIB=v0.159.0

root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

problems=0
fail() { echo "check-versions: $*" >&2; problems=$((problems + 1)); }

# check FILE MODULE VERSION: core modules may be CORE or STABLE, contrib modules must be CONTRIB.
check() {
  local file=$1 mod=$2 ver=$3
  case "$mod" in
    go.opentelemetry.io/collector|go.opentelemetry.io/collector/*)
      [[ "$ver" == "$CORE" || "$ver" == "$STABLE" ]] || fail "$file: $mod $ver (want core $CORE or stable $STABLE)" ;;
    github.com/open-telemetry/opentelemetry-collector-contrib/*)
      [[ "$ver" == "$CONTRIB" ]] || fail "$file: $mod $ver (want contrib $CONTRIB)" ;;
  esac
}

# go.mod files: "require" lines, single or in blocks, and replace targets.
for gomod in go.mod tools/go.mod; do
  [[ -f "$gomod" ]] || { fail "$gomod: missing"; continue; }
  while read -r mod ver; do
    check "$gomod" "$mod" "$ver"
  done < <(awk '
    /^require \(/ {blk=1; next} /^\)/ {blk=0}
    blk && NF>=2 {print $1, $2}
    /^require [^(]/ {print $2, $3}
    /=>/ {for (i=1;i<=NF;i++) if ($i=="=>" && $(i+2) ~ /^v/) print $(i+1), $(i+2)}
  ' "$gomod")
done

# The builder itself must be at the core version: ocb pins otelcol to its own version.
for tool in go.opentelemetry.io/collector/cmd/builder go.opentelemetry.io/collector/cmd/mdatagen; do
  v=$(awk -v m="$tool" '$1==m && $2 ~ /^v/ {print $2}' tools/go.mod | head -n1)
  [[ "$v" == "$CORE" ]] || fail "tools/go.mod: $tool ${v:-missing} (want $CORE)"
done

# builder-config.yaml: "gomod: <module> <version>" lines.
[[ -f builder-config.yaml ]] || fail "builder-config.yaml: missing"
while read -r mod ver; do
  check builder-config.yaml "$mod" "$ver"
done < <(sed -n 's/^[[:space:]-]*gomod:[[:space:]]*\([^[:space:]]*\)[[:space:]]\+\([^[:space:]#]*\).*/\1 \2/p' builder-config.yaml)

# The chart's appVersion names the contrib release the distribution is built from.
chart=charts/otelcol-phoenix/Chart.yaml
if [[ -f "$chart" ]]; then
  app=$(sed -n 's/^appVersion:[[:space:]]*"\{0,1\}\([^"]*\)"\{0,1\}.*/\1/p' "$chart")
  [[ "v$app" == "$CONTRIB" || "$app" == "$CONTRIB" ]] || fail "$chart: appVersion $app (want ${CONTRIB#v})"
fi

if ((problems > 0)); then
  echo "check-versions: $problems disagreement(s); the pinned set is core $CORE / stable $STABLE / contrib $CONTRIB" >&2
  exit 1
fi
echo "check-versions: ok (core $CORE, stable $STABLE, contrib $CONTRIB)"
