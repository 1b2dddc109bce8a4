#!/bin/sh
# Before the files are removed (deb prerm remove|upgrade|…, rpm %preun 0=erase 1=upgrade). An upgrade keeps the
# service running until postinstall restarts it.
set -e
case "$1" in
  remove|0)
    if command -v systemctl >/dev/null 2>&1; then
      if [ -d /run/systemd/system ]; then
        systemctl stop otelcol-phoenix.service || true
      fi
      systemctl disable otelcol-phoenix.service >/dev/null 2>&1 || true
    fi
    ;;
esac
