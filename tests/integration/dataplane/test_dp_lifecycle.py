"""Storage growth, re-registration, crash safety and credential rules (in-process server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dp_helpers import make_tree, registered, same_tree
from dp_world import PASS, DataPlane

from vaultlink.agent.session import Agent, register
from vaultlink.agent.state import load_state
from vaultlink.errors import AccessDenied, ContainerReregistrationRequired, CredentialsExpired, StoreError


def test_vault_grows_a_storage_account_and_restores_across_them(small_dp: DataPlane, tmp_path: Path) -> None:
    dp = small_dp
    src = make_tree(tmp_path / "src")
    agent = registered(dp, tmp_path / "state")
    first = agent.state.storage_accounts
    assert len(first) == 1
    rp1 = agent.backup([str(src)], PASS)["recovery_point"]
    with dp.svc.store.transaction() as txn:
        accounts = txn.require("vault", dp.vault["id"])["storage_accounts"]
    assert len(accounts) == 2 and accounts[0] == first[0]
    (src / "more.bin").write_bytes(__import__("random").Random(5).randbytes(400_000))
    agent2 = Agent(load_state(tmp_path / "state"), dp.resolver)
    rp2 = agent2.backup([str(src)], PASS)["recovery_point"]
    assert rp2["storage_account"] == accounts[1] and rp1["storage_account"] in accounts
    packs_in = {a: [f for f in dp.blob_files() if f"/{a}/" in str(f) and "/packs/" in str(f)] for a in accounts}
    assert packs_in[accounts[0]] and packs_in[accounts[1]]  # the restore below reads both accounts
    agent2.restore(rp2["id"], str(tmp_path / "out"), PASS)
    assert same_tree(src, tmp_path / "out" / "src")


def test_reregistration_required_then_register_again(dp: DataPlane, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    agent = registered(dp, tmp_path / "state")
    rp = agent.backup([str(src)], PASS)["recovery_point"]
    cid = agent.state.container_id
    with dp.svc.store.transaction() as txn:  # what removing its private endpoint does
        c = txn.require("container", cid)
        c["reregistration_required"] = True
        txn.update("container", cid, c)
    with pytest.raises(ContainerReregistrationRequired):
        agent.backup([str(src)], PASS)
    again = register(dp.credentials(), "127.0.0.1", "127.0.0.1:53", tmp_path / "state", PASS, "vm1",
                     resolver=dp.resolver)
    assert again["container"] == cid and not again["new"]
    agent = Agent(load_state(tmp_path / "state"), dp.resolver)
    assert [r["id"] for r in agent.recovery_points()] == [rp["id"]]
    out = agent.backup([str(src)], PASS)
    assert out["stats"]["files_unchanged"] == 4


def test_crash_mid_backup_leaves_no_recovery_point_and_uploads_are_reused(dp: DataPlane, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    big = src / "big.bin"
    big.write_bytes(__import__("random").Random(9).randbytes(40 << 20))
    agent = registered(dp, tmp_path / "state")
    real_put = __import__("vaultlink.agent.remote", fromlist=["x"]).RemoteBlobStore.put
    calls: dict[str, int] = {"packs": 0}

    def flaky_put(self: Any, name: str, data: bytes) -> None:
        if name.startswith("packs/"):
            calls["packs"] += 1
            if calls["packs"] > 2:  # two 8 MiB packs stored, then the crash
                raise StoreError("simulated crash after the first two packs")
        real_put(self, name, data)

    mp = pytest.MonkeyPatch()
    mp.setattr("vaultlink.agent.remote.RemoteBlobStore.put", flaky_put)
    try:
        with pytest.raises(StoreError):
            agent.backup([str(src)], PASS)
    finally:
        mp.undo()
    with dp.svc.store.transaction() as txn:
        assert txn.find("recovery_point", parent_id=dp.vault["id"]) == []
        jobs = txn.find("job", parent_id=dp.vault["id"])
    assert [j["status"] for j in jobs] == ["Failed"]
    out = agent.backup([str(src)], PASS)
    assert out["stats"]["bytes_new"] < out["stats"]["bytes_total"] - (10 << 20)  # the stored packs were reused


def test_expired_credentials_refused(dp: DataPlane, tmp_path: Path) -> None:
    creds = dp.credentials(valid_hours=0.0001)
    import time

    time.sleep(0.5)
    with pytest.raises(CredentialsExpired):
        register(creds, "127.0.0.1", "127.0.0.1:53", tmp_path / "state", PASS, "vm1", resolver=dp.resolver)


def test_registration_secret_only_registers(dp: DataPlane, tmp_path: Path) -> None:
    import json

    from vaultlink.agent.http import AgentHttp

    creds = json.loads(Path(dp.credentials()).read_text())
    http = AgentHttp(dp.resolver, dp.port, "127.0.0.1", creds["registration_secret"], retry_for=0)
    with pytest.raises(AccessDenied):
        http.json(creds["backup_service"], "GET", "/recovery-points")


def test_containers_do_not_see_each_others_data(dp: DataPlane, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    a = registered(dp, tmp_path / "a", "vm-a")
    rp = a.backup([str(src)], PASS)["recovery_point"]
    b = registered(dp, tmp_path / "b", "vm-b", passphrase="another long passphrase")
    assert b.recovery_points() == []
    from vaultlink.errors import RecoveryPointNotFound

    with pytest.raises(RecoveryPointNotFound):
        b.restore(rp["id"], str(tmp_path / "out"), "another long passphrase")
    assert b.check("another long passphrase")["snapshots"] == 0
