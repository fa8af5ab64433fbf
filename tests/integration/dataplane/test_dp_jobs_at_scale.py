"""A vault's finished jobs are never read to find its running ones. Before, every job start (the machine's running
jobs), every scheduler pass and ``job list --status`` decoded every job the vault (or the service) ever had: at 100k
jobs, 1.4 s of the server's time per backup start inside its write transaction, 1.5-2 s per scheduler pass (migration
0008: ``status`` is an indexed column). Counted here as the records the SQL store decodes."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from dp_helpers import registered
from dp_world import DataPlane

from vaultlink.adapters import sqlstore
from vaultlink.service import scheduler
from vaultlink.service.dataplane import manage

FINISHED = 3000


def test_starting_a_job_and_the_schedulers_pass_read_only_the_open_jobs(dp: DataPlane, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    agent = registered(dp, tmp_path / "a")
    v = dp.vault
    with dp.svc.store.transaction() as txn:
        for i in range(FINISHED):
            jid = "j" + secrets.token_hex(6)
            txn.insert("job", jid, {"id": jid, "account_id": v["account_id"], "parent_id": v["id"], "name": None,
                                    "type": "Backup", "status": "Completed", "vault_id": v["id"],
                                    "container_id": agent.state.container_id, "start": 1.0 + i, "end": 2.0 + i})
    decoded = [0]
    real = json.loads

    def counting(text: Any, *a: Any, **kw: Any) -> Any:
        decoded[0] += 1
        return real(text, *a, **kw)

    monkeypatch.setattr(sqlstore.json, "loads", counting)
    first = agent._call("POST", "/jobs", {"paths": [str(tmp_path)], "job_id": None})["job"]["id"]
    second = agent._call("POST", "/jobs", {"paths": [str(tmp_path)], "job_id": None})["job"]["id"]
    assert decoded[0] < 200, f"{decoded[0]} records decoded to start two jobs among {FINISHED} finished ones"
    decoded[0] = 0
    assert scheduler.expire_jobs(dp.svc, dp.svc.clock.now()) == 0
    running = manage.list_jobs(dp.svc, dp.owner, v["name"], "inprogress")
    assert decoded[0] < 50, f"{decoded[0]} records decoded by a scheduler pass and a listing of the running jobs"
    monkeypatch.setattr(sqlstore.json, "loads", real)
    # what they found is what a walk of every job finds
    assert [j["id"] for j in running] == [second]
    assert manage.get_job(dp.svc, dp.owner, first)["status"] == "Failed", "the second backup ended the first"
    assert len(manage.list_jobs(dp.svc, dp.owner, v["name"], "COMPLETED")) == FINISHED
    assert len(manage.list_jobs(dp.svc, dp.owner, v["name"])) == FINISHED + 2
