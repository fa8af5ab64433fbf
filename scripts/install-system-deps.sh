#!/usr/bin/env bash
# Debian packages the tests and benchmarks drive as real peers:
# dig (bind9-dnsutils), dnsmasq, unbound, tinyproxy (the agent's proxy tests), dnsperf, restic,
# PostgreSQL, Ceph (a monitor, an OSD and the RADOS Gateway: the S3 contract's second server,
# scripts/start-ceph.sh), qemu-utils (qemu-img, qemu-nbd, qemu-io: the backup gateway reads VM images
# with them), chromium and chromium-driver (the web console's browser tests, driven by Selenium); and for the
# host/netns-mode tier:
# ip (iproute2), curl, unshare/nsenter/setpriv (util-linux).
#
# Installing never starts, stops or disables a service of the machine: a policy-rc.d that refuses
# every start is in place for the install only (a dnsmasq or PostgreSQL the owner runs is left as
# it is). The tests start their own instances on 127.0.0.1 and stop them by PID.
set -euo pipefail
need=()
command -v dig >/dev/null || need+=(bind9-dnsutils)
command -v dnsmasq >/dev/null || need+=(dnsmasq)
command -v tinyproxy >/dev/null || need+=(tinyproxy)
command -v unbound >/dev/null || [ -x /usr/sbin/unbound ] || need+=(unbound)
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v restic >/dev/null || need+=(restic)
command -v ip >/dev/null || need+=(iproute2)
command -v ceph-mon >/dev/null || need+=(ceph-mon)
command -v ceph-osd >/dev/null || need+=(ceph-osd)
command -v radosgw >/dev/null || need+=(radosgw)
command -v curl >/dev/null || need+=(curl)
command -v qemu-nbd >/dev/null || need+=(qemu-utils)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v nsenter >/dev/null || need+=(util-linux)
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing Debian packages: ${need[*]}"
policy=/usr/sbin/policy-rc.d
saved=""
if [ -e "$policy" ]; then saved="$(mktemp)"; cp -p "$policy" "$saved"; fi
restore_policy() {
  if [ -n "$saved" ]; then mv -f "$saved" "$policy"; else rm -f "$policy"; fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# vaultlink install: start no service\nexit 101\n' > "$policy"
chmod 0755 "$policy"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
