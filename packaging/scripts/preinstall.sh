#!/bin/sh
# Before the files are unpacked (deb preinst install|upgrade, rpm %pre 1|2): the system user and group the
# service runs as, so the package's files can be owned by them. Idempotent.
set -e
if ! getent group otelcol-phoenix >/dev/null 2>&1; then
  groupadd --system otelcol-phoenix
fi
if ! getent passwd otelcol-phoenix >/dev/null 2>&1; then
  nologin=/usr/sbin/nologin
  [ -x "$nologin" ] || nologin=/sbin/nologin
  useradd --system --gid otelcol-phoenix --home-dir /var/lib/otelcol-phoenix --no-create-home \
    --shell "$nologin" --comment "otelcol-phoenix OpenTelemetry Collector" otelcol-phoenix
fi
