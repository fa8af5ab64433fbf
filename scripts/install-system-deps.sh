#!/usr/bin/env bash
# Debian packages the tests and benchmarks drive as real peers:
# dig (bind9-dnsutils), dnsmasq, dnsperf, restic, PostgreSQL.
set -euo pipefail
need=()
command -v dig >/dev/null || need+=(bind9-dnsutils)
command -v dnsmasq >/dev/null || need+=(dnsmasq)
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v restic >/dev/null || need+=(restic)
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "installing Debian packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# dnsmasq's Debian service is not wanted: the tests run their own instances.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now dnsmasq >/dev/null 2>&1 || true; fi
pkill -x dnsmasq 2>/dev/null || true
