#!/usr/bin/env bash
set -euo pipefail
bindir="$(dirname "$(readlink -f "$(command -v pg_ctl 2>/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl | tail -1)")")"
dir="${VAULTLINK_PG_DIR:-/tmp/vaultlink-test-pg}"
run=()
[ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
"${run[@]}" "$bindir/pg_ctl" -D "$dir" stop -m fast
