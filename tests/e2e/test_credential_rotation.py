"""`vaultlink agent rotate-credential`: the machine's container credential replaced through its private endpoint;
a copy of its state directory (the credential read by someone who is not root there, or restored from a backup of
the machine) stops working once the grace for requests already sent has passed (the service's clock moved ahead),
refused as `InvalidApiKey` with a message that says the credential was replaced, and audited; the machine itself
goes on backing up, and its `agent run` daemon, started before the rotation, takes up the new credential; a daemon
rotates a day-old credential by itself."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from tests.conftest import VAULTLINK, Server
from tests.e2e.test_private_backup import Vm, make_data
from tests.e2e.test_retention import Clock, audited_refusal, refused, setup_machine, world

__all__ = ["world"]


def test_a_rotation_ends_a_copied_credential(world: tuple[Server, Clock], tmp_path: Path) -> None:
    s, clock = world
    vm, _creds = setup_machine(s, tmp_path)
    src = make_data(tmp_path / "src", 2)
    vm.ok("backup", str(src))
    copy = Vm(s, tmp_path, "copied", vm.source_ip)
    shutil.copytree(vm.state, copy.state)
    assert copy.ok("recovery-points")

    daemon = subprocess.Popen([VAULTLINK, "agent", "run", "--state-dir", str(vm.state), "--passphrase-file",
                               str(vm.pw), "--poll", "0.2"], env=s.env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        out = vm.ok("rotate-credential")
        assert out["container"] == json.loads((vm.state / "state.json").read_text())["container_id"]
        assert out["rotated"]
        clock.advance(1 / 24)  # past the five minutes a replaced credential still serves requests already sent
        r = copy.run("recovery-points")
        refused(r, "InvalidApiKey")
        assert "replaced by a newer one" in r.json["error"]["message"], r.stdout
        audited_refusal(s, "InvalidApiKey", "backup:ListRecoveryPointsByBackupVault")
        assert vm.ok("backup", str(src))["recovery_point"]["id"]
        job = s.ok("recovery-point", "restore", vm.ok("recovery-points")[0]["id"], "--container", "vm-a",
                   "--target", str(tmp_path / "restored"))
        for _ in range(300):  # the daemon, started with the old credential, runs the restore with the new one
            if s.ok("job", "show", job["id"])["status"] in ("Completed", "Failed"):
                break
            time.sleep(0.1)
        assert s.ok("job", "show", job["id"])["status"] == "Completed"
        assert (tmp_path / "restored").exists()
    finally:
        daemon.terminate()
        logged, errors = daemon.communicate(timeout=30)
    assert '"Failed"' not in logged, (logged, errors)


def test_agent_run_rotates_a_day_old_credential(world: tuple[Server, Clock], tmp_path: Path) -> None:
    s, _clock = world
    vm, _creds = setup_machine(s, tmp_path)
    path = vm.state / "state.json"
    st = json.loads(path.read_text())
    st["credential_issued"] -= 86400 + 60
    path.write_text(json.dumps(st))
    done = subprocess.run([VAULTLINK, "agent", "run", "--once", "--state-dir", str(vm.state), "--passphrase-file",
                           str(vm.pw)], env=s.env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"Rotated"' in done.stdout, done.stdout
    assert json.loads(path.read_text())["credential"] != st["credential"]
    assert vm.ok("recovery-points") == []
    bad = subprocess.run([VAULTLINK, "agent", "run", "--once", "--state-dir", str(vm.state), "--passphrase-file",
                          str(vm.pw), "--rotate-credential-hours", "-1"], env=s.env(), capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode != 0 and "InvalidInput" in bad.stdout + bad.stderr, (bad.stdout, bad.stderr)
