"""Restore anywhere within a vault: a recovery point of machine A restored onto machine B by a restore job
that B's `vaultlink agent run` takes through its private endpoint, under a grant that covers exactly that
point's data for the job's lifetime."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import VAULTLINK, Server
from tests.e2e.test_data_path import vm as vm_client
from tests.e2e.test_plans import wait_for
from tests.e2e.test_private_backup import Vm, make_data, tree
from tests.e2e.test_retention import VM_B, Clock, refused, setup_machine, world

__all__ = ["world"]


def blob(s: Server, machine: Vm, name: str, job: str | None, method: str = "GET",
         content: bytes | None = None) -> httpx.Response:
    state = json.loads((machine.state / "state.json").read_text())
    ip = s.ok("endpoint", "show", "pe1")["ips"][0]
    headers = {"Host": f"{state['write_account']}.blob.vaultlink.internal",
               "Authorization": f"Bearer {state['credential']}"}
    if job:
        headers["X-Vaultlink-Restore-Job"] = job
    with vm_client(machine.source_ip) as c:
        return c.request(method, f"https://{ip}:{s.info['api_port']}/{name}", headers=headers, content=content)


def test_a_point_of_one_machine_restores_on_another(world: tuple[Server, Clock], tmp_path: Path) -> None:
    s, clock = world
    vm_a, creds = setup_machine(s, tmp_path)
    src = make_data(tmp_path / "src", 8)
    rp = vm_a.ok("backup", str(src))["recovery_point"]
    other = vm_a.ok("backup", str(make_data(tmp_path / "other", 4, seed=5)))["recovery_point"]
    vm_b = Vm(s, tmp_path, "vm-b", VM_B)
    assert vm_b.register(creds, f"127.0.0.1:{s.info['dns_port']}").exit_code == 0
    refused(vm_b.run("restore", rp["id"], "--target", str(tmp_path / "direct")), "RecoveryPointNotFound")

    target = tmp_path / "restored-on-b"
    job = s.ok("recovery-point", "restore", rp["id"], "--container", "vm-b", "--target", str(target))
    assert job["status"] == "Created" and job["container_id"] != rp["container_id"]
    manifest = s.ok("recovery-point", "show", rp["id"])["manifest"]
    other_manifest = s.ok("recovery-point", "show", other["id"])["manifest"]
    # while the job is open, B may read exactly that point's data, and nothing else, and write nothing
    a_state = json.loads((vm_a.state / "state.json").read_text())
    assert blob(s, vm_b, manifest, job["id"]).status_code == 200
    assert blob(s, vm_b, manifest, None).status_code == 404  # its own namespace holds no such blob
    assert blob(s, vm_b, other_manifest, job["id"]).json()["error"]["code"] == "AccessDenied"
    put = blob(s, vm_b, "keys/key.9", job["id"], "PUT", b"x")
    assert put.status_code == 403 and put.json()["error"]["code"] == "AccessDenied"
    assert blob(s, vm_a, manifest, job["id"]).json()["error"]["code"] == "AccessDenied"  # not A's job
    assert a_state["container_id"] == rp["container_id"]

    log = open(tmp_path / "b-run.log", "w")  # noqa: SIM115 - the agent writes to it until stopped
    agent = subprocess.Popen([VAULTLINK, "agent", "run", "--state-dir", str(vm_b.state), "--passphrase-file",
                              str(vm_b.pw), "--poll", "0.3"], env=s.env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        done: dict[str, Any] = wait_for("the restore job", lambda: (lambda j: j if j["status"] in (
            "Completed", "Failed") else None)(s.ok("job", "show", job["id"])))
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=60)
        log.close()
    assert done["status"] == "Completed", (tmp_path / "b-run.log").read_text()
    assert tree(target / "src") == tree(src)
    # the grant ended with the job
    ended = blob(s, vm_b, manifest, job["id"])
    assert ended.status_code == 403 and "grant has ended" in ended.json()["error"]["message"]
    evs = [e for e in s.ok("audit", "list", "--code", "AccessDenied") if e.get("source_ip") == VM_B]
    assert evs, "the refusals under the grant are audited"

    # a backup-only machine takes no restore; a job nobody takes expires, and its grant with it
    refused(s.cli("recovery-point", "restore", rp["id"], "--container", "nobody", "--target", "/x"), "NotFound")
    refused(s.cli("recovery-point", "restore", rp["id"], "--container", "vm-b", "--target", "relative"),
            "InvalidInput")
    late = s.ok("recovery-point", "restore", rp["id"], "--container", "vm-b", "--target", str(tmp_path / "late"))
    clock.advance(1.1)
    expired = wait_for("the expiry", lambda: (lambda j: j if j["status"] == "EXPIRED" else None)(
        s.ok("job", "show", late["id"])), timeout=20)
    assert expired["error"]
    assert blob(s, vm_b, manifest, late["id"]).status_code == 403
    creds_c = tmp_path / "backup-only.creds"
    assert s.cli("vault", "credentials", "prod", "--scope", "backup", "-o", str(creds_c), json_out=False).exit_code == 0
    assert Vm(s, tmp_path, "vm-c", "127.10.1.12").register(creds_c, f"127.0.0.1:{s.info['dns_port']}").exit_code == 0
    refused(s.cli("recovery-point", "restore", rp["id"], "--container", "vm-c", "--target", "/x"),
            "RegistrationScopeDenied")


def test_cross_subscription_restore_through_an_approved_endpoint(world: tuple[Server, Clock], tmp_path: Path) -> None:
    """The seed's steps: the source vault gets a private endpoint in the target account's vnet (Pending until
    the vault's owner approves), a machine there registers restore-only, the source side restores onto it."""
    s, _clock = world
    vm_a, _creds = setup_machine(s, tmp_path)
    src = make_data(tmp_path / "src", 4)
    rp = vm_a.ok("backup", str(src))["recovery_point"]
    vault_arn = s.ok("vault", "show", "prod")["arn"]
    kb = s.ok("account", "create", "tenant-b")["owner_api_key"]
    s.ok("vnet", "create", "tb-net", "--region", "local-1", "--address-space", "127.30.0.0/16",
         "--subnet", "default=127.30.1.0/24", api_key=kb)
    ep = s.ok("endpoint", "create", "--name", "tb-pe", "--region", "local-1", "--vault", vault_arn, "--group-id",
              "AzureBackup", "--vnet", "tb-net", "--subnet", "default", "--dns-integration", api_key=kb)
    assert ep["status"] == "Pending"
    s.ok("endpoint", "connection", "approve", ep["id"], "--vault", "prod", "--description", "restore drill")
    creds = tmp_path / "restore-only.creds"
    r = s.cli("vault", "credentials", "prod", "--scope", "restore", "-o", str(creds), json_out=False)
    assert r.exit_code == 0, r.stderr
    tb = Vm(s, tmp_path, "tb-vm", "127.30.1.10")
    reg = tb.register(creds, f"127.0.0.1:{s.info['dns_port']}")
    assert reg.exit_code == 0, reg.stdout + reg.stderr
    # the target account's owner has no role on the source vault
    refused(s.cli("recovery-point", "restore", rp["id"], "--container", "tb-vm", "--target", "/x", api_key=kb),
            "AccessDenied")
    assert [e for e in s.ok("audit", "list", "--code", "AccessDenied", "--action", "recovery.restore")
            if e["decision"] == "denied"]
    target = tmp_path / "in-tenant-b"
    job = s.ok("recovery-point", "restore", rp["id"], "--container", "tb-vm", "--target", str(target))
    run = subprocess.run([VAULTLINK, "agent", "run", "--once", "--state-dir", str(tb.state), "--passphrase-file",
                          str(tb.pw)], env=s.env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert s.ok("job", "show", job["id"])["status"] == "Completed", run.stdout
    assert tree(target / "src") == tree(src)
    refused(tb.run("backup", str(src)), "RegistrationScopeDenied")  # restore-only: it never writes

    # one file of the point (the paths `agent ls` shows); a pattern the service refuses starts no job
    one = tmp_path / "one-file"
    job = s.ok("recovery-point", "restore", rp["id"], "--container", "tb-vm", "--target", str(one),
               "--include", "src/notes.txt")
    assert job["include"] == ["src/notes.txt"]
    refused(s.cli("recovery-point", "restore", rp["id"], "--container", "tb-vm", "--target", str(one),
                  "--include", "/"), "InvalidInput")
    run = subprocess.run([VAULTLINK, "agent", "run", "--once", "--state-dir", str(tb.state), "--passphrase-file",
                          str(tb.pw)], env=s.env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and s.ok("job", "show", job["id"])["status"] == "Completed", run.stdout
    assert sorted(str(p.relative_to(one)) for p in one.rglob("*")) == ["src", "src/notes.txt"]
    assert (one / "src" / "notes.txt").read_bytes() == (src / "notes.txt").read_bytes()
    # the point less what --exclude matches (the rules of `backup --exclude`)
    less = tmp_path / "less"
    job = s.ok("recovery-point", "restore", rp["id"], "--container", "tb-vm", "--target", str(less),
               "--exclude", "*.bin")
    assert job["exclude"] == ["*.bin"] and "include" not in job
    refused(s.cli("recovery-point", "restore", rp["id"], "--container", "tb-vm", "--target", str(less),
                  "--exclude", "x" * 4097), "InvalidInput")
    run = subprocess.run([VAULTLINK, "agent", "run", "--once", "--state-dir", str(tb.state), "--passphrase-file",
                          str(tb.pw)], env=s.env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and s.ok("job", "show", job["id"])["status"] == "Completed", run.stdout
    assert sorted(str(p.relative_to(less)) for p in less.rglob("*")) == ["src", "src/notes.txt"]


def test_copy_to_another_region_s_vault_then_restore_from_the_copy(world: tuple[Server, Clock],
                                                                     tmp_path: Path) -> None:
    s, _clock = world
    vm_a, _creds = setup_machine(s, tmp_path)
    src = make_data(tmp_path / "src", 8)
    rp = vm_a.ok("backup", str(src))["recovery_point"]
    s.ok("vault", "create", "dr", "--region", "local-2")
    s.ok("vault", "lock", "put", "dr", "--min-retention-days", "7")
    refused(s.cli("recovery-point", "copy", rp["id"], "--to", "dr", "--delete-after-days", "3"),
            "RetentionOutsideLock")
    assert s.ok("vault", "usage", "dr")["packs"] == 0  # refused before any byte moved
    out = s.ok("recovery-point", "copy", rp["id"], "--to", "dr", "--delete-after-days", "10")
    copy = out["recovery_point"]
    assert copy["vault_name"] == "dr" and copy["copied_from"] == rp["arn"] and copy["copied_bytes"] > 0
    assert [c["id"] for c in s.ok("recovery-point", "show", rp["id"])["copies"]] == [copy["id"]]
    again = s.ok("recovery-point", "copy", rp["id"], "--to", "dr", "--delete-after-days", "10")
    assert again["recovery_point"]["copied_bytes"] == 0  # what is there already is not copied again
    queued = s.ok("recovery-point", "copy", rp["id"], "--to", "dr", "--no-wait")["job"]  # answered once queued
    assert queued["status"] == "Created" and queued["type"] == "Copy" and not queued["recovery_point_id"]
    assert wait_for("the queued copy", lambda: s.ok("job", "show", queued["id"])["status"] == "Completed")

    # the source point and its data go; the copy restores on its own, in the other region
    s.ok("vault", "update", "prod", "--soft-delete", "Disabled")
    s.ok("recovery-point", "delete", rp["id"])
    s.ok("vault", "prune", "prod")
    s.ok("vnet", "create", "dr-net", "--region", "local-2", "--address-space", "127.40.0.0/16",
         "--subnet", "default=127.40.1.0/24")
    s.ok("endpoint", "create", "--name", "dr-pe", "--region", "local-2", "--vault", "dr", "--group-id",
         "AzureBackup", "--vnet", "dr-net", "--subnet", "default", "--dns-integration")
    creds = tmp_path / "dr.creds"
    assert s.cli("vault", "credentials", "dr", "-o", str(creds), json_out=False).exit_code == 0
    dr_vm = Vm(s, tmp_path, "dr-vm", "127.40.1.10")
    reg = dr_vm.register(creds, f"127.0.0.1:{s.info['dns_port']}")
    assert reg.exit_code == 0, reg.stdout + reg.stderr
    target = tmp_path / "from-the-copy"
    job = s.ok("recovery-point", "restore", copy["id"], "--container", "dr-vm", "--target", str(target))
    run = subprocess.run([VAULTLINK, "agent", "run", "--once", "--state-dir", str(dr_vm.state), "--passphrase-file",
                          str(dr_vm.pw)], env=s.env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and s.ok("job", "show", job["id"])["status"] == "Completed", run.stdout
    assert tree(target / "src") == tree(src)
    refused(s.cli("recovery-point", "delete", copy["id"]), "RecoveryPointLocked")  # the destination's lock
