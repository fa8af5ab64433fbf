"""Copy jobs queued, then run by the copy pass: a copy asked for is checked at once and answered with a
``Created`` job (before, it ran inside the request: a copy of hundreds of GiB outlived any client's timeout,
and an AWS SDK's retry then copied it twice); the pass runs each queued copy once, ends its job
``Completed`` with the new point, or ``Failed`` with the refusal's code when the destination refuses it. A
stopping server stops a copy, or a replication pass, between two blobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dp_helpers import make_tree, registered
from dp_world import PASS, DataPlane

from vaultlink.errors import Conflict, RetentionOutsideLock
from vaultlink.service import replication
from vaultlink.service.dataplane import copies, manage
from vaultlink.service.events import WorkQueued
from vaultlink.service.retention import put_lock
from vaultlink.service.vaults import create_vault, update_vault


def test_copies_are_queued_then_run_once_each(dp: DataPlane, tmp_path: Path) -> None:
    agent = registered(dp, tmp_path / "state")
    rp = agent.backup([str(make_tree(tmp_path / "src"))], PASS)["recovery_point"]["id"]
    create_vault(dp.svc, dp.owner, "dr", "local-2")
    woken: list[WorkQueued] = []
    dp.svc.on(WorkQueued, woken.append)

    first = copies.copy_recovery_point(dp.svc, dp.owner, rp, "dr", 10)["job"]
    second = copies.copy_recovery_point(dp.svc, dp.owner, rp, "dr", 10)["job"]  # the same vault, twice
    assert first["status"] == second["status"] == "Created" and woken == [WorkQueued("copies")] * 2
    assert not manage.get_recovery_point(dp.svc, dp.owner, rp).get("copies"), "nothing copied in the request"
    with pytest.raises(RetentionOutsideLock):  # checked at once: refused before anything is queued
        put_lock(dp.svc, dp.owner, "dr", {"min_retention_days": 7})
        copies.copy_recovery_point(dp.svc, dp.owner, rp, "dr", 3)

    assert copies.run_copies(dp.svc, "vaultlink:service") == 2
    assert copies.run_copies(dp.svc, "vaultlink:service") == 0, "each queued copy runs once"
    done = [manage.get_job(dp.svc, dp.owner, j["id"]) for j in (first, second)]
    assert [j["status"] for j in done] == ["Completed", "Completed"]
    assert done[0]["copied_bytes"] > 0 and done[1]["copied_bytes"] == 0  # the second found the blobs there
    made = {c["id"] for c in manage.get_recovery_point(dp.svc, dp.owner, rp)["copies"]}
    assert made == {j["recovery_point_id"] for j in done} and all(j["start"] and j["end"] for j in done)


def test_a_copy_the_destination_refuses_by_then_fails_with_its_code(dp: DataPlane, tmp_path: Path) -> None:
    agent = registered(dp, tmp_path / "state")
    rp = agent.backup([str(make_tree(tmp_path / "src"))], PASS)["recovery_point"]["id"]
    create_vault(dp.svc, dp.owner, "dr", "local-2")
    job = copies.copy_recovery_point(dp.svc, dp.owner, rp, "dr", 3)["job"]
    put_lock(dp.svc, dp.owner, "dr", {"min_retention_days": 7})  # before the pass ran
    events: list[dict[str, Any]] = []
    real = dp.svc.audit.emit
    dp.svc.audit.emit = lambda e: (events.append(e), real(e))  # type: ignore[method-assign]
    assert copies.run_copies(dp.svc, "vaultlink:service") == 0
    failed = manage.get_job(dp.svc, dp.owner, job["id"])
    assert failed["status"] == "Failed" and failed["error_code"] == "RetentionOutsideLock" and failed["end"]
    point = manage.get_recovery_point(dp.svc, dp.owner, rp)
    assert not point.get("copy_pending") and point["copy_errors"][0]["code"] == "RetentionOutsideLock"
    assert [(e["action"], e["decision"], e["code"]) for e in events] == [
        ("recovery.copy", "denied", "RetentionOutsideLock")]
    assert copies.run_copies(dp.svc, "vaultlink:service") == 0 and not manage.get_recovery_point(
        dp.svc, dp.owner, rp).get("copies"), "not retried"


def test_the_copies_queued_for_one_point_are_bounded(dp: DataPlane, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    agent = registered(dp, tmp_path / "state")
    rp = agent.backup([str(make_tree(tmp_path / "src"))], PASS)["recovery_point"]["id"]
    dr = create_vault(dp.svc, dp.owner, "dr", "local-2")
    monkeypatch.setattr(copies, "MAX_PENDING", 2)
    for _ in range(2):
        copies.copy_recovery_point(dp.svc, dp.owner, rp, "dr")
    with pytest.raises(Conflict, match="already has 2 copies queued"):
        copies.copy_recovery_point(dp.svc, dp.owner, rp, "dr")
    assert len(manage.list_jobs(dp.svc, dp.owner, dr["id"], job_type="Copy")) == 2, "the refused one is not a job"
    assert copies.run_copies(dp.svc, "vaultlink:service") == 2
    copies.copy_recovery_point(dp.svc, dp.owner, rp, "dr")  # room again once they ran


def _stops_after_one_put(dp: DataPlane, store: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[int]]:
    """``store.put`` stores a blob, then the server stops (`vaultlink serve` got SIGTERM while it was copied); the
    real ``put`` and the sizes stored."""
    real_put, stored = store.put, []

    def put(name: str, data: bytes) -> None:
        real_put(name, data)
        stored.append(len(data))
        dp.svc.stopping.set()

    monkeypatch.setattr(store, "put", put)
    return real_put, stored


def test_a_stopping_server_leaves_the_copy_queued_for_its_next_pass(dp: DataPlane, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy of hundreds of GiB kept a stopping server alive until it was done (the pass's thread cannot be
    cancelled): it now stops between two blobs, its entry queued, and the next pass copies only what is missing."""
    agent = registered(dp, tmp_path / "state")
    rp = agent.backup([str(make_tree(tmp_path / "src"))], PASS)["recovery_point"]["id"]
    create_vault(dp.svc, dp.owner, "dr", "local-2")
    job = copies.copy_recovery_point(dp.svc, dp.owner, rp, "dr")["job"]
    blobs = dp.svc.blobs
    assert blobs is not None
    real_put, stored = _stops_after_one_put(dp, blobs, monkeypatch)
    assert copies.run_copies(dp.svc, "vaultlink:service") == 0 and len(stored) == 1, "stopped after one blob"
    assert manage.get_job(dp.svc, dp.owner, job["id"])["status"] == "InProgress"
    point = manage.get_recovery_point(dp.svc, dp.owner, rp)
    assert len(point["copy_pending"]) == 1 and not point.get("copies") and not point.get("copy_errors")

    dp.svc.stopping.clear()  # the server started again
    monkeypatch.setattr(blobs, "put", real_put)
    assert copies.run_copies(dp.svc, "vaultlink:service") == 1
    done = manage.get_job(dp.svc, dp.owner, job["id"])
    assert done["status"] == "Completed" and done["copied_bytes"] > 0, "the rest was copied"
    create_vault(dp.svc, dp.owner, "dr2", "local-2")  # a whole copy elsewhere: the two passes copied as much
    whole = copies.copy_recovery_point(dp.svc, dp.owner, rp, "dr2")["job"]
    assert copies.run_copies(dp.svc, "vaultlink:service") == 1
    assert stored[0] + done["copied_bytes"] == manage.get_job(dp.svc, dp.owner, whole["id"])["copied_bytes"]


def test_a_stopping_server_leaves_replication_for_its_next_pass(dp: DataPlane, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Replication alike: stopped between two blobs, its points left pending (not marked replicated with blobs
    missing in the paired region), finished by the next pass."""
    update_vault(dp.svc, dp.owner, dp.vault["name"], {"cross_region_restore": "Enabled"})
    agent = registered(dp, tmp_path / "state")
    rp = agent.backup([str(make_tree(tmp_path / "src"))], PASS)["recovery_point"]["id"]
    replica = dp.svc.replica
    assert replica is not None
    real_put, _stored = _stops_after_one_put(dp, replica, monkeypatch)
    first = replication.replicate_all(dp.svc)
    assert first["copied_blobs"] == 1 and first["replicated_points"] == 0
    assert not manage.get_recovery_point(dp.svc, dp.owner, rp).get("replicated_at")
    dp.svc.stopping.clear()
    monkeypatch.setattr(replica, "put", real_put)
    second = replication.replicate_all(dp.svc)
    assert second["replicated_points"] == 1 and second["copied_blobs"] > 0
    assert manage.get_recovery_point(dp.svc, dp.owner, rp)["replicated_at"]


def test_a_replication_pass_lists_only_the_machines_with_a_point_pending(dp: DataPlane, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """After one machine's backup, a pass lists that machine's storage only (it listed every machine's, in both
    regions, whenever any point was pending: a pass's time grew with the whole vault); the point is then whole in
    the paired region and the other machine's data is untouched there."""
    update_vault(dp.svc, dp.owner, dp.vault["name"], {"cross_region_restore": "Enabled"})
    one, two = registered(dp, tmp_path / "s1", "vm1"), registered(dp, tmp_path / "s2", "vm2")
    one.backup([str(make_tree(tmp_path / "src1"))], PASS)
    two.backup([str(make_tree(tmp_path / "src2"))], PASS)
    assert replication.replicate_all(dp.svc)["replicated_points"] == 2
    (tmp_path / "src1" / "new.txt").write_text("changed on vm1 only")
    rp = one.backup([str(tmp_path / "src1")], PASS)["recovery_point"]
    listed: list[str] = []
    for store in (dp.svc.blobs, dp.svc.replica):
        real = store.list  # type: ignore[union-attr]
        monkeypatch.setattr(store, "list", lambda prefix, real=real: (listed.append(prefix), real(prefix))[1])
    out = replication.replicate_all(dp.svc)
    assert out["replicated_points"] == 1 and out["copied_blobs"] > 0
    assert listed and all(f"/{rp['container_id']}/" in p for p in listed), listed
    assert manage.get_recovery_point(dp.svc, dp.owner, rp["id"])["replicated_at"]
