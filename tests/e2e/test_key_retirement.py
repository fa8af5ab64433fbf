"""A leaked passphrase retired, as a user does it: `vaultlink agent passphrase --new-passphrase-file NEW --retire-old`
on the machine; the old passphrase then opens nothing through the service (the machine's own restore, another
machine's reads under a restore grant), the audit shows who retired what, and the vault's owner lists the versions
and can bring the retired ones back (`vaultlink container keys prod vm-a [--restore]`)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import Server
from tests.e2e.test_private_backup import Vm, make_data, tree
from tests.e2e.test_restore_anywhere import blob
from tests.e2e.test_retention import VM_B, Clock, refused, setup_machine, world

__all__ = ["world"]
NEW = "the new passphrase, after the leak"


def _audited(s: Server, action: str) -> list[dict[str, object]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        evs = [e for e in s.ok("audit", "list", "--action", action) if e.get("decision") == "allowed"]
        if evs:
            return evs
        time.sleep(0.2)
    raise AssertionError(f"no audit event for {action}")


def test_a_retired_passphrase_opens_nothing_until_the_owner_brings_it_back(world: tuple[Server, Clock],
                                                                           tmp_path: Path) -> None:
    s, _clock = world
    vm_a, creds = setup_machine(s, tmp_path)
    src = make_data(tmp_path / "src", 4)
    rp = vm_a.ok("backup", str(src))["recovery_point"]["id"]
    old = vm_a.pw.read_text()
    new = tmp_path / "new.pass"
    new.write_text(NEW)

    out = vm_a.ok("passphrase", "--new-passphrase-file", str(new), "--retire-old")
    assert out["key_file"] == "keys/key.2" and out["retired"] == ["keys/key"]
    assert _audited(s, "backup:RetireKeyVersions")
    refused(vm_a.run("restore", rp, "--target", str(tmp_path / "old")), "WrongPassphrase")
    assert not (tmp_path / "old").exists()
    assert blob(s, vm_a, "keys/key", None).status_code == 404
    assert blob(s, vm_a, "keys/key", None, "HEAD").status_code == 404
    vm_a.pw.write_text(NEW)  # the machine goes on with the new one
    vm_a.ok("backup", str(src))
    vm_a.ok("restore", rp, "--target", str(tmp_path / "new"))
    assert tree(tmp_path / "new" / "src") == tree(src)

    # another machine restoring A's point under a grant reads the new version only
    vm_b = Vm(s, tmp_path, "vm-b", VM_B)
    assert vm_b.register(creds, f"127.0.0.1:{s.info['dns_port']}").exit_code == 0
    job = s.ok("recovery-point", "restore", rp, "--container", "vm-b", "--target", str(tmp_path / "onto"))
    assert blob(s, vm_b, "keys/key.2", job["id"]).status_code == 200
    assert blob(s, vm_b, "keys/key", job["id"]).status_code == 404

    # the owner sees what was retired, and brings it back: the old passphrase opens the data again
    listed = s.ok("container", "keys", "prod", "vm-a")
    assert [(k["name"], k["retired"]) for k in listed] == [("keys/key.2", False), ("keys/key", True)]
    back = s.ok("container", "keys", "prod", "vm-a", "--restore")
    assert [k["retired"] for k in back] == [False, False]
    vm_a.pw.write_text(old)
    vm_a.ok("restore", rp, "--target", str(tmp_path / "again"))
    assert tree(tmp_path / "again" / "src") == tree(src)
