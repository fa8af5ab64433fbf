#!/usr/bin/env bash
# Start a throwaway single-node Ceph cluster with a RADOS Gateway (S3) on 127.0.0.1 and print, one per
# line: the S3 endpoint URL, an access key id and its secret.
#
# One monitor, one OSD on memstore (RAM: nothing touches a disk), one radosgw; every daemon bound to and
# advertised on 127.0.0.1, never the machine's own address; authentication between daemons off (the
# cluster is loopback-only and throwaway); S3 clients authenticate with the user this script creates.
# Debian packages: ceph-mon ceph-osd radosgw (scripts/install-system-deps.sh installs them).
# VAULTLINK_CEPH_DIR (default /tmp/vaultlink-ceph) holds it all; scripts/stop-ceph.sh stops it by PID.
set -euo pipefail
dir="${VAULTLINK_CEPH_DIR:-/tmp/vaultlink-ceph}"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mon_port="${VAULTLINK_CEPH_MON_PORT:-$(free_port)}"
rgw_port="${VAULTLINK_CEPH_RGW_PORT:-$(free_port)}"
# the daemons' own ports from a range of this cluster's (Ceph's default, 6800-7300, is shared by every
# cluster on the machine, and two clusters starting at once could reach each other's daemons)
ms_base="${VAULTLINK_CEPH_MS_BASE:-$(python3 -c 'import random; print(random.randrange(7000, 29000, 100))')}"
here="$(cd "$(dirname "$0")" && pwd)"
if [ -d "$dir" ]; then bash "$here/stop-ceph.sh" >/dev/null 2>&1 || true; rm -rf "$dir"; fi
mkdir -p "$dir"/{mon,osd/ceph-0,run,log}
fsid="$(python3 -c 'import uuid; print(uuid.uuid4())')"
conf="$dir/ceph.conf"
cat > "$conf" <<CONF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$mon_port
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind ipv6 = false
ms bind port min = $ms_base
ms bind port max = $((ms_base + 99))
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
# the monitor's store is a few MiB on a throwaway cluster: it must start on a disk that is 96 % full too
# (by default a monitor refuses to start below 5 % free: "monitor data filesystem reached concerning levels")
mon data avail crit = 0
mon data avail warn = 0
osd objectstore = memstore
memstore device bytes = 4294967296
osd crush chooseleaf type = 0
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
pid file = $dir/run/\$name.pid
keyring = $dir/keyring
[mon]
mon data = $dir/mon/\$cluster-\$id
[osd]
osd data = $dir/osd/\$cluster-\$id
osd journal size = 100
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $dir/rgw
rgw dns name = 127.0.0.1
CONF
# the monitor: its map names only 127.0.0.1
ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
monmaptool --create --addv a "[v1:127.0.0.1:$mon_port]" --fsid "$fsid" "$dir/monmap" >/dev/null
ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring"
fail() { echo "$1 (logs: $dir/log)" >&2; tail -n 20 "$dir"/log/daemons.out "$2" >&2 2>/dev/null || true; exit 1; }
ceph-mon -c "$conf" -i a >>"$dir/log/daemons.out" 2>&1 || fail "ceph-mon did not start" "$dir/log/mon.a.log"
c=(ceph -c "$conf" --connect-timeout 30)
for _ in $(seq 60); do "${c[@]}" mon stat >/dev/null 2>&1 && break; sleep 0.5; done
"${c[@]}" mon stat >/dev/null 2>&1 || fail "the monitor did not answer on 127.0.0.1:$mon_port" "$dir/log/mon.a.log"
# one OSD in RAM
uuid="$(python3 -c 'import uuid; print(uuid.uuid4())')"
id="$("${c[@]}" osd new "$uuid")"
ceph-osd -c "$conf" -i "$id" --mkfs --osd-uuid "$uuid" >>"$dir/log/daemons.out" 2>&1 \
  || fail "ceph-osd --mkfs failed" "$dir/log/osd.$id.log"
# on a loaded machine the OSD's first command to the monitor may go out before it has the monitor's map
# (the monitor refuses it: "wrong fsid") and the OSD exits: start it again, a bounded number of times
for attempt in 1 2 3 4; do
  ceph-osd -c "$conf" -i "$id" >>"$dir/log/daemons.out" 2>&1 && break
  [ "$attempt" = 4 ] && fail "ceph-osd did not start" "$dir/log/osd.$id.log"
  echo "ceph-osd did not start (attempt $attempt); again" >>"$dir/log/daemons.out"
  sleep 1
done
for _ in $(seq 120); do "${c[@]}" osd stat 2>/dev/null | grep -q "1 up" && break; sleep 0.5; done
# the gateway, and an S3 user
mkdir -p "$dir/rgw"
radosgw -c "$conf" -n client.rgw.a >>"$dir/log/daemons.out" 2>&1 || fail "radosgw did not start" "$dir/log/client.rgw.a.log"
key="vaultlink$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
secret="$(python3 -c 'import secrets; print(secrets.token_hex(20))')"
for _ in $(seq 120); do
  if radosgw-admin -c "$conf" user create --uid=vaultlink --display-name=vaultlink --access-key="$key" \
       --secret-key="$secret" >/dev/null 2>&1; then break; fi
  sleep 0.5
done
for _ in $(seq 120); do
  curl -s -o /dev/null "http://127.0.0.1:$rgw_port/" && break; sleep 0.5
done
curl -s -o /dev/null "http://127.0.0.1:$rgw_port/" || fail "radosgw did not answer on 127.0.0.1:$rgw_port" "$dir/log/client.rgw.a.log"
echo "http://127.0.0.1:$rgw_port"
echo "$key"
echo "$secret"
