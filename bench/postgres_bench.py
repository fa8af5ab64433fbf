"""PostgreSQL base backups through a private endpoint versus ``pg_basebackup --compress=client-zstd:3`` to local
disk, in the same run, on the same ~1 GiB database (pgbench's tables); then WAL archive throughput and the
time of a point-in-time restore (issue #19).

    .venv/bin/python bench/postgres_bench.py [--scale 65] [--rounds 2] [--dir /tmp/vlpg]

A real PostgreSQL (Debian's, on 127.0.0.1, in a user namespace of its own as ``tests/pgserver.py`` runs it) with
``archive_mode = on`` and the agent as its ``archive_command``; a real ``vaultlink serve`` with the private
story of ``backup_bench.py``. Rounds alternate which goes first. Where the machine has libpq the agent reads
``BASE_BACKUP`` itself, else through pg_basebackup: each round says which. vaultlink encrypts (always); the peer writes
a compressed tar, unencrypted. Target: vaultlink's base backup >= 1.0 x pg_basebackup's throughput.
Not a test; CI never runs it. Every wait is bounded; everything listens on 127.0.0.1; stopped by PID.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _product import VAULTLINK, Service, fresh_workdir, preflight  # noqa: E402
from backup_bench import VM, private_agent, timed  # noqa: E402
from cluster_bench import free_port  # noqa: E402
from data_bench import MiB, du  # noqa: E402
from tests.pgserver import PgServer  # noqa: E402


def busy() -> float:
    """CPU-seconds the whole machine has spent (every core) since boot: /proc/stat's non-idle ticks."""
    with open("/proc/stat", encoding="ascii") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def children() -> float:
    t = os.times()
    return t.children_user + t.children_system


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=int, default=65, help="pgbench scale (65: about 1 GiB)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--dir", default="/tmp/vlpg")
    args = ap.parse_args()
    preflight()
    work = fresh_workdir(args.dir)
    svc = Service(work / "vl-server")
    pg: PgServer | None = None
    try:
        run, _rss, creds = private_agent(svc, work)
        state, pw = work / "vl-agent", work / "passphrase"

        readers: set[str] = set()

        def agent(*cmd: str, secret: bool = True) -> None:
            opts = ["--state-dir", str(state)] + (["--passphrase-file", str(pw)] if secret else [])
            out = subprocess.run([VAULTLINK, "agent", *cmd, *opts, "-o", "json"], env=svc.env(), check=True,
                                 capture_output=True, timeout=3600).stdout
            if cmd[:2] == ("db", "backup"):
                readers.add(json.loads(out)["reader"])

        run("register", "--credentials", str(creds), "--source-ip", VM, "--dns", f"127.0.0.1:{svc.dns_port}",
            "--hostname", "db-vm")
        archive = f"{VAULTLINK} agent db wal-push main %p --state-dir {state} --passphrase-file {pw} -o json"
        pg = PgServer(userns=True, conf=f"archive_mode = on\narchive_command = '{archive}'\nmax_wal_size = 4GB\n")
        pgbench = str(pg.bin / "pgbench")
        t = time.perf_counter()
        subprocess.run([pgbench, "-i", "-q", "-s", str(args.scale), "-h", "127.0.0.1", "-p", str(pg.port), "-U",
                        "vaultlink", "vaultlink"], check=True, capture_output=True, timeout=1800)
        size = int(pg.psql("SELECT pg_database_size('vaultlink')"))
        print(f"# database {size / MiB:.0f} MiB (pgbench -s {args.scale}, {time.perf_counter() - t:.0f} s)")
        status = pg.data / "pg_wal" / "archive_status"
        pg.psql("SELECT pg_switch_wal()")  # pgbench -i's WAL archived first, so no round pays for it
        deadline = time.monotonic() + 900
        while list(status.glob("*.ready")) and time.monotonic() < deadline:
            time.sleep(0.2)
        dsn = f"host=127.0.0.1 port={pg.port} user=vaultlink dbname=vaultlink"
        agent("protect", "postgres", "main", "--dsn", dsn, secret=False)
        basebackup = str(pg.bin / "pg_basebackup")

        def settle() -> None:
            """The same start for each timed run: no WAL written before it left to archive. Without it the
            first run of the benchmark pays for archiving the setup's WAL (autovacuum's, the statistics')
            when its start switches segments, and the other tool, after it, does not."""
            pg.psql("CHECKPOINT")
            pg.psql("SELECT pg_switch_wal()")
            deadline = time.monotonic() + 120
            while list(status.glob("*.ready")) and time.monotonic() < deadline:
                time.sleep(0.05)

        for r in range(max(1, min(args.rounds, 6))):
            order = ("vaultlink", "pg_basebackup") if r % 2 == 0 else ("pg_basebackup", "vaultlink")
            got: dict[str, float] = {}
            for who in order:
                settle()
                if who == "vaultlink":
                    m0, a0 = busy(), children()
                    got[who] = timed(lambda: agent("db", "backup", "main"))
                    cpu = (busy() - m0, children() - a0)
                else:
                    out = work / f"peer-{r}"
                    got[who] = timed(lambda out=out: subprocess.run(
                        [basebackup, "-d", dsn, "-D", str(out), "-F", "t", "-X", "none", "-c", "fast",
                         "--compress=client-zstd:3", "--no-manifest"], check=True, capture_output=True, timeout=1800))
                    peer_bytes = du(out)
                    shutil.rmtree(out, ignore_errors=True)
            vl, pb = got["vaultlink"], got["pg_basebackup"]
            print(f"round {r + 1} ({' then '.join(order)}): base backup vaultlink {vl:.2f}s "
                  f"({size / MiB / vl:.0f} MiB/s, encrypted, through the endpoint), pg_basebackup zstd:3 {pb:.2f}s "
                  f"({size / MiB / pb:.0f} MiB/s, {peer_bytes / MiB:.0f} MiB on disk) -> {pb / vl:.2f}x; "
                  f"vaultlink's run took {cpu[0]:.1f} CPU-s of the machine, {cpu[1]:.1f} of them the agent (and "
                  f"its pg_basebackup, if any); read by {', '.join(sorted(readers))}", flush=True)
        # WAL: a backlog made while archiving is off (archive_command 'false'), then drained through the agent
        # (one process per segment: archive_command's contract), timed
        pg.psql("ALTER SYSTEM SET archive_command = 'false'")
        pg.psql("SELECT pg_reload_conf()")
        subprocess.run([pgbench, "-n", "-c", "2", "-T", "20", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "vaultlink",
                        "vaultlink"], check=True, capture_output=True, timeout=120)
        pg.psql("SELECT pg_switch_wal()")
        backlog = len(list(status.glob("*.ready")))
        pg.psql(f"ALTER SYSTEM SET archive_command = '{archive}'")
        t = time.perf_counter()
        pg.psql("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 900
        while list(status.glob("*.ready")) and time.monotonic() < deadline:
            time.sleep(0.1)
        took = time.perf_counter() - t
        print(f"WAL archive: a backlog of {backlog} segments ({backlog * 16} MiB) drained in {took:.1f} s: "
              f"{backlog * 16 / took:.0f} MiB/s, {backlog / took:.1f} segments/s", flush=True)
        # point-in-time restore to now, started and promoted
        at = time.time()
        time.sleep(1.1)
        pg.psql("CREATE TABLE after_the_mark (x int)")  # a commit after it: the archive reaches past the mark
        pg.psql("SELECT pg_switch_wal()")
        deadline = time.monotonic() + 60
        while list(status.glob("*.ready")) and time.monotonic() < deadline:
            time.sleep(0.1)
        target = work / "restored"
        t = time.perf_counter()
        agent("db", "restore", "main", "--target", str(target), "--point-in-time", str(at))
        unpacked = time.perf_counter() - t
        port = free_port()
        pg.run_tool("pg_ctl", "-D", str(target), "-l", str(work / "restored.log"), "-w", "-t", "900", "-o",
                    f"-c listen_addresses=127.0.0.1 -p {port} -k {work}", "start")
        while pg.psql("SELECT pg_is_in_recovery()", port=port) != "f":
            time.sleep(0.2)
        print(f"point-in-time restore: {unpacked:.1f} s to unpack the base backup, {time.perf_counter() - t:.1f} s "
              "until the cluster had replayed the archive and was promoted")
        pg.run_tool("pg_ctl", "-D", str(target), "-w", "-m", "fast", "stop")
    finally:
        if pg is not None:
            pg.close()
        svc.stop()
    print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
