#!/usr/bin/env bash
# Assembles the whole file tree of the otelcol-phoenix image in OUT_DIR. distribution/Dockerfile copies exactly
# this tree onto scratch (`COPY rootfs/ /`), so tests/packaging, which checks the tree this script makes and runs
# it chrooted, checks what the image holds — without Docker.
#   /otelcol-phoenix                              the collector (static: ocb builds with CGO_ENABLED=0)
#   /etc/ssl/certs/ca-certificates.crt            the build host's CA bundle (Debian's ca-certificates), where
#                                                 Go's crypto/x509 looks first on Linux
#   /etc/otelcol-contrib/config.yaml              the default config (distribution/image-config.yaml), at
#                                                 otelcol-contrib's path
#   /etc/otelcol-phoenix/config.yaml              -> ../otelcol-contrib/config.yaml (the path CMD names)
#   /otelcol-contrib, /otelcol-k8s                -> otelcol-phoenix (upstream chart values name their binary:
#                                                 command.name: otelcol-k8s works unchanged)
# Usage: scripts/image-rootfs.sh OUT_DIR   env: BINARY (default distribution/_build/otelcol-phoenix),
#                                               CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[[ $# -eq 1 && -n $1 ]] || { echo "usage: scripts/image-rootfs.sh OUT_DIR" >&2; exit 2; }
out=$1
binary=${BINARY:-$root/distribution/_build/otelcol-phoenix}
ca=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

[[ -x $binary ]] || { echo "image-rootfs: $binary is not an executable: run make build" >&2; exit 1; }
[[ -s $ca ]] || { echo "image-rootfs: no CA bundle at $ca: apt-get install ca-certificates (or set CA_BUNDLE)" >&2; exit 1; }
# Only ever replace a tree this script made (or an empty directory).
if [[ -e $out ]]; then
  [[ -f $out/otelcol-phoenix || -z $(ls -A "$out") ]] || { echo "image-rootfs: $out is not an image tree; not replacing it" >&2; exit 1; }
  rm -rf "$out"
fi

umask 022
mkdir -p "$out/etc/ssl/certs" "$out/etc/otelcol-contrib" "$out/etc/otelcol-phoenix"
install -m 0755 "$binary" "$out/otelcol-phoenix"
install -m 0644 "$ca" "$out/etc/ssl/certs/ca-certificates.crt"
install -m 0644 "$root/distribution/image-config.yaml" "$out/etc/otelcol-contrib/config.yaml"
ln -s ../otelcol-contrib/config.yaml "$out/etc/otelcol-phoenix/config.yaml"
ln -s otelcol-phoenix "$out/otelcol-contrib"
ln -s otelcol-phoenix "$out/otelcol-k8s"
chmod 0755 "$out"
