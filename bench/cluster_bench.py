"""Several servers as one: one `vaultlink serve` versus two (one PostgreSQL, one SeaweedFS, ``shared_ports``:
the kernel spreads connections over both), and restic into the same SeaweedFS, the same data, the same run.

    .venv/bin/python bench/cluster_bench.py [--size-mib 1024] [--rounds 2] [--dir /tmp/vlcluster]

Each round, in alternating order: vaultlink with one server, vaultlink with two, restic (its S3 backend).
vaultlink: a fresh PostgreSQL schema and bucket prefix per run, the private story of ``backup_bench.py`` (a vault
denying public access, a private endpoint with DNS integration) and the agent CLI as the VM: first backup,
then restore, timed. Then metadata reads per second: ``wrk`` (Debian) for 10 s on 16 kept-alive HTTPS
connections, ``GET /v1/vaults/bench`` with the owner's key, through the shared port. Targets (issue #18):
first backup and restore >= 1.2 x restic's throughput, two servers at least as fast as one.
Not a test; CI never runs it. Every wait is bounded; everything listens on 127.0.0.1; stopped by PID.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import socket
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _product import Service, fresh_workdir, need_disk, preflight, remove_tree  # noqa: E402
from data_bench import MiB, du, make_dataset  # noqa: E402
from s3_bench import backup_and_restore, run_restic, start_weed, stop_weed  # noqa: E402


def free_port() -> int:
    for _ in range(50):
        with socket.socket() as t, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            t.bind(("127.0.0.1", 0))
            port = int(t.getsockname()[1])
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("no free port")


def start_postgres(work: Path) -> str:
    env = dict(os.environ, VAULTLINK_PG_DIR=str(work / "pg"), VAULTLINK_PG_PORT=str(free_port()),
               VAULTLINK_PG_DB="vaultlink_bench")
    os.chmod(work, 0o755)
    p = subprocess.run(["bash", str(ROOT / "scripts" / "start-postgres.sh")], env=env, capture_output=True,
                       text=True, timeout=120)
    if p.returncode != 0:
        raise SystemExit(f"PostgreSQL did not start: {p.stderr}")
    return p.stdout.strip().splitlines()[-1]


def stop_postgres(work: Path) -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "stop-postgres.sh")], env=dict(os.environ,
                   VAULTLINK_PG_DIR=str(work / "pg")), capture_output=True, timeout=60)


def reads_per_second(svc: Service, seconds: int = 10) -> float:
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "--timeout", "5s", "-H",
                          f"authorization: Bearer {svc.key}", svc.url + "/v1/vaults/bench"],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not m or bad:
        raise SystemExit(f"wrk: {out}")
    return float(m.group(1))


def run_vaultlink(data: Path, work: Path, pg: str, s3: str, servers: int) -> dict[str, float]:
    from sqlalchemy import create_engine, text

    schema = "bench_" + secrets.token_hex(4)
    admin = create_engine(pg)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    cfg = work / "vl.toml"
    cfg.write_text(f'metadata_url = "{pg}?options=-csearch_path%3D{schema}"\n'
                   f'blob_url = "s3://vl-bench/{schema.replace("_", "-")}?endpoint={s3}&region=us-east-1"\n'
                   'blob_s3_access_key_id = "bench"\nblob_s3_secret_access_key = "bench-secret"\n'
                   f'sealing_key = "{base64.b64encode(os.urandom(32)).decode()}"\nshared_ports = true\n'
                   'prune_worker = false\n')
    ports = ("--api-port", str(free_port()), "--dns-port", str(free_port()))
    started: list[Service] = []
    try:
        for i in range(servers):
            started.append(Service(work / f"vl-server-{i}", "--config", str(cfg), *ports))
        out = backup_and_restore(started[0], data, work)
        out["reads"] = reads_per_second(started[0])
        return out
    finally:
        for s in reversed(started):
            s.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--dir", default="/tmp/vlcluster")
    args = ap.parse_args()
    preflight({"restic": ["restic", "version"], "wrk": ["wrk", "-v"]})
    work = fresh_workdir(args.dir)
    data = work / "data"
    rounds = max(1, min(args.rounds, 6))
    # the data, then each round's restored trees and stored backups on every side, kept until the end
    need_disk(work, args.size_mib * MiB * (1 + 2 * 3 * rounds), "cluster_bench")
    make_dataset(data, args.size_mib * MiB)
    total = du(data)
    (work / "weed").mkdir()
    weed, s3 = start_weed(work / "weed")
    pg = start_postgres(work)
    print(f"# dataset {total / MiB:.0f} MiB; SeaweedFS S3 at {s3}; PostgreSQL {pg}")
    done: list[Path] = []
    try:
        for r in range(rounds):
            order = ["one", "two", "restic"]
            order = order[r % 3:] + order[:r % 3]
            got: dict[str, dict[str, float]] = {}
            for who in order:
                wd = fresh_workdir(work / f"{who}-{r}")
                if who == "restic":
                    got[who] = run_restic(data, wd, s3, f"restic/{r}")  # one bucket each: SeaweedFS gives
                    # every bucket volumes of its own, and a few runs' worth exhaust them
                else:
                    got[who] = run_vaultlink(data, wd, pg, s3, 1 if who == "one" else 2)
                done.append(wd)  # removed when the run ends: see _product.py on restored trees
            one, two, rs = got["one"], got["two"], got["restic"]
            print(f"round {r + 1} ({' '.join(order)}): first backup one {one['backup']:.2f}s "
                  f"({total / MiB / one['backup']:.0f} MiB/s), two {two['backup']:.2f}s, restic {rs['backup']:.2f}s"
                  f" -> one {rs['backup'] / one['backup']:.2f}x, two {rs['backup'] / two['backup']:.2f}x restic; "
                  f"restore one {one['restore']:.2f}s, two {two['restore']:.2f}s, restic {rs['restore']:.2f}s -> "
                  f"one {rs['restore'] / one['restore']:.2f}x, two {rs['restore'] / two['restore']:.2f}x; "
                  f"metadata reads/s one {one['reads']:.0f}, two {two['reads']:.0f} "
                  f"({two['reads'] / one['reads']:.2f}x)", flush=True)
    finally:
        for wd in done:
            remove_tree(wd)
        stop_postgres(work)
        stop_weed(weed)
    print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
