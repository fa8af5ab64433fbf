"""A passphrase change that retires the old passphrase (``vaultlink agent passphrase --retire-old``).

Stored data is write-once, so the old key version stays stored; the service hides the retired versions from every
reader: the machine's own agent, a copy to another vault (and another machine restoring under a grant: e2e). The vault's
owner lists them and brings them back. Before, a passphrase change could not revoke a leaked old passphrase."""

from __future__ import annotations

from pathlib import Path

import pytest
from dp_helpers import make_tree, registered, same_tree
from dp_world import PASS, DataPlane

from vaultlink.agent.remote import RemoteBlobStore
from vaultlink.agent.session import Agent
from vaultlink.errors import AccessDenied, NotFound, VaultlinkError, WrongPassphrase
from vaultlink.service.dataplane import copies, key_versions, manage
from vaultlink.service.vaults import create_vault

NEW = "a brand new passphrase, long enough"


def _store(agent: Agent) -> RemoteBlobStore:
    st = agent.state
    return RemoteBlobStore(agent.http, st.domain, st.storage_accounts, st.write_account, st.storage_suffix)


def _container(dp: DataPlane, agent: Agent) -> dict:  # type: ignore[type-arg]
    with dp.svc.store.transaction() as txn:
        return txn.require("container", agent.state.container_id)


def test_retiring_hides_the_old_version_from_every_reader_and_the_owner_brings_it_back(
        dp: DataPlane, tmp_path: Path) -> None:
    vm1 = registered(dp, tmp_path / "s1", "vm1")
    src = make_tree(tmp_path / "src")
    rp = vm1.backup([str(src)], PASS)["recovery_point"]["id"]

    out = vm1.change_passphrase(PASS, NEW, retire=True)
    assert out["key_file"] == "keys/key.2" and out["retired"] == ["keys/key"]
    with pytest.raises(WrongPassphrase):
        vm1.open_repository(PASS)  # the old passphrase opens nothing through the service any more
    store = _store(vm1)
    assert list(store.list("keys/")) == ["keys/key.2"]
    with pytest.raises(NotFound):
        store.get("keys/key")
    assert not store.exists("keys/key")
    vm1.backup([str(src)], NEW)  # the machine goes on with the new one
    vm1.restore(rp, str(tmp_path / "out"), NEW)
    assert same_tree(src, tmp_path / "out" / "src")

    # a copy to another vault carries the new version only (a grant's reads: tests/e2e/test_key_retirement.py)
    create_vault(dp.svc, dp.owner, "dr", "local-2")
    copies.copy_recovery_point(dp.svc, dp.owner, rp, "dr")
    assert copies.run_copies(dp.svc, "vaultlink:service") == 1
    copied = {p.name for p in (dp.tmp / "data" / "blobs" / "vaults").rglob("keys/*")
              if dp.vault["id"] not in p.parts}
    assert copied == {"key.2"}, copied

    # the owner sees the versions, and brings the retired one back
    listed = key_versions.list_versions(dp.svc, dp.owner, dp.vault["name"], "vm1")
    assert [(k["name"], k["retired"]) for k in listed] == [("keys/key.2", False), ("keys/key", True)]
    key_versions.restore_versions(dp.svc, dp.owner, dp.vault["name"], "vm1")
    vm1.open_repository(PASS).close()
    assert manage.get_recovery_point(dp.svc, dp.owner, rp)["status"] == "Completed"


def test_a_retirement_is_refused_unless_the_machine_keeps_its_newest_stored_version(
        dp: DataPlane, tmp_path: Path) -> None:
    vm1 = registered(dp, tmp_path / "s1", "vm1")
    vm1.backup([str(make_tree(tmp_path / "src"))], PASS)
    vm1.change_passphrase(PASS, NEW)  # keys/key.2, nothing retired
    for keep, code in (("keys/key", "Conflict"), ("keys/key.7", "Conflict"), ("keys/../key", "InvalidInput"),
                       ("packs/" + "0" * 64, "InvalidInput"), (7, "InvalidType")):
        with pytest.raises(VaultlinkError) as refused:  # through the data plane, as the machine itself
            vm1.http.json(vm1.state.backup_service, "POST", "/keys/retire", {"keep": keep})
        assert refused.value.code == code, (keep, refused.value.code)
    with pytest.raises(AccessDenied, match="own agent"):  # an operator's key does not retire a machine's versions
        key_versions.retire(dp.svc, dp.owner, _container(dp, vm1), "keys/key.2")
    assert not _container(dp, vm1).get("retired_keys"), "nothing was retired by the refusals"
    vm1.open_repository(PASS).close()
