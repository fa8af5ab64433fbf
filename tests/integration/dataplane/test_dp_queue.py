"""A machine's queued work items go with it: when it is purged (its soft-delete period over, or unregistered from a
vault without soft delete) and when its vault is deleted. Before, they stayed in the metadata store for ever."""

from __future__ import annotations

from pathlib import Path

from dp_helpers import registered
from dp_world import DataPlane

from vaultlink.service import retention_items
from vaultlink.service.dataplane import queue, storage
from vaultlink.service.vaults import delete_vault


def _items(dp: DataPlane) -> int:
    with dp.svc.store.transaction() as txn:
        return len(txn.find("queue_item"))


def _queue_for(dp: DataPlane, cid: str) -> None:
    with dp.svc.store.transaction() as txn:
        c, vault = txn.require("container", cid), txn.require("vault", dp.vault["id"])
    queue.put_item(dp.svc, storage.accounts_of(vault)[0], c, {"kind": "backup", "job_id": "j1", "paths": ["/x"]})


def test_a_purged_machines_work_items_go_with_it(dp: DataPlane, tmp_path: Path) -> None:
    one, two = registered(dp, tmp_path / "a", "vm1"), registered(dp, tmp_path / "b", "vm2")
    for agent in (one, two):
        _queue_for(dp, agent.state.container_id)
    retention_items.purge_container(dp.svc, one.state.container_id)
    with dp.svc.store.transaction() as txn:
        left = txn.find("queue_item")
    assert [i["parent_id"].split("/")[1] for i in left] == [two.state.container_id], "the other machine's stay"


def test_a_deleted_vaults_work_items_go_with_it(dp: DataPlane, tmp_path: Path) -> None:
    agent = registered(dp, tmp_path / "a")
    _queue_for(dp, agent.state.container_id)
    assert _items(dp) == 1
    delete_vault(dp.svc, dp.owner, dp.vault["name"])
    assert _items(dp) == 0
