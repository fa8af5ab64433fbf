#!/usr/bin/env bash
# Start a throwaway PostgreSQL on 127.0.0.1 and print its SQLAlchemy URL.
set -euo pipefail
bindir="$(dirname "$(readlink -f "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb | tail -1)")")"
dir="${VAULTLINK_PG_DIR:-/tmp/vaultlink-test-pg}"
port="${VAULTLINK_PG_PORT:-55432}"
run=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  run=(runuser -u postgres --)
fi
if [ -f "$dir/postmaster.pid" ]; then "${run[@]}" "$bindir/pg_ctl" -D "$dir" stop -m fast >/dev/null 2>&1 || true; fi
rm -rf "$dir"; mkdir -p "$dir"; [ "$(id -u)" = 0 ] && chown postgres "$dir"
"${run[@]}" "$bindir/initdb" -D "$dir" -U vaultlink --auth=trust >/dev/null
start() { "${run[@]}" "$bindir/pg_ctl" -D "$dir" -l "$dir/log" -w -o "-c listen_addresses=127.0.0.1 -p $port -k $dir" start >/dev/null; }
if ! start; then  # once seen failing on a busy machine, with nothing in the way the next time: say why, try again
  tail -n 20 "$dir/log" >&2 || true
  sleep 2
  start || { tail -n 20 "$dir/log" >&2 || true; exit 1; }
fi
db="${VAULTLINK_PG_DB:-vaultlink_test}"
"${run[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U vaultlink "$db"
echo "postgresql+psycopg://vaultlink@127.0.0.1:$port/$db"
