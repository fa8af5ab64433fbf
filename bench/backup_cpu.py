"""Where a first backup's CPU goes: the engine alone versus the same backup through a private endpoint.

    .venv/bin/python bench/backup_cpu.py [--size-mib 1024] [--rounds 2] [--dir /tmp/vlcpu] [--restore] [--restic]

A diagnostic beside ``backup_bench.py`` (whose target is a first backup through the endpoint at 0.85 x the
engine alone): on the same dataset, each round

1. the engine alone (``vaultlink.data.backup`` into a local blob store, in this process): wall time and this
   process's user and system CPU-seconds (``getrusage``);
2. the first backup of a new vault through its private endpoint (the private story of ``backup_bench.py``, the
   ``vaultlink agent`` CLI at a vnet address): wall time, the agent's CPU-seconds (``RUSAGE_CHILDREN``), and the
   server's, per thread (``/proc/PID/task/*/stat``: the event loop, the worker threads that verify and write
   packs) and per child process (the audit writer, the DNS worker).

3. with ``--restore``: the restore of that backup by the engine alone (from its local store, into a new
   directory) and through the endpoint (``vaultlink agent restore`` into a new directory), measured alike.

4. with ``--restic``: restic's backup of the same data into a new local repository and its restore (its packs
   dropped from the page cache first, as ``backup_bench.py`` does), wall time and CPU-seconds.

The two machines' worth of work then shows where the endpoint's extra time goes. Each round ends with the
**CPU floor** of the endpoint's steps: the agent's and the server's CPU-seconds together, divided by the cores,
is the shortest wall time those steps could take if nothing ever waited; beside it, the wall time a target needs
(the engine's backup ÷ 0.85; restic's restore ÷ 1.8). When the floor is above what a target needs, no overlap
can meet that target on this machine: only less CPU can. Not a test; every wait is bounded; traffic stays on
127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _product import VAULTLINK, Service, cpu_delta, fresh_workdir, need_disk, preflight, process_cpu  # noqa: E402
from backup_bench import PASS, VM, agent_runner, evict, private_agent  # noqa: E402
from data_bench import MiB, make_dataset  # noqa: E402


def in_process(step: Any) -> dict[str, float]:
    """Wall time and this process's user and system CPU-seconds of ``step()``, after a ``sync``."""
    os.sync()
    r0, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    step()
    wall, r1 = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF)
    return {"wall": wall, "user": r1.ru_utime - r0.ru_utime, "system": r1.ru_stime - r0.ru_stime}


def engine(data: Path, repo_dir: Path) -> dict[str, float]:
    from vaultlink.adapters.blob_local import LocalBlobStore
    from vaultlink.data import Repository, backup

    repo = Repository.init(LocalBlobStore(repo_dir), PASS)
    return in_process(lambda: backup([data], repo))


def engine_restore(repo_dir: Path, out: Path) -> dict[str, float]:
    """The engine alone's restore of the one snapshot in ``repo_dir`` (local blob store: the round's engine
    backup) into ``out``."""
    from vaultlink.adapters.blob_local import LocalBlobStore
    from vaultlink.data import Repository, restore

    repo = Repository.open(LocalBlobStore(repo_dir), PASS)
    (name,) = repo.list_manifests()
    return in_process(lambda: restore(repo.manifest_reader(name), repo, out))


def restic_steps(data: Path, work: Path) -> dict[str, dict[str, float]]:
    """restic's backup of ``data`` into a new repository under ``work`` and its restore, each with its wall time and
    CPU-seconds (children of this process)."""
    env = dict(os.environ, RESTIC_PASSWORD=PASS, RESTIC_REPOSITORY=str(work / "repo"),
               RESTIC_CACHE_DIR=str(work / "cache"))

    def step(*args: str) -> dict[str, float]:
        os.sync()
        c0, t = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run(["restic", "--quiet", *args], env=env, check=True, capture_output=True, timeout=1800)
        wall, c1 = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN)
        return {"wall": round(wall, 2), "cpu": round(c1.ru_utime - c0.ru_utime + c1.ru_stime - c0.ru_stime, 2)}

    subprocess.run(["restic", "--quiet", "init", "--repository-version", "2"], env=env, check=True,
                   capture_output=True, timeout=120)
    out = {"backup": step("backup", str(data))}
    evict(work / "repo" / "data")  # its packs from the disk, as vaultlink's server reads them
    out["restore"] = step("restore", "latest", "--target", str(work / "out"))
    return out


def floor(ep: dict[str, Any], needed: float) -> dict[str, float]:
    """The shortest wall time the endpoint's step could take on this machine's cores (its agent's and server's
    CPU-seconds, all in parallel), against the wall time a target ``needed``."""
    cpu = ep["agent_user"] + ep["agent_system"] + ep["server"]
    return {"cpu_s": round(cpu, 2), "floor_s": round(cpu / (os.cpu_count() or 1), 2), "needed_s": round(needed, 2)}


def measured(svc: Service, run: Any, *args: str) -> tuple[Any, dict[str, Any]]:
    """``run(*args)`` (an agent command) and its wall time, the agent's CPU (children of this process) and the
    server's, per thread."""
    before, c0 = process_cpu(svc.proc.pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    os.sync()
    t = time.perf_counter()
    out = run(*args)
    wall = time.perf_counter() - t
    after, c1 = process_cpu(svc.proc.pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    parts = cpu_delta(before, after)
    return out, {"wall": round(wall, 2), "agent_user": round(c1.ru_utime - c0.ru_utime, 2),
            "agent_system": round(c1.ru_stime - c0.ru_stime, 2),
            "server": round(sum(u + s for u, s in parts.values()), 2), "server_parts": parts}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--dir", default="/tmp/vlcpu")
    ap.add_argument("--tree", help="back up this existing tree (e.g. `backup_bench.py --small-files N --keep`'s) "
                    "instead of making a --size-mib dataset")
    ap.add_argument("--restore", action="store_true",
                    help="also restore each round's backup, through the endpoint and by the engine alone")
    ap.add_argument("--restic", action="store_true",
                    help="also back up and restore the same data with restic (implies --restore)")
    a = ap.parse_args()
    a.restore = a.restore or a.restic
    if a.restic and not shutil.which("restic"):
        sys.exit("--restic needs restic: apt-get install -y restic")
    versions = preflight()
    work = fresh_workdir(a.dir)
    if a.tree:
        data = Path(a.tree).resolve()
        size = sum(e.stat().st_size for d in os.scandir(data) if d.is_dir() for e in os.scandir(d.path))
    else:
        data, size = work / "data", a.size_mib * MiB
    need_disk(work, size * ((4 if a.restore else 2) * a.rounds + (2 * a.rounds if a.restic else 0) + 1),
              "this benchmark")
    if not a.tree:
        make_dataset(data, size)
    svc = Service(work / "server")
    rounds: list[dict[str, Any]] = []
    try:
        run, _rss, creds = private_agent(svc, work, "agent")
        run("register", "--credentials", str(creds), "--source-ip", VM, "--dns", f"127.0.0.1:{svc.dns_port}",
            "--hostname", "cpu-vm")
        for i in range(a.rounds):
            eng = engine(data, work / f"engine-{i}")
            if i:  # a first backup again: a new vault, its own endpoint and a new machine registered to it
                run, _rss, creds = private_agent_again(svc, work, i)
            point, ep = measured(svc, run, "backup", "--no-progress", str(data))
            rounds.append({
                "engine": {k: round(v, 2) for k, v in eng.items()}, "endpoint": ep,
                "endpoint_vs_engine": round(eng["wall"] / ep["wall"], 3),
            })
            if a.restore:
                rp = point["recovery_point"]["id"]
                eng_r = engine_restore(work / f"engine-{i}", work / f"engine-out-{i}")
                _, ep_r = measured(svc, run, "restore", rp, "--no-progress", "--target", str(work / f"out-{i}"))
                rounds[-1]["restore"] = {"engine": {k: round(v, 2) for k, v in eng_r.items()}, "endpoint": ep_r,
                                         "endpoint_vs_engine": round(eng_r["wall"] / ep_r["wall"], 3)}
            rounds[-1]["backup_floor"] = floor(ep, eng["wall"] / 0.85)  # target: 0.85 x the engine alone
            if a.restic:
                rs = restic_steps(data, work / f"restic-{i}")
                rounds[-1]["restic"] = rs
                rounds[-1]["restore_floor"] = floor(ep_r, rs["restore"]["wall"] / 1.8)  # target: 1.8 x restic
                rounds[-1]["restore_vs_restic"] = round(rs["restore"]["wall"] / ep_r["wall"], 3)
            print(json.dumps(rounds[-1], indent=1), flush=True)
    finally:
        svc.stop()
    print(json.dumps({"versions": versions, "size_mib": round(size / MiB), "load": os.getloadavg(), "rounds": rounds},
                     indent=1))


def private_agent_again(svc: Service, work: Path, i: int) -> tuple[Any, Any, Path]:
    """A new vault with its own endpoint in the same vnet and a machine registered to it: a first backup again."""
    vault = f"cpu{i}"
    svc.cli("vault", "create", vault, "--region", "local-1")
    svc.cli("vault", "update", vault, "--public-network-access", "Disabled")
    svc.cli("endpoint", "create", "--name", f"{vault}-pe", "--region", "local-1", "--vault", vault,
            "--group-id", "AzureBackup", "--vnet", "vm-net", "--subnet", "default", "--dns-integration")
    creds = work / f"{vault}.vaultcredentials"
    subprocess.run([VAULTLINK, "vault", "credentials", vault, "-o", str(creds)], env=svc.env(), check=True,
                   capture_output=True, timeout=60)
    run, rss = agent_runner(svc, work, f"agent-{vault}")
    run("register", "--credentials", str(creds), "--source-ip", VM, "--dns", f"127.0.0.1:{svc.dns_port}",
        "--hostname", f"cpu-vm-{i}")
    return run, rss, creds


if __name__ == "__main__":
    main()
