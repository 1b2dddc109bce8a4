#!/usr/bin/env bash
# Checks that every OpenTelemetry Collector module is pinned to the one coherent set this project builds with:
# core v0.159.0, stable v1.65.0, contrib v0.159.0 — across go.mod, tools/go.mod, builder-config.yaml and the
# chart's appVersion. And that one version names the distribution everywhere: builder-config's dist.version (the
# contrib release it is built from), carried by the binary (--version, and `components`
# for our own components), the image tag and the packages (Makefile, from scripts/version.sh), the chart's
# appVersion and the README's image tags and package names.
# Prints every disagreement, naming the file, and exits 1 if there is any.
# Usage: scripts/check-versions.sh [repo-root]
set -euo pipefail

CORE=v0.159.0
STABLE=v1.65.0
CONTRIB=v0.159.0

here=$(cd "$(dirname "$0")" && pwd)
root=${1:-$(dirname "$here")}
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

# The distribution's version: the contrib release it is built from.
version=$("$here/version.sh" "$root" 2>/dev/null) || version=""
if [[ -z "$version" ]]; then
  fail "builder-config.yaml: no dist.version"
  version="(none)"
elif [[ "v$version" != "$CONTRIB" ]]; then
  fail "builder-config.yaml: dist.version $version (want ${CONTRIB#v}, the contrib release it is built from)"
fi

# Our own components' module version in builder-config.yaml is what `components` reports for them.
while read -r mod ver; do
  [[ "$ver" == "v$version" ]] || fail "builder-config.yaml: $mod $ver (want v$version, the dist.version: \`components\` reports it)"
done < <(sed -n 's/^[[:space:]-]*gomod:[[:space:]]*\(github\.com\/phoenix-platform\/otelcol-phoenix\)[[:space:]]\+\([^[:space:]#]*\).*/\1 \2/p' builder-config.yaml | sort -u)

# The chart's appVersion is the image tag the chart deploys by default.
chart=charts/otelcol-phoenix/Chart.yaml
if [[ -f "$chart" ]]; then
  app=$(sed -n 's/^appVersion:[[:space:]]*"\{0,1\}\([^"]*\)"\{0,1\}.*/\1/p' "$chart")
  [[ "$app" == "$version" ]] || fail "$chart: appVersion $app (want $version, builder-config.yaml's dist.version)"
fi

# The READMEs: every image reference (otelcol-phoenix:<tag>) and package file name (otelcol-phoenix_<version>_…).
for readme in README.md charts/otelcol-phoenix/README.md; do
  [[ -f "$readme" ]] || continue
  while read -r ref; do
    [[ "$ref" == "otelcol-phoenix:$version" ]] || fail "$readme: image $ref (want otelcol-phoenix:$version)"
  done < <(grep -o 'otelcol-phoenix:[0-9A-Za-z$][0-9A-Za-z._${}-]*' "$readme" | sort -u || true)
  while read -r ref; do
    [[ "$ref" == "otelcol-phoenix_${version}_linux" ]] || fail "$readme: package ${ref}_… (want otelcol-phoenix_${version}_linux_…)"
  done < <(grep -oE 'otelcol-phoenix_[0-9][^_[:space:]]*_linux' "$readme" | sort -u || true)
done
if [[ -f README.md ]] && ! grep -q "otelcol-phoenix:$version" README.md; then
  fail "README.md: no image reference otelcol-phoenix:$version"
fi

# The built binary, when it is newer than the manifest (else `make build` is due anyway).
bin=distribution/_build/otelcol-phoenix
if [[ -x "$bin" && "$bin" -nt builder-config.yaml ]]; then
  got=$("$bin" --version 2>/dev/null | awk '{print $NF}')
  [[ "$got" == "$version" ]] || fail "$bin: --version $got (want $version; make build)"
fi

if ((problems > 0)); then
  echo "check-versions: $problems disagreement(s); the pinned set is core $CORE / stable $STABLE / contrib $CONTRIB" >&2
  exit 1
fi
echo "check-versions: ok (core $CORE, stable $STABLE, contrib $CONTRIB; otelcol-phoenix $version)"
