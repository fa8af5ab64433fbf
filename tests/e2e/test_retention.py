"""Backups the machine that made them cannot destroy: soft delete, prune, vault lock, lifecycles,
registration scopes. Real server, real agents behind a private endpoint, the service's clock moved ahead
through its test clock file (days pass in a second)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import Server, start_server, stop_server
from tests.e2e.test_data_path import vm as vm_client
from tests.e2e.test_private_backup import Vm, make_data, registered_vm, tree

DAY = 86400
VM_A, VM_B = "127.10.1.10", "127.10.1.11"


class Clock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0.0
        path.write_text("0")

    def advance(self, days: float) -> None:
        self.offset += days * DAY
        self.path.write_text(str(self.offset))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Server, Clock]]:
    clock = Clock(tmp_path / "clock")
    cfg = tmp_path / "serve.toml"
    cfg.write_text(f'test_clock_file = "{clock.path}"\nmaintenance_interval = 0.0\nprune_grace_seconds = 0.0\n'
                   "schedule_interval = 0.3\n")
    s = start_server(tmp_path / "data", extra_args=("--config", str(cfg)))
    try:
        yield s, clock
    finally:
        stop_server(s)


def iso(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def refused(r: Any, code: str) -> None:
    assert r.exit_code != 0, r.stdout
    assert r.error_code == code, (r.stdout, r.stderr)


def audited_refusal(s: Server, code: str, action: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        evs = s.ok("audit", "list", "--code", code)
        if any(e.get("action") == action and e.get("decision") == "denied" for e in evs):
            return
        time.sleep(0.2)
    raise AssertionError(f"no audited refusal {code} for {action}")


def setup_machine(s: Server, tmp: Path, ip: str = VM_A, name: str = "vm-a") -> tuple[Vm, Path]:
    return registered_vm(s, tmp, name, ip)


def test_soft_delete_prune_undelete_and_purge(world: tuple[Server, Clock], tmp_path: Path) -> None:
    s, clock = world
    vm, _ = setup_machine(s, tmp_path)
    src = make_data(tmp_path / "src", 40)  # 40 MiB: five 8 MiB packs
    v1 = tree(src)
    rp1 = vm.ok("backup", str(src))["recovery_point"]["id"]
    for f in src.glob("r*.bin"):  # v2: the big files go (their packs: only rp1's), a small one comes
        f.unlink()
    (src / "new.txt").write_bytes(b"changed" * 100_000)
    v2 = tree(src)
    rp2 = vm.ok("backup", str(src))["recovery_point"]["id"]
    shown = s.ok("recovery-point", "show", rp1)
    assert shown["pack_refs"] and all("/packs/" in p for p in shown["pack_refs"]) and shown["status"] == "Completed"

    out = s.ok("recovery-point", "delete", rp1)
    assert out["status"] == "SoftDeleted"
    listed = {p["id"]: p["status"] for p in s.ok("recovery-point", "list", "prod")}
    assert listed == {rp1: "SoftDeleted", rp2: "Completed"}
    refused(vm.run("restore", rp1, "--target", str(tmp_path / "no")), "RecoveryPointSoftDeleted")
    assert not (tmp_path / "no").exists()

    pruned = s.ok("vault", "prune", "prod")  # a soft-deleted point's packs are kept
    assert pruned["swept"] == 0 and pruned["purged"] == 0
    assert pruned["usage"]["soft_deleted_bytes"] > 0 and pruned["usage"]["reclaimable_bytes"] == 0
    refused(s.cli("vault", "delete", "prod"), "VaultNotEmpty")

    assert s.ok("recovery-point", "undelete", rp1)["status"] == "Completed"
    refused(s.cli("recovery-point", "undelete", rp1), "NotSoftDeleted")
    vm.ok("restore", rp1, "--target", str(tmp_path / "out1"))
    assert tree(tmp_path / "out1" / "src") == v1

    s.ok("recovery-point", "delete", rp1)
    clock.advance(13)
    assert s.ok("vault", "prune", "prod")["purged"] == 0  # 13 of 14 days: still kept
    clock.advance(2)
    pruned = s.ok("vault", "prune", "prod")
    assert pruned["purged"] == 1 and pruned["swept"] >= 1 and pruned["swept_bytes"] > 0
    assert pruned["usage"]["soft_deleted_bytes"] == 0 and pruned["usage"]["reclaimable_bytes"] == 0
    assert [p["id"] for p in s.ok("recovery-point", "list", "prod")] == [rp2]
    vm.ok("check", "--read-data")
    vm.ok("restore", rp2, "--target", str(tmp_path / "out2"))
    assert tree(tmp_path / "out2" / "src") == v2
    # the next backup still deduplicates against what is left, and re-uploads nothing it needs
    rp3 = vm.ok("backup", str(src))
    assert rp3["stats"]["bytes_new"] == 0
    evs = s.ok("audit", "list", "--action", "recovery.purge")
    assert evs and evs[0]["principal"] == "vaultlink:service"


def test_vault_lock_governance_then_compliance(world: tuple[Server, Clock], tmp_path: Path) -> None:
    s, clock = world
    vm, _ = setup_machine(s, tmp_path)
    src = make_data(tmp_path / "src", 4)
    rp = vm.ok("backup", str(src))["recovery_point"]["id"]

    lock = s.ok("vault", "lock", "put", "prod", "--min-retention-days", "7", "--changeable-for-days", "3")
    assert lock["lock"]["mode"] == "governance" and lock["immutability"] == "Unlocked"
    refused(s.cli("recovery-point", "delete", rp), "RecoveryPointLocked")
    audited_refusal(s, "RecoveryPointLocked", "recovery.delete")
    refused(s.cli("vault", "lock", "put", "prod", "--changeable-for-days", "1"), "InvalidInput")
    assert s.ok("vault", "lock", "delete", "prod")["lock"] is None  # governance: the owner may remove it
    s.ok("vault", "lock", "put", "prod", "--min-retention-days", "7", "--max-retention-days", "30",
         "--changeable-for-days", "3")
    refused(s.cli("vault", "update", "prod", "--default-retention-days", "60"), "RetentionOutsideLock")
    refused(vm.run("backup", str(src)), "RetentionOutsideLock")  # no lifecycle, and a lock with a maximum
    s.ok("vault", "update", "prod", "--default-retention-days", "10")
    rp2 = vm.ok("backup", str(src))["recovery_point"]
    assert iso(rp2["expires"]) == pytest.approx(iso(rp2["time"]) + 10 * DAY, abs=5)

    clock.advance(4)  # the changeable window ended: compliance
    shown = s.ok("vault", "lock", "show", "prod")
    assert shown["lock"]["mode"] == "compliance" and shown["immutability"] == "Locked"
    for args, code in ((("vault", "lock", "delete", "prod"), "VaultLocked"),
                       (("vault", "update", "prod", "--immutability", "Disabled"), "VaultLocked"),
                       (("vault", "lock", "put", "prod", "--min-retention-days", "1"), "VaultLocked"),
                       (("vault", "delete", "prod"), "VaultLocked"),
                       (("recovery-point", "delete", rp), "RecoveryPointLocked"),
                       (("recovery-point", "update", rp2["id"], "--retention-days", "8"), "VaultLocked")):
        refused(s.cli(*args), code)
    audited_refusal(s, "VaultLocked", "vault.lock.delete")
    assert s.ok("recovery-point", "update", rp2["id"], "--retention-days", "20")["expires"] > rp2["expires"]

    clock.advance(4)  # 8 days: rp's minimum retention ended; it may go (soft-deleted)
    assert s.ok("recovery-point", "delete", rp)["status"] == "SoftDeleted"
    clock.advance(13)  # 21 days: rp2's lifecycle (20 days) ended, rp's soft delete not yet
    pruned = s.ok("vault", "prune", "prod")
    assert pruned["expired"] == 1 and pruned["purged"] == 0


def test_azure_immutable_vault_and_always_on_soft_delete(world: tuple[Server, Clock], tmp_path: Path) -> None:
    s, _clock = world
    s.ok("vault", "create", "az", "--region", "local-1")
    assert s.ok("vault", "update", "az", "--immutability", "Unlocked")["immutability"] == "Unlocked"
    assert s.ok("vault", "update", "az", "--immutability", "Disabled")["immutability"] == "Disabled"
    assert s.ok("vault", "update", "az", "--soft-delete", "AlwaysOn", "--soft-delete-days", "30")[
        "soft_delete"] == {"state": "AlwaysOn", "days": 30}
    refused(s.cli("vault", "update", "az", "--soft-delete", "Disabled"), "SoftDeleteAlwaysOn")
    refused(s.cli("vault", "update", "az", "--soft-delete-days", "14"), "SoftDeleteAlwaysOn")
    refused(s.cli("vault", "update", "az", "--soft-delete-days", "500"), "InvalidInput")
    assert s.ok("vault", "update", "az", "--immutability", "Locked")["immutability"] == "Locked"
    refused(s.cli("vault", "update", "az", "--immutability", "Unlocked"), "VaultLocked")
    shown = s.ok("vault", "show", "az")
    assert shown["lock"]["mode"] == "compliance" and shown["soft_delete"]["state"] == "AlwaysOn"
    assert s.ok("vault", "delete", "az")["deleted"]  # an empty vault may go, locked or not


def test_lifecycle_expiry_and_registration_scopes(world: tuple[Server, Clock], tmp_path: Path) -> None:
    s, clock = world
    vm, _ = setup_machine(s, tmp_path)
    src = make_data(tmp_path / "src", 4)
    dns = f"127.0.0.1:{s.info['dns_port']}"
    s.ok("vault", "update", "prod", "--default-retention-days", "1", "--soft-delete", "Disabled")
    rp = vm.ok("backup", str(src))["recovery_point"]
    assert rp["expires"] is not None

    # backup-only: writes and backs up, never reads data back
    creds_b = tmp_path / "backup-only.creds"
    r = s.cli("vault", "credentials", "prod", "--scope", "backup", "-o", str(creds_b), json_out=False)
    assert r.exit_code == 0
    assert json.loads(creds_b.read_text())["scope"] == "backup"
    vm_b = Vm(s, tmp_path, "vm-b", VM_B)
    assert vm_b.register(creds_b, dns).exit_code == 0
    b_rp = vm_b.ok("backup", str(src))["recovery_point"]["id"]
    vm_b.ok("backup", str(src))  # a second backup reads the previous manifest and the key: allowed
    refused(vm_b.run("restore", b_rp, "--target", str(tmp_path / "b-out")), "RegistrationScopeDenied")
    audited_refusal(s, "RegistrationScopeDenied", "backup:StartRestoreJob")
    assert not (tmp_path / "b-out").exists()

    # the same machine re-registered restore-only: reads, never writes
    creds_r = tmp_path / "restore-only.creds"
    r = s.cli("vault", "credentials", "prod", "--scope", "restore", "-o", str(creds_r), json_out=False)
    assert r.exit_code == 0
    assert vm_b.register(creds_r, dns).exit_code == 0
    refused(vm_b.run("backup", str(src)), "RegistrationScopeDenied")
    vm_b.ok("restore", b_rp, "--target", str(tmp_path / "b-out"))
    assert tree(tmp_path / "b-out" / "src") == tree(src)
    refused(s.cli("vault", "credentials", "prod", "--scope", "everything", "-o", str(tmp_path / "x")), "InvalidInput")

    clock.advance(2)  # vm-a's point had a 1-day lifecycle; soft delete is off: gone for good, data pruned
    pruned = s.ok("vault", "prune", "prod")
    assert pruned["expired"] >= 1 and pruned["purged"] == 0
    assert rp["id"] not in {p["id"] for p in s.ok("recovery-point", "list", "prod")}
    evs = s.ok("audit", "list", "--action", "recovery.expire")
    assert evs and evs[0]["principal"] == "vaultlink:service"


def test_items_and_machines_are_soft_deleted_with_their_points(world: tuple[Server, Clock], tmp_path: Path) -> None:
    s, clock = world
    vm, _ = setup_machine(s, tmp_path)
    docs, mail = make_data(tmp_path / "docs", 4), make_data(tmp_path / "mail", 4, seed=3)
    rp_docs = vm.ok("backup", str(docs))["recovery_point"]["id"]
    vm.ok("backup", str(mail))
    items = {i["paths"][0]: i for i in s.ok("item", "list", "prod")}
    assert {i["status"] for i in items.values()} == {"Protected"} and len(items) == 2
    docs_item = items[str(docs)]["id"]

    assert s.ok("item", "delete", docs_item)["status"] == "SoftDeleted"
    assert s.ok("recovery-point", "show", rp_docs)["status"] == "SoftDeleted"
    refused(vm.run("backup", str(docs)), "ItemSoftDeleted")
    refused(s.cli("recovery-point", "undelete", rp_docs), "NotSoftDeleted")  # it comes back with its item
    vm.ok("backup", str(mail))  # the machine's other item is untouched
    assert s.ok("item", "undelete", docs_item)["status"] == "Protected"
    assert s.ok("recovery-point", "show", rp_docs)["status"] == "Completed"
    vm.ok("backup", str(docs))

    machine = s.ok("container", "delete", "prod", "vm-a")
    assert machine["status"] == "SoftDeleted"
    assert {p["status"] for p in s.ok("recovery-point", "list", "prod")} == {"SoftDeleted"}
    refused(vm.run("backup", str(docs)), "ContainerSoftDeleted")
    s.ok("container", "undelete", "prod", "vm-a")
    assert {p["status"] for p in s.ok("recovery-point", "list", "prod")} == {"Completed"}
    vm.ok("backup", str(docs))

    s.ok("container", "delete", "prod", "vm-a")
    clock.advance(15)
    pruned = s.ok("vault", "prune", "prod")
    assert pruned["purged_items"] >= 1
    assert s.ok("container", "list", "prod") == [] and s.ok("recovery-point", "list", "prod") == []
    blobs = s.data_dir / "blobs" / "vaults"
    assert not [p for p in blobs.rglob("*") if p.is_file() and machine["id"] in p.parts]
    s.ok("vault", "update", "prod", "--soft-delete", "Disabled")
    assert s.ok("vault", "usage", "prod")["packs"] == 0


def test_a_passphrase_change_writes_a_key_version_beside_the_first(world: tuple[Server, Clock],
                                                                    tmp_path: Path) -> None:
    s, _clock = world
    vm, _ = setup_machine(s, tmp_path)
    src = make_data(tmp_path / "src", 4)
    rp = vm.ok("backup", str(src))["recovery_point"]["id"]
    new = tmp_path / "new.pass"
    new.write_text("a brand new passphrase of 16+")
    assert vm.ok("passphrase", "--new-passphrase-file", str(new))["key_file"] == "keys/key.2"
    vm.pw.write_text("a brand new passphrase of 16+")  # from now on the machine uses the new one
    vm.ok("backup", str(src))
    vm.ok("restore", rp, "--target", str(tmp_path / "out"))
    assert tree(tmp_path / "out" / "src") == tree(src)
    short = tmp_path / "short.pass"
    short.write_text("short")
    refused(vm.run("passphrase", "--new-passphrase-file", str(short)), "PassphraseTooShort")
    # the key versions are write-once like every blob: the machine cannot replace one
    state = json.loads((vm.state / "state.json").read_text())
    ip = s.ok("endpoint", "show", "pe1")["ips"][0]
    with vm_client(vm.source_ip) as c:
        r = c.put(f"https://{ip}:{s.info['api_port']}/keys/key.2", content=b"garbage",
                  headers={"Host": f"{state['write_account']}.blob.vaultlink.internal",
                           "Authorization": f"Bearer {state['credential']}"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "BlobExists"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def test_kill_9_during_prune_then_the_sweep_resumes(tmp_path: Path) -> None:
    """The service killed with SIGKILL in the middle of a sweep (its prune worker stopped after deleting the
    first pack): the worker dies with it, and after a restart the next prune finishes the sweep, nothing a
    kept point needs is missing, and the next backup deduplicates against what is left."""
    marker = tmp_path / "paused"
    cfg = tmp_path / "serve.toml"
    cfg.write_text("maintenance_interval = 0.0\nprune_grace_seconds = 0.0\nschedule_interval = 0.0\n")
    s = start_server(tmp_path / "data", extra_args=("--config", str(cfg)),
                     env={"VAULTLINK_TEST_PRUNE_PAUSE": str(marker)})
    try:
        vm, _ = setup_machine(s, tmp_path)
        s.ok("vault", "update", "prod", "--soft-delete", "Disabled")
        src = make_data(tmp_path / "src", 40)  # packs only rp1 needs
        rp1 = vm.ok("backup", str(src))["recovery_point"]["id"]
        for f in src.glob("r*.bin"):
            f.unlink()
        (src / "new.txt").write_bytes(b"kept" * 200_000)
        kept = tree(src)
        rp2 = vm.ok("backup", str(src))["recovery_point"]["id"]
        assert s.ok("recovery-point", "delete", rp1)["status"] == "Deleted"
        reclaimable = s.ok("vault", "usage", "prod")["reclaimable_bytes"]
        assert reclaimable > 16 << 20  # at least two packs

        pruning = threading.Thread(target=lambda: s.cli("vault", "prune", "prod"), daemon=True)
        pruning.start()
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the prune worker never reached its first deletion"
        worker = int(marker.read_text())
        assert _alive(worker)
        s.proc.kill()  # SIGKILL: no shutdown hook runs
        s.proc.wait()
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker), "the prune worker outlived the service"
        pruning.join(10)
        # restart on the same ports (the agent knows them)
        ports = ("--api-port", str(s.info["api_port"]), "--dns-port", str(s.info["dns_port"]))
        marker.unlink()
        (tmp_path / "data" / "server.json").unlink()  # the killed server's: the new one writes its own
        s = start_server(tmp_path / "data", extra_args=("--config", str(cfg), *ports))
        mid = s.ok("vault", "usage", "prod")  # the sweep was cut short: part of it is still on disk
        assert 0 < mid["reclaimable_bytes"] < reclaimable
        done = s.ok("vault", "prune", "prod")
        assert done["resumed"] >= 1 and done["usage"]["reclaimable_bytes"] == 0
        assert done["worker_peak_rss_kib"] > 0  # it ran in a worker process
        vm.ok("check", "--read-data")
        vm.ok("restore", rp2, "--target", str(tmp_path / "out"))
        assert tree(tmp_path / "out" / "src") == kept
        assert vm.ok("backup", str(src))["stats"]["bytes_new"] == 0
        assert not marker.exists()  # the restarted service ran without the pause
    finally:
        stop_server(s)
