"""Prune: the service's own prune (no keys, from the packs each recovery point registered) versus restic's
``forget --prune``, same data, same run.

    .venv/bin/python bench/prune_bench.py [--size-mib 1024] [--points 30] [--dir /tmp/vlprune] [--keep]

1. Generates the mixed dataset of bench/data_bench.py twice (one copy per tool).
2. vaultlink: a real ``vaultlink serve`` (soft delete off, prune grace 0) with the private story of
   bench/backup_bench.py; the agent CLI backs up ``--points`` times through the private endpoint, 5% of the
   files changed before each backup after the first. restic: the same sequence on its copy, each snapshot
   one day apart (``--time``).
3. Expire half: vaultlink deletes the oldest half of the points; restic ``forget --keep-daily N/2``.
4. Prune, timed: the server is restarted first; ``vaultlink vault prune`` runs the prune in the service's
   prune worker (a process of its own, ``runtime/prune_worker.py``), whose peak memory (its own VmHWM,
   reported in the answer) is compared with restic's; the server's own resident memory before and after is
   reported beside it. ``vaultlink vault prune`` (which also expires, purges and reports usage) versus
   ``restic forget --keep-daily N/2 --prune --max-unused unlimited`` (both delete only wholly unused
   packs). restic's default (``--max-unused 5%``, which repacks) runs on a copy of its repository, for
   information. Reports wall time, peak memory and bytes reclaimed, then ``agent check --read-data`` on
   what vaultlink kept.

Not a test; CI never runs it. Every wait is bounded; traffic goes to 127.0.0.0/8 only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _product import Service, fresh_workdir, preflight, remove_tree, run_measured  # noqa: E402
from backup_bench import VM, private_agent, timed  # noqa: E402
from data_bench import PASS, MiB, du, make_dataset, modify  # noqa: E402


def vm_hwm_kib(pid: int, what: str = "VmHWM:") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(what):
            return int(line.split()[1])
    return 0


def run_vaultlink(data: Path, files: list[Path], work: Path, points: int) -> dict[str, float]:
    cfg = work / "serve.toml"
    cfg.write_text("maintenance_interval = 0.0\nprune_grace_seconds = 0.0\nschedule_interval = 0.0\n")
    data_dir = work / "vl-server"
    svc = Service(data_dir, "--config", str(cfg))
    out: dict[str, float] = {}
    try:
        run, rss, creds = private_agent(svc, work)
        svc.cli("vault", "update", "bench", "--soft-delete", "Disabled")
        run("register", "--credentials", str(creds), "--source-ip", VM, "--dns",
            f"127.0.0.1:{svc.info['dns_port']}", "--hostname", "bench-vm")
        t = time.perf_counter()
        for i in range(points):
            if i:
                modify(files, seed=i)
            run("backup", "--no-progress", str(data))
        out["backups"] = time.perf_counter() - t
        ports = ("--api-port", str(svc.info["api_port"]), "--dns-port", str(svc.info["dns_port"]))
        rps = svc.cli("recovery-point", "list", "bench")
        for rp in rps[: points // 2]:
            svc.cli("recovery-point", "delete", rp["id"])
    finally:
        svc.stop()
    # restarted on the same ports (the agent knows them): its peak memory is its start plus the prune
    svc = Service(data_dir, "--config", str(cfg), *ports)
    try:
        out["size_before"] = du(data_dir / "blobs")
        res: dict[str, Any] = {}
        out["server_rss_before_mib"] = vm_hwm_kib(svc.proc.pid, "VmRSS:") / 1024
        out["prune"] = timed(lambda: res.update(p=svc.cli("vault", "prune", "bench")))
        out["server_rss_after_mib"] = vm_hwm_kib(svc.proc.pid, "VmRSS:") / 1024
        out["server_peak_rss_mib"] = vm_hwm_kib(svc.proc.pid) / 1024
        out["peak_rss_mib"] = res["p"]["worker_peak_rss_kib"] / 1024
        out["size_after"] = du(data_dir / "blobs")
        out["reclaimed"] = out["size_before"] - out["size_after"]
        out["swept_packs"] = res["p"]["swept"]
        out["points_left"] = len(svc.cli("recovery-point", "list", "bench"))
        check = run("check", "--read-data")
        out["check_ok"] = float(bool(check["ok"]))
    finally:
        svc.stop()
    out["agent_peak_rss_mib"] = max(rss) / 1024
    return out


def run_restic(data: Path, files: list[Path], work: Path, points: int) -> dict[str, float]:
    repo = work / "restic-repo"
    env = dict(os.environ, RESTIC_PASSWORD=PASS, RESTIC_REPOSITORY=str(repo),
               RESTIC_CACHE_DIR=str(work / "restic-cache"))

    def r(*args: str, repository: Path = repo) -> tuple[str, float, int]:
        return run_measured(["restic", "--quiet", "--repo", str(repository), *args], env)

    r("init", "--repository-version", "2")
    out: dict[str, float] = {}
    t = time.perf_counter()
    for i in range(points):
        if i:
            modify(files, seed=i)
        r("backup", str(data), "--time", f"2026-01-{i + 1:02d} 00:00:00")
    out["backups"] = time.perf_counter() - t
    default_repo = work / "restic-repo-default"
    shutil.copytree(repo, default_repo)
    keep = str(points - points // 2)
    out["size_before"] = du(repo)
    os.sync()
    _o, out["prune"], kib = r("forget", "--keep-daily", keep, "--prune", "--max-unused", "unlimited")
    out["peak_rss_mib"] = kib / 1024
    out["size_after"] = du(repo)
    out["reclaimed"] = out["size_before"] - out["size_after"]
    out["points_left"] = len(json.loads(r("snapshots", "--json")[0]))
    os.sync()
    _o, out["default_prune"], kib = r("forget", "--keep-daily", keep, "--prune", repository=default_repo)
    out["default_peak_rss_mib"] = kib / 1024
    out["default_reclaimed"] = out["size_before"] - du(default_repo)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--points", type=int, default=30)
    ap.add_argument("--dir", default="/tmp/vlprune")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    work = fresh_workdir(a.dir)
    preflight({"restic": ["restic", "version"]})
    print(f"load average before: {os.getloadavg()}")
    roots = {}
    for name in ("vl", "rs"):
        roots[name] = work / name / "data"
        roots[name].parent.mkdir()
        files = make_dataset(roots[name], a.size_mib * MiB)
    rel = [f.relative_to(roots["rs"]) for f in files]
    total = du(roots["vl"])
    print(f"dataset: {len(rel)} files, {total / MiB:.0f} MiB each copy; {a.points} points, 5% changed before each")
    vl = run_vaultlink(roots["vl"], [roots["vl"] / p for p in rel], work, a.points)
    print("vaultlink:", {k: round(v, 3) for k, v in vl.items()})
    rs = run_restic(roots["rs"], [roots["rs"] / p for p in rel], work, a.points)
    print("restic:", {k: round(v, 3) for k, v in rs.items()})
    print(f"load average after: {os.getloadavg()}")
    print()
    print("| prune after expiring half | vaultlink | restic --max-unused unlimited | ratio | target |")
    print("|---|---|---|---|---|")
    print(f"| wall time | {vl['prune']:.2f} s | {rs['prune']:.2f} s | {vl['prune'] / rs['prune']:.2f} x | <= 1.0 x |")
    print(f"| peak memory | {vl['peak_rss_mib']:.0f} MiB (prune worker) | {rs['peak_rss_mib']:.0f} MiB | "
          f"{vl['peak_rss_mib'] / rs['peak_rss_mib']:.2f} x | <= 1.0 x |")
    print(f"| server resident memory before / after the prune | {vl['server_rss_before_mib']:.0f} / "
          f"{vl['server_rss_after_mib']:.0f} MiB (peak {vl['server_peak_rss_mib']:.0f}) | | | |")
    print(f"| bytes reclaimed | {vl['reclaimed'] / MiB:.1f} MiB | {rs['reclaimed'] / MiB:.1f} MiB | | |")
    print(f"| points kept | {vl['points_left']:.0f} | {rs['points_left']:.0f} | | |")
    print(f"\nrestic's default prune (repacks; information): {rs['default_prune']:.2f} s, "
          f"{rs['default_peak_rss_mib']:.0f} MiB, reclaimed {rs['default_reclaimed'] / MiB:.1f} MiB")
    print(f"vaultlink agent check --read-data after prune: {'clean' if vl['check_ok'] else 'PROBLEMS'}")
    if not a.keep:
        remove_tree(work)
    if not vl["check_ok"]:
        raise SystemExit("the check after prune found problems")


if __name__ == "__main__":
    main()
