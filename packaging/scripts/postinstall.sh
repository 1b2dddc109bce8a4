#!/bin/sh
# After the files are unpacked (deb postinst configure [old version], rpm %post 1=install 2=upgrade).
set -e
# The state directory belongs to the service user (the package says so too; this repairs an older install).
chown otelcol-phoenix:otelcol-phoenix /var/lib/otelcol-phoenix
chmod 0750 /var/lib/otelcol-phoenix

first_install=false
case "$1" in
  configure) [ -z "$2" ] && first_install=true ;;
  1) first_install=true ;;
esac

if command -v systemctl >/dev/null 2>&1; then
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
  fi
  if $first_install; then
    # Enabled like upstream's packages; `enable` works without a running systemd (image builds, containers).
    systemctl enable otelcol-phoenix.service >/dev/null 2>&1 || true
    if [ -d /run/systemd/system ]; then
      systemctl start otelcol-phoenix.service
    fi
  elif [ -d /run/systemd/system ]; then
    systemctl try-restart otelcol-phoenix.service
  fi
fi
