#!/usr/bin/env bash
# Regenerates mdatagen's output and fails when it changed. Files whose content did not change get their
# modification times back, so that a clean check does not make the next `make build` rebuild the binary.
set -euo pipefail
go=${GO:-go}
build_dir=${BUILD_DIR:-distribution/_build}
backup=$(mktemp -d)
trap 'rm -rf "$backup"' EXIT
generated() {
  find . -path "./$build_dir" -prune -o -type f \( -path '*/internal/metadata/*' -o -name 'generated_*' \
    -o -name documentation.md \) -print | sort
}
generated > "$backup/.before"
while read -r f; do mkdir -p "$backup/$(dirname "$f")"; cp -p "$f" "$backup/$f"; done < "$backup/.before"
"$go" generate ./...
generated > "$backup/.after"
changed=0
while read -r f; do
  if [ -f "$backup/$f" ] && cmp -s "$f" "$backup/$f"; then
    touch -r "$backup/$f" "$f"
  else
    echo "changed: $f"; changed=1
  fi
done < "$backup/.after"
comm -23 "$backup/.before" "$backup/.after" | sed 's/^/removed: /'
if [ "$changed" = 1 ] || ! cmp -s "$backup/.before" "$backup/.after"; then
  echo "generated files were stale (now regenerated): review and commit them"
  exit 1
fi
