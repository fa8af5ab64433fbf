"""A backup or a restore interrupted on the machine (Ctrl-C, or SIGTERM from a service manager), through the real
agent CLI: the command says so and exits 130, its job ends ``Aborted`` (not ``Failed``, not left running), and the
same command run again finishes: a backup sending only what it had not uploaded, a restore into the same target."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import VAULTLINK, Server
from tests.e2e.test_private_backup import VM, Vm, make_data, private_vault, tree

MIB = 1 << 20


def interrupt(vm: Vm, sig: signal.Signals, *args: str, started: Callable[[], bool]) -> tuple[int, str]:
    """``vaultlink agent ARGS`` as ``vm``, sent ``sig`` once ``started()``; its exit code and what it printed."""
    proc = subprocess.Popen([VAULTLINK, "agent", *args, "--state-dir", str(vm.state), "--passphrase-file",
                             str(vm.pw)], env=vm.s.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and not started():
        time.sleep(0.02)
    assert proc.poll() is None, "the command ended before the signal could interrupt it: give it more to do"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out + err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_backup_is_aborted_and_resumes(server: Server, tmp_path: Path, sig: signal.Signals) -> None:
    s = server
    _vid, creds = private_vault(s, tmp_path)
    vm = Vm(s, tmp_path, "vm-a", VM)
    assert vm.register(creds, f"127.0.0.1:{s.info['dns_port']}").exit_code == 0
    src = make_data(tmp_path / "src", 480)  # enough that the signal lands mid-backup on a fast machine too
    packs = s.data_dir / "blobs"
    code, said = interrupt(vm, sig, "backup", str(src), "--no-progress",
                           started=lambda: len(list(packs.rglob("packs/*"))) >= 1)  # an 8 MiB pack stored
    assert code == 130 and "Interrupted" in said and "run it again" in said and "Traceback" not in said, said
    [job] = s.ok("job", "list", "prod")
    assert job["status"] == "Aborted" and "interrupted" in job["error"], job
    assert s.ok("recovery-point", "list", "prod") == []

    st = vm.ok("backup", str(src), "--no-progress")["stats"]
    assert st["bytes_new"] <= st["bytes_total"] - 8 * MIB  # the packs uploaded before the interruption stayed
    assert sorted(j["status"] for j in s.ok("job", "list", "prod")) == ["Aborted", "Completed"]


def test_an_interrupted_restore_is_aborted_and_a_second_one_finishes(server: Server, tmp_path: Path) -> None:
    s = server
    _vid, creds = private_vault(s, tmp_path)
    vm = Vm(s, tmp_path, "vm-a", VM)
    assert vm.register(creds, f"127.0.0.1:{s.info['dns_port']}").exit_code == 0
    src = make_data(tmp_path / "src", 320)
    rp = vm.ok("backup", str(src), "--no-progress")["recovery_point"]["id"]
    target = tmp_path / "back"
    staging = tmp_path / "back.vaultlink-partial"  # a new target is made beside it, renamed when complete
    code, said = interrupt(vm, signal.SIGTERM, "restore", rp, "--target", str(target), "--no-progress",
                           started=lambda: sum(f.stat().st_size for f in staging.rglob("*") if f.is_file()) > 0)
    assert code == 130 and "Interrupted" in said and str(staging) in said and "run the same restore" in said, said
    assert not target.exists()
    assert [j["status"] for j in s.ok("job", "list", "prod") if j["type"] == "Restore"] == ["Aborted"]
    vm.ok("restore", rp, "--target", str(target), "--no-progress")
    assert tree(target / "src") == tree(src)
