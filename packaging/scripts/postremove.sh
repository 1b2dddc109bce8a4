#!/bin/sh
# After the files are removed (deb postrm remove|purge|upgrade|…, rpm %postun 0=erase 1=upgrade).
# `dpkg --purge` leaves nothing behind: dpkg removes the config files, this the state and the system user (once the
# state directory is gone it owns no file). `dpkg --remove` and `rpm -e` keep the state and the user, as rpm's
# conventions and Debian's `remove` do.
set -e
case "$1" in
  purge)
    rm -rf /var/lib/otelcol-phoenix
    if getent passwd otelcol-phoenix >/dev/null 2>&1; then
      userdel otelcol-phoenix
    fi
    if getent group otelcol-phoenix >/dev/null 2>&1; then
      groupdel otelcol-phoenix
    fi
    ;;
esac
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
