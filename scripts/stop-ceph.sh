#!/usr/bin/env bash
# Stop the cluster scripts/start-ceph.sh started, by the PIDs its daemons wrote (nothing else is touched).
set -uo pipefail
dir="${VAULTLINK_CEPH_DIR:-/tmp/vaultlink-ceph}"
pids=()
for f in "$dir"/run/*.pid; do [ -f "$f" ] && pids+=("$(cat "$f")"); done
[ ${#pids[@]} -eq 0 ] && exit 0
kill "${pids[@]}" 2>/dev/null
for _ in $(seq 50); do
  alive=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break; sleep 0.2
done
for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
rm -rf "$dir"
