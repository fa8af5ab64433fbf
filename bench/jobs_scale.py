"""Jobs and points at scale: what finding a vault's running jobs costs when it has had many, through the job
status index (migration 0008) and by a walk of every job (what a job start, the scheduler's pass and a prune did
before); and what listing a vault's points costs when each references thousands of packs, their lists kept apart
(migration 0009) and read whole (what every listing decoded before).

    .venv/bin/python bench/jobs_scale.py [--jobs 100000] [--points 200] [--packs 12800] [--listed 30000]
                                         [--rounds 3] [--dir …]

A diagnostic in one process, like ``backup_cpu.py``: the product's own service (``build_service``, the SQLite
metadata store a default ``vaultlink serve`` uses) with one vault holding ``--jobs`` finished jobs of 50 machines
(a year of hourly backups of six machines is 52k) and 5 running ones. Each round times, in one read transaction
each: the running jobs of one machine by the index (a job start), the open jobs of the service (the scheduler's
pass, the real ``scheduler.expire_jobs``), ``job list --status InProgress``, and the walk of every job of the
vault; then, with ``--points`` points of 20 machines each referencing ``--packs`` packs (12,800: a 100 GiB
machine), one machine's points as its agent lists them (``restore latest``, ``ls``), ``recovery-point list``,
and the read of every point's pack list; a hundred requests under a restore grant of one of those points, against
a hundred reads of its pack list (what each such request made before); ``ListBackupJobs`` listing ``--listed`` jobs
of the last 30 days whole in pages of 1,000 (the product's AWS handler, a page from its cursor), against as many reads
of the whole window as it has pages (what each page read before). Not a test; CI never runs it; nothing is served.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _product import preflight  # noqa: E402


def timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def main() -> None:
    from vaultlink.bootstrap import build_service
    from vaultlink.compat.aws import backup_jobs
    from vaultlink.compat.aws.backup_api import AwsCall
    from vaultlink.config import load_config
    from vaultlink.domain.point_packs import point_packs, put_point_packs
    from vaultlink.service import scheduler
    from vaultlink.service.dataplane import grants, jobs, manage
    from vaultlink.service.identity import authenticate, bootstrap
    from vaultlink.service.vaults import create_vault

    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--points", type=int, default=200)
    ap.add_argument("--packs", type=int, default=12_800)
    ap.add_argument("--listed", type=int, default=30_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/vljobs")
    a = ap.parse_args()
    preflight()  # prints the date, the load average and every version
    work = Path(a.dir)
    shutil.rmtree(work, ignore_errors=True)
    svc = build_service(load_config(data_dir=str(work / "data")))
    _acct, token = bootstrap(svc) or ({}, "")
    owner = authenticate(svc, token)
    v = create_vault(svc, owner, "prod", "local-1")
    t = time.perf_counter()
    now = time.time()
    with svc.store.transaction() as txn:
        for i in range(min(a.jobs, 10_000_000) + 5):
            jid = "j" + secrets.token_hex(6)
            running = i >= a.jobs
            due = now - 3600.0 * (a.jobs - i)
            txn.insert("job", jid, {
                "id": jid, "account_id": v["account_id"], "parent_id": v["id"], "name": None, "type": "Backup",
                "status": "InProgress" if running else "Completed", "vault_id": v["id"],
                "container_id": f"c{i % 50}", "hostname": f"vm-{i % 50}", "protected_item_id": "i1",
                "recovery_point_id": None if running else "rp-x", "start": now if running else due,
                "end": None if running else due + 60, "plan_id": "p1", "plan": "nightly",
                "rule": "hourly", "selection": "docs", "paths": ["/srv/data"], "scheduled": due,
                "start_by": now + 3600, "complete_by": now + 86400, "delete_after_days": 30, "copy_to": [],
                "stats": {"files": 1000, "bytes_total": 1 << 30, "duration": 42.0}})
    print(f"# {a.jobs:,} finished and 5 running jobs written in {time.perf_counter() - t:.1f} s "
          f"({os.path.getsize(work / 'data' / 'vaultlink.db') / 2**20:,.0f} MiB of SQLite)", flush=True)

    def machine_by_index() -> None:
        with svc.store.transaction() as txn:
            [j for j in txn.find("job", parent_id=v["id"], status="InProgress") if j["container_id"] == "c3"]

    def machine_by_walk() -> None:
        with svc.store.transaction() as txn:
            [j for j in txn.find("job", parent_id=v["id"]) if j["container_id"] == "c3" and j["status"] == "InProgress"]

    refs = [f"st{v['id'][:8]}0/packs/{i:064x}" for i in range(a.packs)]
    with svc.store.transaction() as txn:
        for i in range(a.points):
            rid = f"rp-{i:016x}"
            rp: dict[str, Any] = {
                "id": rid, "account_id": v["account_id"], "parent_id": v["id"], "name": None, "vault_id": v["id"],
                "container_id": f"c{i % 20}", "time": now - 3600.0 * i, "status": "Completed",
                "manifest": "snapshots/" + "0" * 64, "storage_account": "st0"}
            put_point_packs(txn, rp, refs)
            txn.insert("recovery_point", rid, rp)

    with svc.store.transaction() as txn:
        for cid in ("csrc", "cdst"):
            txn.insert("container", cid, {"id": cid, "account_id": v["account_id"], "parent_id": v["id"],
                                          "name": None, "vault_id": v["id"], "status": "Registered"})
        txn.insert("job", "jrestore", {
            "id": "jrestore", "account_id": v["account_id"], "parent_id": v["id"], "name": None, "type": "Restore",
            "status": "InProgress", "vault_id": v["id"], "container_id": "cdst", "source_container_id": "csrc",
            "recovery_point_id": "rp-" + "0" * 16, "start": now, "start_by": now + 3600})
        dest = txn.require("container", "cdst")

    # ListBackupJobs: --listed jobs created in the last 30 days in a vault of their own, listed whole in pages of
    # 1,000 through the product's handler, against as many reads of the whole window (what each page read before)
    listed = create_vault(svc, owner, "listed", "local-1")
    with svc.store.transaction() as txn:
        for i in range(a.listed):
            jid = "j" + secrets.token_hex(6)
            at = now - 29 * 86400.0 * (a.listed - i) / max(1, a.listed)
            txn.insert("job", jid, {
                "id": jid, "account_id": v["account_id"], "parent_id": listed["id"], "name": None, "type": "Backup",
                "status": "Completed", "vault_id": listed["id"], "container_id": f"c{i % 50}", "start": at,
                "end": at + 60, "created": at - at % 3600, "recovery_point_id": "rp-x", "paths": ["/srv/data"]})
    call = AwsCall(svc, owner, "local-1", "aws")

    def list_backup_jobs() -> None:
        token, pages = None, 0
        while pages < 100_000:
            out = backup_jobs.list_backup_jobs(call, {"ByBackupVaultName": "listed", "MaxResults": 1000,
                                                      **({"NextToken": token} if token else {})})
            token, pages = out["NextToken"], pages + 1
            if not token:
                break

    def whole_window_per_page() -> None:
        for _ in range(-(-a.listed // 1000)):
            manage.created_after(svc, owner, "listed", (now - 30 * 86400.0, ""), "Backup", 10**9)

    def granted() -> None:
        for _ in range(100):
            grants.granted_source(svc, dest, "jrestore", "backup:GetBackupData")  # type: ignore[arg-type]

    def one_list() -> None:
        with svc.store.transaction() as txn:
            rp = txn.require("recovery_point", "rp-" + "0" * 16)
            for _ in range(100):
                refs = point_packs(txn, rp) or []
                {rp["manifest"], *(r.split("/", 1)[1] for r in refs)}, set(refs)

    def pack_lists() -> None:
        with svc.store.transaction() as txn:
            txn.find("point_packs", parent_id=v["id"])

    steps = {
        "running jobs of one machine, by the index (a job start)": machine_by_index,
        "the scheduler's pass over the open jobs (expire_jobs)": lambda: scheduler.expire_jobs(svc, time.time()),
        "job list --status InProgress": lambda: manage.list_jobs(svc, owner, "prod", "InProgress"),
        "the same by a walk of every job of the vault (before)": machine_by_walk,
        f"one machine's points as its agent lists them ({a.points} points)":
            lambda: jobs.container_recovery_points(svc, {"id": "c3", "vault_id": v["id"]}),  # type: ignore[typeddict-item]
        "recovery-point list": lambda: manage.list_recovery_points(svc, owner, "prod"),
        f"every point's pack list read whole ({a.packs:,} names each; what a listing decoded before)": pack_lists,
        "100 requests under a restore grant (a restore onto another machine)": granted,
        "100 reads of the granted point's pack list (what those requests did before)": one_list,
        f"ListBackupJobs, a whole listing of {a.listed:,} jobs in pages of 1,000 (from a cursor)": list_backup_jobs,
        "as many reads of the whole 30 days as it has pages (what its pages read before)": whole_window_per_page,
    }
    got: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(max(1, a.rounds)):
        for name, fn in steps.items():
            got[name].append(timed(fn))
    print(f"# load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("\n| step | median ms | rounds |\n|---|---:|---|")
    for name, ms in got.items():
        print(f"| {name} | {statistics.median(ms):.2f} | {', '.join(f'{x:.1f}' for x in ms)} |")
    print(json.dumps({k: round(statistics.median(ms), 3) for k, ms in got.items()}))
    svc.store.close()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
