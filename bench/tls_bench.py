"""What TLS costs a backup and a restore through a private endpoint (issue #17: at most 10%).

    .venv/bin/python bench/tls_bench.py [--size-mib 1024] [--rounds 3] [--dir /tmp/vltlsbench]

Two real ``vaultlink serve`` processes, one with TLS (the default) and one with ``tls = false``, both up
for the whole run, on the same dataset. Each round, for each server in turn (alternating which goes
first): a new vault that denies public access with its private endpoint, a new machine registered
through it, a first backup (everything uploaded), and a full restore, timed (after ``sync``). Prints each
round and the medians' ratios (TLS / plain throughput). Not a test; traffic stays on 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _product import VAULTLINK, Service, fresh_workdir, need_disk, preflight, remove_tree, run_measured  # noqa: E402
from data_bench import PASS, MiB, du, make_dataset  # noqa: E402


def timed(fn: Any) -> float:
    os.sync()
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def one_round(svc: Service, work: Path, data: Path, n: int, octet: int) -> dict[str, float]:
    """A new private vault and machine on ``svc``; its first backup and a restore, timed."""
    name = f"r{n}"
    space, subnet, vm = f"127.{octet}.0.0/16", f"127.{octet}.1.0/24", f"127.{octet}.1.100"
    svc.cli("vault", "create", name, "--region", "local-1")
    svc.cli("vault", "update", name, "--public-network-access", "Disabled")
    svc.cli("vnet", "create", f"net-{name}", "--region", "local-1", "--address-space", space,
            "--subnet", f"default={subnet}")
    svc.cli("endpoint", "create", "--name", f"pe-{name}", "--region", "local-1", "--vault", name, "--group-id",
            "AzureBackup", "--vnet", f"net-{name}", "--subnet", "default", "--dns-integration")
    creds = work / f"{name}.creds"
    subprocess.run([VAULTLINK, "vault", "credentials", name, "-o", str(creds)], env=svc.env(), check=True,
                   capture_output=True, timeout=60)
    pw = work / "passphrase"
    pw.write_text(PASS)
    state = work / f"agent-{name}"

    def run(*args: str) -> Any:
        out, _wall, _kib = run_measured([VAULTLINK, "agent", args[0], "--state-dir", str(state), "--passphrase-file",
                                         str(pw), *args[1:], "-o", "json"], svc.env())
        return json.loads(out) if out.strip() else None

    run("register", "--credentials", str(creds), "--source-ip", vm, "--dns", f"127.0.0.1:{svc.dns_port}",
        "--hostname", f"vm-{name}")
    res: dict[str, Any] = {}
    backup = timed(lambda: res.update(b=run("backup", "--no-progress", str(data))))
    out = work / f"out-{name}"  # kept until the run ends: see _product.py on restored trees
    restore = timed(lambda: run("restore", res["b"]["recovery_point"]["id"], "--no-progress", "--target", str(out)))
    return {"backup": backup, "restore": restore}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/vltlsbench")
    a = ap.parse_args()
    work = fresh_workdir(a.dir)
    preflight({})
    data = work / "data"
    rounds = max(1, min(a.rounds, 20))
    # the data, then each round's restored trees and stored backups on every side, kept until the end
    need_disk(work, a.size_mib * MiB * (1 + 2 * 2 * rounds), "tls_bench")
    make_dataset(data, a.size_mib * MiB)
    total = du(data)
    (work / "plain.toml").write_text("tls = false\n")
    servers = {"tls": Service(work / "tls-server"), "plain": Service(work / "plain-server", "--config",
                                                                      str(work / "plain.toml"))}
    assert servers["tls"].url.startswith("https://") and servers["plain"].url.startswith("http://")
    got: dict[str, dict[str, list[float]]] = {m: {"backup": [], "restore": []} for m in servers}
    for mode in servers:
        (work / mode).mkdir()
    try:
        for n in range(rounds):
            order = ("tls", "plain") if n % 2 == 0 else ("plain", "tls")
            for i, mode in enumerate(order):
                r = one_round(servers[mode], work / mode, data, n, 30 + 2 * n + i)
                for k, v in r.items():
                    got[mode][k].append(v)
                print(f"round {n + 1} {mode:5}: backup {total / MiB / r['backup']:6.0f} MiB/s ({r['backup']:.2f} s), "
                      f"restore {total / MiB / r['restore']:6.0f} MiB/s ({r['restore']:.2f} s)", flush=True)
    finally:
        for svc in servers.values():
            svc.stop()
    print("\n| step | TLS (median) | plain HTTP (median) | TLS / plain throughput (target >= 0.90) |")
    print("|---|---:|---:|---:|")
    for step in ("backup", "restore"):
        t, p = statistics.median(got["tls"][step]), statistics.median(got["plain"][step])
        print(f"| {step} | {total / MiB / t:,.0f} MiB/s ({t:.2f} s) | {total / MiB / p:,.0f} MiB/s ({p:.2f} s) | "
              f"{p / t:.2f} |")
    remove_tree(work)


if __name__ == "__main__":
    main()
