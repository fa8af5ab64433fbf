"""A vault's finished jobs are never read to find its running ones. Before, every job start (the machine's running
jobs), every scheduler pass and ``job list --status`` decoded every job the vault (or the service) ever had: at 100k
jobs, 1.4 s of the server's time per backup start inside its write transaction, 1.5-2 s per scheduler pass (migration
0008: ``status`` is an indexed column). Counted here as the records the SQL store decodes."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dp_helpers import registered
from dp_world import DataPlane

from vaultlink.adapters import sql_txn
from vaultlink.errors import InvalidInput
from vaultlink.service import scheduler
from vaultlink.service.dataplane import manage

FINISHED = 3000


@contextlib.contextmanager
def decodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The size of each record the SQL store decodes inside the block."""
    sizes: list[int] = []
    real = json.loads

    def counting(text: Any, *a: Any, **kw: Any) -> Any:
        sizes.append(len(text))
        return real(text, *a, **kw)

    monkeypatch.setattr(sql_txn.json, "loads", counting)
    try:
        yield sizes
    finally:
        monkeypatch.setattr(sql_txn.json, "loads", real)


def test_starting_a_job_and_the_schedulers_pass_read_only_the_open_jobs(dp: DataPlane, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    agent = registered(dp, tmp_path / "a")
    v = dp.vault
    with dp.svc.store.transaction() as txn:
        for i in range(FINISHED):
            jid = "j" + secrets.token_hex(6)
            txn.insert("job", jid, {"id": jid, "account_id": v["account_id"], "parent_id": v["id"], "name": None,
                                    "type": "Backup", "status": "Completed", "vault_id": v["id"],
                                    "container_id": agent.state.container_id, "created": 1.0 + i, "start": 1.0 + i,
                                    "end": 2.0 + i})
    with decodes(monkeypatch) as decoded:
        first = agent._call("POST", "/jobs", {"paths": [str(tmp_path)], "job_id": None})["job"]["id"]
        second = agent._call("POST", "/jobs", {"paths": [str(tmp_path)], "job_id": None})["job"]["id"]
    assert len(decoded) < 200, f"{len(decoded)} records decoded to start two jobs among {FINISHED} finished ones"
    with decodes(monkeypatch) as decoded:
        assert scheduler.expire_jobs(dp.svc, dp.svc.clock.now()) == 0
        running = manage.list_jobs(dp.svc, dp.owner, v["name"], "inprogress")
    assert len(decoded) < 50, f"{len(decoded)} records decoded by a scheduler pass and a listing of the running jobs"
    # what they found is what a walk of every job finds
    assert [j["id"] for j in running] == [second]
    assert manage.get_job(dp.svc, dp.owner, first)["status"] == "Failed", "the second backup ended the first"
    assert len(manage.list_jobs(dp.svc, dp.owner, v["name"], "COMPLETED")) == FINISHED
    assert len(manage.list_jobs(dp.svc, dp.owner, v["name"])) == FINISHED + 2
    # the newest few, a page the database picks: newest first, filters as the whole list's
    every = sorted(manage.list_jobs(dp.svc, dp.owner, v["name"]), key=lambda j: -float(j["start"]))
    assert [j["id"] for j in manage.list_jobs(dp.svc, dp.owner, v["name"], newest=5)] == [j["id"] for j in every[:5]]
    assert [j["id"] for j in manage.list_jobs(dp.svc, dp.owner, v["name"], "completed", "backup", newest=3)] == [
        j["id"] for j in every if j["status"] == "Completed"][:3]
    assert manage.list_jobs(dp.svc, dp.owner, v["name"], "nonsense", newest=3) == []
    assert manage.list_jobs(dp.svc, dp.owner, v["name"], job_type="Restore", newest=3) == []
    for bad in (0, manage.MAX_NEWEST + 1):
        with pytest.raises(InvalidInput):
            manage.list_jobs(dp.svc, dp.owner, v["name"], newest=bad)


def test_listing_points_reads_none_of_their_pack_lists(dp: DataPlane, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A point's pack list (12,800 names for a 100 GiB machine) is a record of its own (migration 0009): a listing
    of the vault's points, as an agent's ``restore latest`` makes it, decodes the points only; ``show`` has the
    list."""
    from vaultlink.domain.point_packs import put_point_packs
    from vaultlink.service.dataplane import jobs

    agent = registered(dp, tmp_path / "a")
    v, refs = dp.vault, [f"st0/packs/{i:064x}" for i in range(2000)]
    with dp.svc.store.transaction() as txn:
        for i in range(30):
            rp: dict[str, Any] = {"id": f"rp-{i:016x}", "account_id": v["account_id"], "parent_id": v["id"],
                                  "name": None, "vault_id": v["id"], "container_id": agent.state.container_id,
                                  "time": 1000.0 + i, "status": "Completed", "manifest": "snapshots/x",
                                  "storage_account": "st0"}
            put_point_packs(txn, rp, refs)
            txn.insert("recovery_point", rp["id"], rp)
    with decodes(monkeypatch) as decoded:
        listed = jobs.container_recovery_points(dp.svc, {"id": agent.state.container_id, "vault_id": v["id"]})  # type: ignore[typeddict-item]
    assert len(listed) == 30 and all(p["packs_referenced"] == 2000 and "pack_refs" not in p for p in listed)
    assert len(decoded) == 30 and max(decoded) < 5000, "only the points were decoded, none of their lists"
    assert manage.get_recovery_point(dp.svc, dp.owner, "rp-0000000000000003")["pack_refs"] == refs


def test_a_grants_pack_list_is_read_once_and_the_grant_still_checked_each_time(dp: DataPlane, tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request of a restore onto another machine asks for its grant: the point's pack list (12,800 names for
    a 100 GiB machine, 4.8 ms a request) is read once and kept, while the job, the point and the source machine
    are read at every request: a grant ends the moment its job does, or its point goes."""
    from vaultlink.domain.point_packs import put_point_packs
    from vaultlink.errors import AccessDenied
    from vaultlink.service.dataplane import grants

    src, dst = registered(dp, tmp_path / "src", hostname="vm-src"), registered(dp, tmp_path / "dst", hostname="vm-dst")
    v, refs = dp.vault, [f"st0/packs/{i:064x}" for i in range(3000)]
    with dp.svc.store.transaction() as txn:
        rp: dict[str, Any] = {"id": "rp-" + secrets.token_hex(8), "account_id": v["account_id"], "parent_id": v["id"],
                              "name": None, "vault_id": v["id"], "container_id": src.state.container_id,
                              "time": 1000.0, "status": "Completed", "manifest": "snapshots/x",
                              "storage_account": "st0"}
        put_point_packs(txn, rp, refs)
        txn.insert("recovery_point", rp["id"], rp)
        job = {"id": "j" + secrets.token_hex(6), "account_id": v["account_id"], "parent_id": v["id"], "name": None,
               "type": "Restore", "status": "InProgress", "vault_id": v["id"], "container_id": dst.state.container_id,
               "source_container_id": src.state.container_id, "recovery_point_id": rp["id"], "start_by": 1e12}
        txn.insert("job", job["id"], job)
        me = txn.get("container", dst.state.container_id)
    reads: list[str] = []
    real = grants.point_packs
    monkeypatch.setattr(grants, "point_packs", lambda txn, point: (reads.append(point["id"]), real(txn, point))[1])
    for _ in range(50):
        out = grants.granted_source(dp.svc, me, job["id"], "backup:GetBackupData")
        assert grants.grant_allows(out, refs[7].split("/", 1)[1]) and not grants.grant_allows(out, "packs/" + "f" * 64)
    assert reads == [rp["id"]], "the list was read once for fifty requests"
    with dp.svc.store.transaction() as txn:
        txn.update("job", job["id"], {**job, "status": "Completed"})
    with pytest.raises(AccessDenied, match="grant has ended"):
        grants.granted_source(dp.svc, me, job["id"], "backup:GetBackupData")
    with dp.svc.store.transaction() as txn:
        txn.update("job", job["id"], job)
        txn.delete("recovery_point", rp["id"])
    with pytest.raises(AccessDenied, match="no longer there"):
        grants.granted_source(dp.svc, me, job["id"], "backup:GetBackupData")


def test_the_backups_completed_lately_are_read_a_page_at_a_time_up_to_the_first_older_one(dp: DataPlane) -> None:
    """The console's monitoring page charts the last 14 days of backups: read newest first by their end, a page at
    a time, stopping at the first older one, instead of every backup the vault ever completed."""
    v = dp.vault
    with dp.svc.store.transaction() as txn:
        for i in range(40):
            jid = f"j{i:04d}"
            txn.insert("job", jid, {"id": jid, "account_id": v["account_id"], "parent_id": v["id"], "name": None,
                                    "type": "Restore" if i % 5 == 0 else "Backup",
                                    "status": "Failed" if i % 7 == 0 else "Completed", "vault_id": v["id"],
                                    "created": 100.0 * i, "start": 100.0 * i, "end": 100.0 * i + 50})
    everything = manage.list_jobs(dp.svc, dp.owner, v["name"])
    for since, page in ((2000.0, 3), (0.0, 7), (99999.0, 4), (2050.0, 1000)):
        got = manage.completed_since(dp.svc, dp.owner, v["name"], since, "Backup", page=page)
        want = [j for j in everything if j["type"] == "Backup" and j["status"] == "Completed" and j["end"] >= since]
        assert [j["id"] for j in got] == [j["id"] for j in sorted(want, key=lambda j: -j["end"])], (since, page)


def test_list_backup_jobs_answers_the_last_30_days_as_aws_does(dp: DataPlane, monkeypatch: pytest.MonkeyPatch) -> None:
    """``ListBackupJobs`` answers the jobs created in the last 30 days (AWS's documented window), within
    ``ByCreatedAfter``/``Before`` and ``ByCompleteAfter``/``Before``: the database picks them newest first by their
    creation, instead of every job the vault ever had being read at every page."""
    from vaultlink.compat.aws import backup_jobs
    from vaultlink.compat.aws.backup_api import AwsCall

    class Clock:
        def now(self) -> float:
            return 100 * 86400.0

    monkeypatch.setattr(dp.svc, "clock", Clock())
    v, day = dp.vault, 86400.0
    with dp.svc.store.transaction() as txn:
        for d in range(0, 100, 2):  # a job created every second day, completed an hour later
            jid = f"j{d:03d}"
            txn.insert("job", jid, {"id": jid, "account_id": v["account_id"], "parent_id": v["id"], "name": None,
                                    "type": "Backup", "status": "Failed" if d % 10 == 0 else "Completed",
                                    "vault_id": v["id"], "created": d * day, "start": d * day,
                                    "end": d * day + 3600})
    call = AwsCall(dp.svc, dp.owner, "local-1", "aws")

    def ids(**p: Any) -> list[str]:
        return [j["BackupJobId"] for j in backup_jobs.list_backup_jobs(call, p)["BackupJobs"]]

    assert ids() == [f"j{d:03d}" for d in range(70, 100, 2)], "the last 30 days, oldest first"
    assert ids(ByCreatedAfter=90 * day) == ["j090", "j092", "j094", "j096", "j098"]
    assert ids(ByCreatedAfter=10 * day, ByCreatedBefore=75 * day) == ["j070", "j072", "j074"]
    assert ids(ByCompleteAfter=96 * day) == ["j096", "j098"]
    assert ids(ByCompleteBefore=72 * day) == ["j070"]
    assert ids(ByState="FAILED") == ["j070", "j080", "j090"]
    assert ids(ByState="PENDING") == []


def test_list_backup_jobs_pages_from_a_cursor_reading_about_a_page(dp: DataPlane,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``ListBackupJobs`` a page at a time over two vaults: each page reads about itself from the database (every page
    read the whole 30 days before), the pages give every job once in order, also when jobs are added and removed
    between two pages, and a token this service did not issue is refused."""
    from vaultlink.compat.aws import backup_jobs
    from vaultlink.compat.aws.backup_api import AwsCall
    from vaultlink.service.vaults import create_vault

    second = create_vault(dp.svc, dp.owner, "other", "local-1")
    now = dp.svc.clock.now()

    def job(vault: dict[str, Any], jid: str, created: float) -> None:
        with dp.svc.store.transaction() as txn:
            txn.insert("job", jid, {"id": jid, "account_id": vault["account_id"], "parent_id": vault["id"],
                                    "name": None, "type": "Backup", "status": "Completed", "vault_id": vault["id"],
                                    "created": created, "start": created, "end": created + 60})

    for i in range(FINISHED):  # one vault's jobs 50 at a time in a scheduler pass (equal times), the other's apart
        job(dp.vault if i % 3 else second, f"j{i:05d}", now - 86400 * 20 + 3600 * (i // 50) + (0 if i % 3 else i))
    call = AwsCall(dp.svc, dp.owner, "local-1", "aws")
    want: list[str] = []
    out = backup_jobs.list_backup_jobs(call, {"MaxResults": 1000})
    while True:
        want += [j["BackupJobId"] for j in out["BackupJobs"]]
        if not out["NextToken"]:
            break
        out = backup_jobs.list_backup_jobs(call, {"MaxResults": 1000, "NextToken": out["NextToken"]})
    seen: list[str] = []
    token = None
    with decodes(monkeypatch) as decoded:
        for n in range(100):
            out = backup_jobs.list_backup_jobs(call, {"MaxResults": 100, **({"NextToken": token} if token else {})})
            seen += [j["BackupJobId"] for j in out["BackupJobs"]]
            token = out["NextToken"]
            if n == 3:  # between two pages: a job before the cursor and one after it; two listed ones and one not gone
                job(dp.vault, "jlate", now - 86400)
                job(second, "jearly", now - 86400 * 25)
                with dp.svc.store.transaction() as txn:
                    txn.delete("job", seen[5])
                    txn.delete("job", seen[6])
                    txn.delete("job", want[-1])
            if token is None:
                break
    assert len(want) == FINISHED and seen[:400] == want[:400]
    assert seen[400:] == [j for j in want[400:-1]] + ["jlate"], "no job repeated or skipped"
    pages = (len(seen) + 99) // 100
    assert len(decoded) <= pages * 2 * 110, f"{len(decoded)} records decoded for {pages} pages of 100 (two vaults)"
    with pytest.raises(InvalidInput, match="NextToken"):
        backup_jobs.list_backup_jobs(call, {"NextToken": "400"})  # an offset, as tokens were


def test_list_recovery_points_by_backup_vault_pages_from_a_cursor(dp: DataPlane,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """``ListRecoveryPointsByBackupVault`` a page at a time: each page reads about itself (every page read every point
    of the vault before), soft-deleted points are left out, ``ByResourceArn`` is answered by the database, and a point
    removed between two pages never makes the next one skip another; ``ListRecoveryPointsByResource`` alike."""
    from vaultlink.compat.aws import backup_jobs
    from vaultlink.compat.aws.backup_api import AwsCall

    v, now = dp.vault, dp.svc.clock.now()
    with dp.svc.store.transaction() as txn:
        txn.insert("container", "c1", {"id": "c1", "account_id": v["account_id"], "parent_id": v["id"], "name": None,
                                       "vault_id": v["id"], "hostname": "vm1", "status": "Registered"})
        for it in ("i0", "i1"):
            txn.insert("protected_item", it, {"id": it, "account_id": v["account_id"], "parent_id": "c1",
                                              "name": None, "vault_id": v["id"], "paths": ["/srv"]})
        for i in range(600):
            rid = f"rp-{i:05d}"
            txn.insert("recovery_point", rid, {
                "id": rid, "account_id": v["account_id"], "parent_id": v["id"], "name": None, "vault_id": v["id"],
                "vault_name": v["name"], "arn": f"arn:aws:backup:local-1:{v['account_id']}:recovery-point:{rid}",
                "container_id": "c1", "protected_item_id": f"i{i % 2}", "time": now - 3600.0 * (i // 3),
                "status": "SoftDeleted" if i % 7 == 0 else "Completed", "manifest": "snapshots/x"})
    call = AwsCall(dp.svc, dp.owner, "local-1", "aws")

    def listing(**p: Any) -> list[str]:
        out, token = [], None
        for _ in range(100):
            page = backup_jobs.list_recovery_points_by_backup_vault(
                call, {"BackupVaultName": v["name"], "MaxResults": 50, **p, **({"NextToken": token} if token else {})})
            out += [r["RecoveryPointArn"].rsplit(":", 1)[-1] for r in page["RecoveryPoints"]]
            token = page["NextToken"]
            if token is None:
                return out
        raise AssertionError("no end")

    with dp.svc.store.transaction() as txn:
        points = sorted(txn.find("recovery_point", parent_id=v["id"]), key=lambda r: (r["time"], r["id"]))
    want = [r["id"] for r in points if r["status"] != "SoftDeleted"]
    with decodes(monkeypatch) as decoded:
        assert listing() == want
    assert len(decoded) <= 11 * 130, f"{len(decoded)} records decoded for {len(want)} points in 11 pages of 50"
    item = f"arn:aws:backup:local-1:{v['account_id']}:protected-item:i1"
    assert listing(ByResourceArn=item) == [r["id"] for r in points if r["status"] != "SoftDeleted"
                                           and r["protected_item_id"] == "i1"]
    assert listing(ByResourceArn="arn:aws:backup:local-1:1:vault:x") == []
    by_item, token = [], None  # ListRecoveryPointsByResource: the same points, a page at a time from its cursor
    for _ in range(100):
        page = backup_jobs.list_recovery_points_by_resource(
            call, {"ResourceArn": item, "MaxResults": 50, **({"NextToken": token} if token else {})})
        by_item += [r["RecoveryPointArn"].rsplit(":", 1)[-1] for r in page["RecoveryPoints"]]
        token = page["NextToken"]
        if token is None:
            break
    assert by_item == listing(ByResourceArn=item)
    first = backup_jobs.list_recovery_points_by_backup_vault(call, {"BackupVaultName": v["name"], "MaxResults": 50})
    with dp.svc.store.transaction() as txn:
        txn.delete("recovery_point", want[3])
    rest = backup_jobs.list_recovery_points_by_backup_vault(
        call, {"BackupVaultName": v["name"], "MaxResults": 50, "NextToken": first["NextToken"]})
    assert [r["RecoveryPointArn"].rsplit(":", 1)[-1] for r in rest["RecoveryPoints"]] == want[50:100]
