"""An on-demand backup (AWS ``StartBackupJob``) keeps to its windows as a plan's does: not started within its start
window it becomes ``EXPIRED``; started but not done within its completion window, ``EXPIRED`` too (its agent's
completion is then refused), and its work item leaves the machine's queue. Before, only a plan's jobs and restores
had their windows enforced: an on-demand job no machine took stayed ``CREATED`` for ever, in every listing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from dp_helpers import make_tree, registered
from dp_world import PASS, DataPlane

from vaultlink.agent import job_progress
from vaultlink.errors import VaultlinkError
from vaultlink.service import retention_items, scheduler
from vaultlink.service.dataplane import manage, ondemand


def queued(dp: DataPlane) -> list[str]:
    with dp.svc.store.transaction() as txn:
        return [i["body"]["job_id"] for i in txn.find("queue_item")]


def test_on_demand_jobs_expire_at_the_end_of_their_windows(dp: DataPlane, tmp_path: Path) -> None:
    agent = registered(dp, tmp_path / "state")
    src = make_tree(tmp_path / "src")
    agent.backup([str(src)], PASS)
    [item] = retention_items.list_items(dp.svc, dp.owner, dp.vault["name"])
    now = dp.svc.clock.now()
    never = ondemand.start_backup(dp.svc, dp.owner, item["id"], None, None, 60, 120)
    taken = ondemand.start_backup(dp.svc, dp.owner, item["id"], None, None, 60, 120)
    agent._call("POST", "/jobs", {"paths": [str(src)], "job_id": taken["id"]})
    events: list[dict[str, Any]] = []
    real = dp.svc.audit.emit
    dp.svc.audit.emit = lambda e: (events.append(e), real(e))  # type: ignore[method-assign]

    def heard_at(t: float) -> None:  # its agent still reports (the heartbeat): only a window can end it
        with dp.svc.store.transaction() as txn:
            job = txn.require("job", taken["id"])
            job["progress"] = {"updated": t}
            txn.update("job", taken["id"], job)

    assert scheduler.expire_jobs(dp.svc, now + 10 * 60) == 0, "within their windows: left alone"
    heard_at(now + 60 * 60)
    assert scheduler.expire_jobs(dp.svc, now + 61 * 60) == 1
    gone = manage.get_job(dp.svc, dp.owner, never["id"])
    assert gone["status"] == "EXPIRED" and "start window" in gone["error"] and gone["end"] == now + 61 * 60
    assert manage.get_job(dp.svc, dp.owner, taken["id"])["status"] == "InProgress"
    assert queued(dp) == [taken["id"]], "the expired job's work item left the machine's queue"

    heard_at(now + 120 * 60)
    assert scheduler.expire_jobs(dp.svc, now + 121 * 60) == 1
    late = manage.get_job(dp.svc, dp.owner, taken["id"])
    assert late["status"] == "EXPIRED" and "completion window" in late["error"]
    assert queued(dp) == []
    assert [(e["action"], e["target"], e["code"]) for e in events] == [
        ("job.expire", never["id"], "EXPIRED"), ("job.expire", taken["id"], "EXPIRED")]
    with pytest.raises(VaultlinkError):  # the machine that took it cannot start the expired one again
        agent._call("POST", "/jobs", {"paths": [str(src)], "job_id": never["id"]})
    with pytest.raises(VaultlinkError, match="already ended"):  # nor end the one that ran late
        agent._call("POST", f"/jobs/{taken['id']}/finish", {"status": "Failed", "error": "late"})
    assert manage.get_job(dp.svc, dp.owner, taken["id"])["status"] == "EXPIRED"


def test_a_queued_job_stopped_leaves_its_machines_queue(dp: DataPlane, tmp_path: Path) -> None:
    agent = registered(dp, tmp_path / "state")
    agent.backup([str(make_tree(tmp_path / "src"))], PASS)
    [item] = retention_items.list_items(dp.svc, dp.owner, dp.vault["name"])
    queued_job = ondemand.start_backup(dp.svc, dp.owner, item["id"])
    kept = ondemand.start_backup(dp.svc, dp.owner, item["id"])
    assert sorted(queued(dp)) == sorted([queued_job["id"], kept["id"]])
    assert ondemand.stop_job(dp.svc, dp.owner, queued_job["id"])["status"] == "Aborted"
    assert queued(dp) == [kept["id"]], "the stopped job's item went; the other job's stays"


def test_a_running_backup_stopped_on_the_service_stops_on_the_machine(dp: DataPlane, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """StopBackupJob on a running job: the agent's next progress report is refused (the job ended), and the backup
    stops there with the service's reason, committing nothing. Before, it ran to its end and only then had its
    commit refused (hours of reading and uploading for a large machine)."""
    monkeypatch.setattr(job_progress, "EVERY_SECONDS", 0.0)
    agent = registered(dp, tmp_path / "state")
    src = tmp_path / "src"
    src.mkdir()
    for i in range(30):
        (src / f"f{i:02}.bin").write_bytes(bytes([i]) * 300_000)
    calls: list[int] = []

    def local(p: Any) -> None:  # the machine's progress bar; on its first call the owner stops the job
        calls.append(p.files_done)
        if len(calls) == 1:
            [job] = manage.list_jobs(dp.svc, dp.owner, dp.vault["name"], "inprogress")
            ondemand.stop_job(dp.svc, dp.owner, job["id"])
            time.sleep(0.3)  # the engine's next report comes after its interval

    with pytest.raises(VaultlinkError, match="already ended \\(Aborted: stopped by") as stopped:
        agent.backup([str(src)], PASS, progress=local)
    assert stopped.value.code == "Conflict" and len(calls) == 1, calls
    assert manage.list_recovery_points(dp.svc, dp.owner, dp.vault["name"]) == [], "nothing was committed"
    [job] = manage.list_jobs(dp.svc, dp.owner, dp.vault["name"])
    assert job["status"] == "Aborted"
