#!/usr/bin/env bash
# Builds the distribution with ocb (builder-config.yaml) and shows how far it got: ocb's own steps as it logs
# them, and while Go compiles a line every HEARTBEAT seconds with the time spent and the packages done so far
# (package archives written or reused in Go's build cache). ocb's full log goes to BUILD_DIR/build.log, printed
# when ocb fails.
# Usage: TOOL='go tool -modfile=tools/go.mod' scripts/build.sh BUILD_DIR   (run from the repository root)
set -euo pipefail

build_dir=${1:?usage: scripts/build.sh BUILD_DIR}
tool=${TOOL:-go tool -modfile=$PWD/tools/go.mod}
heartbeat=${HEARTBEAT:-30}
log=$build_dir/build.log
cache=$(go env GOCACHE)
mkdir -p "$build_dir"

start=$SECONDS
elapsed() { local s=$((SECONDS - start)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }
# Packages done since ocb's "Compiling": Go stores each package it compiles in its build cache as an output
# ("…-d") that is a package archive (starts with "!<arch>"), and refreshes the time of an archive it reuses once
# that is over an hour old; so a cold build counts every package, a warm one those compiled or reused from before.
built() {
  find "$cache" -type f -name '*-d' -newer "$marker" -print0 2>/dev/null | xargs -0 -r head -qc 8 2>/dev/null |
    grep -ao '!<arch>' | wc -l
}
# The packages the binary is built from (the standard library's included: CGO_ENABLED=0 -trimpath builds it too).
total=
count_packages() { (cd "$build_dir" && CGO_ENABLED=0 go list -deps . 2>/dev/null | wc -l) || true; }

echo "build: ocb builds $build_dir/otelcol-phoenix from builder-config.yaml; its log: $log"
echo "build: a first build downloads and compiles the whole collector (~2,300 packages): 10 to 12 minutes and"
echo "       3.4 GB of memory on 2 cores; later builds reuse Go's caches and take about a minute"

marker=$(mktemp)
set -m # ocb and the go commands it runs get their own process group, ended with this script
# shellcheck disable=SC2086 # TOOL is a command line
$tool builder --config builder-config.yaml >"$log" 2>&1 &
pid=$!
set +m
trap 'kill -- -"$pid" 2>/dev/null || true; rm -f "$marker"' EXIT
trap 'exit 130' INT TERM

# ocb logs its steps as zap console lines: time, level, caller, message, fields (tab separated).
seen=0 step="starting ocb (on a first run go tool compiles it)" last=$SECONDS count=0
show_steps() {
  local lines
  lines=$(wc -l <"$log")
  ((lines > seen)) || return 0
  while IFS=$'\t' read -r _ level _ msg _; do
    [[ "$level" == INFO ]] || continue
    case "$msg" in
      "OpenTelemetry Collector Builder" | "Using config file" | "Using go") continue ;;
      "Sources created") step="resolving modules (go mod tidy)" ;;
      "Getting go modules") step="downloading modules (go mod download)" ;;
      Compiling) step="compiling" count=1 && touch "$marker" ;;
      Compiled) step="done" ;;
    esac
    printf 'build: [%s] ocb: %s\n' "$(elapsed)" "$msg"
    last=$SECONDS
  done < <(sed -n "$((seen + 1)),${lines}p" "$log")
  seen=$lines
  if ((count)); then total=$(count_packages) count=0; fi
}

while kill -0 "$pid" 2>/dev/null; do
  sleep 2
  show_steps
  if ((SECONDS - last >= heartbeat)); then
    if [[ "$step" == compiling ]]; then
      printf 'build: [%s] compiling: %d of %s packages done\n' "$(elapsed)" "$(built)" "${total:-?}"
    else
      printf 'build: [%s] still %s\n' "$(elapsed)" "$step"
    fi
    last=$SECONDS
  fi
done

status=0
wait "$pid" || status=$?
show_steps
if ((status != 0)); then
  grep -v '^go: downloading' "$log" || true
  echo "build: ocb failed after $(elapsed) (log above without its download lines; all of it in $log)"
  exit "$status"
fi
bin=$build_dir/otelcol-phoenix
echo "build: $bin built in $(elapsed) ($(du -h "$bin" | cut -f1))"

# Our packages are tested, vetted and fuzzed in the root module, so it must select the versions the binary
# links: then the tests exercise what ships, and the binary reuses the compile of everything the two share.
# ocb's module requires ours, so its versions are never lower; a higher one comes from a component only the
# distribution has, and go.mod must take it.
drift=$(join <(CGO_ENABLED=0 go list -deps -f '{{with .Module}}{{if .Version}}{{.Path}} {{.Version}}{{end}}{{end}}' ./... | sort -u) \
             <(go version -m "$bin" | awk '$1 == "dep" {print $2, $3}' | sort -u) | awk '$2 != $3')
if [[ -n "$drift" ]]; then
  echo "build: go.mod selects other versions than the binary links (module, go.mod, binary):"
  echo "$drift" | sed 's/^/build:   /'
  echo "build: align them:  go get $(echo "$drift" | awk '{printf "%s@%s ", $1, $3}')&& go mod tidy"
  rm -f "$bin" # or make would take it as up to date and never check again
  exit 1
fi
