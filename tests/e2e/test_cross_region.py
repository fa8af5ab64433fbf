"""Cross-region restore, the seed's steps: a vault with cross-region restore replicates its data to its paired
region; an AzureBackup_secondary endpoint in the paired region's vnet serves the secondary names (real DNS
from that vnet, public from outside); with the primary region's storage really gone (its blob directory
moved away), a machine of the paired region restores a replicated point from the replica alone."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import VAULTLINK, Server, start_server, stop_server
from tests.e2e.test_azure_story import dig
from tests.e2e.test_data_path import vm as vm_client
from tests.e2e.test_plans import wait_for
from tests.e2e.test_private_backup import Vm, make_data, tree
from tests.e2e.test_retention import refused, setup_machine

DR_VM = "127.12.1.10"  # a machine in dr-net, the paired region's vnet
D = "vaultlink.internal"


def test_cross_region_restore_with_the_primary_storage_down(tmp_path: Path) -> None:
    cfg = tmp_path / "serve.toml"
    cfg.write_text("maintenance_interval = 0.0\nschedule_interval = 0.0\nreplication_interval = 0.0\n")
    s: Server = start_server(tmp_path / "data", extra_args=("--config", str(cfg)))
    try:
        vm_a, _creds = setup_machine(s, tmp_path)
        vid = s.ok("vault", "show", "prod")["id"]
        refused(s.cli("vault", "replicate", "prod"), "CrossRegionRestoreDisabled")
        s.ok("vault", "update", "prod", "--cross-region-restore", "Enabled")
        src = make_data(tmp_path / "src", 8)
        v1 = tree(src)
        rp1 = vm_a.ok("backup", str(src))["recovery_point"]["id"]
        waiting = s.ok("vault", "show", "prod")["replication"]
        assert waiting["state"] == "Replicating" and waiting["pending_points"] == 1 and waiting["lag_seconds"] > 0
        done = s.ok("vault", "replicate", "prod")
        assert done["replicated_points"] == 1 and done["copied_bytes"] > 8 << 20
        assert done["replication"]["state"] == "UpToDate" and done["replication"]["last_replicated_point"] == rp1
        (src / "later.txt").write_text("made after the last replication\n")
        rp2 = vm_a.ok("backup", str(src))["recovery_point"]["id"]
        where = {p["id"]: p["locations"] for p in s.ok("recovery-point", "list", "prod")}
        assert where[rp1]["secondary"] == "local-2" and where[rp1]["replication"] == "Replicated"
        assert where[rp2]["secondary"] is None and where[rp2]["replication"] == "Pending"

        # the paired region: a vnet and an AzureBackup_secondary endpoint with DNS integration
        s.ok("vnet", "create", "dr-net", "--region", "local-2", "--address-space", "127.12.0.0/16",
             "--subnet", "default=127.12.1.0/24")
        ep = s.ok("endpoint", "create", "--name", "pe-dr", "--region", "local-2", "--vault", "prod", "--group-id",
                  "AzureBackup_secondary", "--vnet", "dr-net", "--subnet", "default", "--dns-integration")
        account = s.ok("vault", "show", "prod")["storage_accounts"][0]
        account = account if isinstance(account, str) else account["name"]
        public = f"{vid}.l2.backup.{D}"
        inside = dig(s, public, DR_VM)
        assert inside[0] == f"{vid}.privatelink.l2.backup.{D}." and inside[1] in ep["ips"], inside
        outside = dig(s, public, "127.0.0.1")
        assert outside[0] == f"{vid}.privatelink.l2.backup.{D}." and outside[1] == "127.0.0.1", outside
        blob_inside = dig(s, f"{account}-secondary.blob.{D}", DR_VM)
        assert blob_inside[-1] in ep["ips"] and blob_inside[-1] != inside[1], blob_inside

        # the primary region's storage goes away for real: its blob directory is moved off
        (tmp_path / "data" / "blobs").rename(tmp_path / "primary-down")
        assert vm_a.run("restore", rp1, "--target", str(tmp_path / "primary")).exit_code != 0

        dr_creds = tmp_path / "dr.vaultcredentials"
        assert s.cli("vault", "credentials", "prod", "--secondary", "-o", str(dr_creds), json_out=False).exit_code == 0
        assert json.loads(dr_creds.read_text())["backup_service"] == public
        refused(s.cli("vault", "credentials", "prod", "--secondary", "--scope", "backup", "-o",
                      str(tmp_path / "no.creds")), "InvalidInput")
        vm_dr = Vm(s, tmp_path, "vm-dr", DR_VM)
        reg = vm_dr.register(dr_creds, f"127.0.0.1:{s.info['dns_port']}")
        assert reg.exit_code == 0, reg.stdout + reg.stderr
        refused(s.cli("recovery-point", "restore", rp2, "--container", "vm-dr", "--target", "/x"), "NotReplicated")
        target = tmp_path / "restored-in-local-2"
        job = s.ok("recovery-point", "restore", rp1, "--container", "vm-dr", "--target", str(target))
        run = subprocess.run([VAULTLINK, "agent", "run", "--once", "--state-dir", str(vm_dr.state),
                              "--passphrase-file", str(vm_dr.pw)], env=s.env(), capture_output=True, text=True,
                             timeout=180)
        assert run.returncode == 0, run.stdout + run.stderr
        assert s.ok("job", "show", job["id"])["status"] == "Completed", run.stdout + run.stderr
        assert tree(target / "src") == v1
        assert not (tmp_path / "data" / "blobs").exists(), "nothing read or wrote the primary storage"

        # the paired region's names serve restores only: a write through them is refused and audited
        state = json.loads((vm_dr.state / "state.json").read_text())
        with vm_client(DR_VM) as c:
            put = c.put(f"https://{ep['ips'][-2]}:{s.info['api_port']}/keys/key.7", content=b"x",
                        headers={"Host": f"{account}-secondary.blob.{D}",
                                 "Authorization": f"Bearer {state['credential']}"})
        assert put.status_code == 403 and put.json()["error"]["code"] == "SecondaryReadOnly", put.text
        assert any(e["decision"] == "denied" for e in s.ok("audit", "list", "--code", "SecondaryReadOnly"))
        refused(vm_dr.run("backup", str(src)), "SecondaryReadOnly")  # the pipeline refuses it first
    finally:
        stop_server(s)


def test_replication_runs_on_its_own(tmp_path: Path) -> None:
    """The service replicates every ``replication_interval`` seconds without being asked, and a prune removes
    the replica's copy of what it sweeps."""
    cfg = tmp_path / "serve.toml"
    cfg.write_text("maintenance_interval = 0.0\nschedule_interval = 0.0\nreplication_interval = 0.3\n"
                   "prune_grace_seconds = 0.0\n")
    s = start_server(tmp_path / "data", extra_args=("--config", str(cfg)))
    try:
        vm_a, _creds = setup_machine(s, tmp_path)
        s.ok("vault", "update", "prod", "--cross-region-restore", "Enabled", "--soft-delete", "Disabled")
        src = make_data(tmp_path / "src", 8)
        rp1 = vm_a.ok("backup", str(src))["recovery_point"]["id"]
        for f in src.iterdir():  # rp2 shares nothing with rp1: rp1's packs are only rp1's
            f.unlink()
        (src / "new.txt").write_text("everything changed\n")
        rp2 = vm_a.ok("backup", str(src))["recovery_point"]["id"]
        shown = wait_for("replication", lambda: (lambda r: r if r["state"] == "UpToDate" else None)(
            s.ok("vault", "show", "prod")["replication"]), timeout=30)
        assert shown["last_replicated_point"] == rp2 and shown["lag_seconds"] == 0
        replica = tmp_path / "data" / "replica-blobs" / "local-2"
        before = sum(1 for p in replica.rglob("*") if p.is_file() and "/packs/" in str(p))
        s.ok("recovery-point", "delete", rp1)
        pruned = s.ok("vault", "prune", "prod")
        assert pruned["swept"] >= 1
        after = sum(1 for p in replica.rglob("*") if p.is_file() and "/packs/" in str(p))
        assert after == before - pruned["swept"]
    finally:
        stop_server(s)
