"""Jobs of one machine side by side: a restore started while a backup runs used to end that backup as
``Failed`` ("the agent stopped before finishing this job") on the service, so the backup, hours later, could
not complete its point. A new job ends only what is dead: a backup when another backup starts (the agent runs
one backup at a time), a restore when it has been silent for ``SILENT`` seconds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from dp_helpers import make_tree, registered, same_tree
from dp_world import PASS, DataPlane

from vaultlink.agent.session import Agent
from vaultlink.agent.state import load_state
from vaultlink.data import Progress
from vaultlink.service.dataplane import jobs, manage


class Later:
    """The service's clock moved ahead by ``offset`` seconds."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def now(self) -> float:
        return time.time() + self.offset


def test_a_restore_during_a_backup_leaves_the_backup_to_complete(dp: DataPlane, tmp_path: Path) -> None:
    a = registered(dp, tmp_path / "state")
    src = make_tree(tmp_path / "src")
    first = a.backup([str(src)], PASS)["recovery_point"]["id"]
    (src / "new.txt").write_text("written after the first point\n")
    beside = Agent(load_state(tmp_path / "state"), dp.resolver, retry_for=2.0)  # `agent restore` in a shell
    restored: list[dict[str, Any]] = []

    def meanwhile(_p: Progress) -> None:
        if not restored:
            restored.append(beside.restore(first, str(tmp_path / "out"), PASS))

    try:
        second = a.backup([str(src)], PASS, progress=meanwhile)
    finally:
        beside.close()
    assert restored and restored[0]["files"] == 4 and same_tree(tmp_path / "out" / "src", src)
    assert not (tmp_path / "out" / "src" / "new.txt").exists()  # the first point's files
    assert manage.get_job(dp.svc, dp.owner, second["job"]["id"])["status"] == "Completed"
    assert second["recovery_point"]["status"] == "Completed"


def test_a_new_job_ends_only_a_dead_one(dp: DataPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = registered(dp, tmp_path / "state")
    src = make_tree(tmp_path / "src")
    rp = a.backup([str(src)], PASS)["recovery_point"]["id"]

    def status(job_id: str) -> str:
        return str(manage.get_job(dp.svc, dp.owner, job_id)["status"])

    def start_restore() -> str:
        return str(a._call("POST", f"/recovery-points/{rp}/restore-jobs", None)["job"]["id"])

    def start_backup() -> str:
        return str(a._call("POST", "/jobs", {"paths": [str(src)], "job_id": None})["job"]["id"])

    b1 = start_backup()
    r1, r2 = start_restore(), start_restore()  # restores run beside a backup and beside each other
    assert (status(b1), status(r1), status(r2)) == ("InProgress", "InProgress", "InProgress")
    b2 = start_backup()  # one backup at a time: the first one's agent is gone
    assert (status(b1), status(b2), status(r1)) == ("Failed", "InProgress", "InProgress")
    assert manage.get_job(dp.svc, dp.owner, b1)["error"] == "the agent stopped before finishing this job"
    a._call("POST", f"/jobs/{r1}/progress", {"progress": {"files_total": 1, "bytes_total": 1, "files_done": 0,
                                                            "bytes_done": 0, "bytes_new": 0, "elapsed": 1}})
    monkeypatch.setattr(dp.svc, "clock", Later(jobs.SILENT / 2))
    a._call("POST", f"/jobs/{r1}/progress", {"progress": {"files_total": 1, "bytes_total": 1, "files_done": 1,
                                                            "bytes_done": 1, "bytes_new": 0, "elapsed": 2}})
    monkeypatch.setattr(dp.svc, "clock", Later(jobs.SILENT + 60))
    start_restore()  # r2 said nothing for longer than SILENT: dead; r1 spoke SILENT / 2 ago: alive
    assert (status(r1), status(r2), status(b2)) == ("InProgress", "Failed", "InProgress")
