"""Cross-region restore: replication lag after a first backup, and a restore from the paired region versus
one from the primary region, same point, same run.

    .venv/bin/python bench/crr_bench.py [--size-mib 1024] [--dir /tmp/vlcrr] [--keep]

1. Generates the mixed dataset of bench/data_bench.py.
2. A real ``vaultlink serve`` (``replication_interval = 1``) with the private story of bench/backup_bench.py
   and cross-region restore enabled on the vault; the agent CLI backs the dataset up through the private
   endpoint. Replication lag: from the end of the backup until ``vault show`` reports the point replicated
   (polled every 0.1 s), with the pass's copied bytes.
3. Primary-region restore: a restore job of that point onto a second machine of the vault (vm-net),
   ``vaultlink agent run --once`` timed. Then the primary blob directory is moved away (the primary
   region's storage is gone) and a paired-region machine (dr-net, an ``AzureBackup_secondary`` endpoint, a
   ``--secondary`` credentials file) runs the same restore job from the replica, timed the same way.
   Both restores are compared byte for byte with the dataset.
Throughput ratio = primary time / secondary time (target >= 0.9). Not a test; CI never runs it. Every wait
is bounded; traffic goes to 127.0.0.0/8 only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _product import VAULTLINK, Service, fresh_workdir, preflight, remove_tree  # noqa: E402
from backup_bench import VM, private_agent, same_tree, timed  # noqa: E402
from data_bench import PASS, MiB, du, make_dataset  # noqa: E402

VM_B = "127.10.1.101"
DR_VM = "127.12.1.10"


def machine(svc: Service, work: Path, name: str, ip: str, creds: Path) -> tuple[Path, Path]:
    state, pw = work / f"agent-{name}", work / "passphrase"
    pw.write_text(PASS)
    p = subprocess.run([VAULTLINK, "agent", "register", "--state-dir", str(state), "--passphrase-file", str(pw),
                        "--credentials", str(creds), "--source-ip", ip, "--dns", f"127.0.0.1:{svc.info['dns_port']}",
                        "--hostname", name, "-o", "json"], env=svc.env(), capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise SystemExit(f"register {name}: {p.stdout} {p.stderr}")
    return state, pw


def restore_job(svc: Service, rp: str, name: str, state: Path, pw: Path, target: Path) -> float:
    job = svc.cli("recovery-point", "restore", rp, "--container", name, "--target", str(target))

    def run() -> None:
        p = subprocess.run([VAULTLINK, "agent", "run", "--once", "--state-dir", str(state), "--passphrase-file",
                            str(pw)], env=svc.env(), capture_output=True, text=True, timeout=3600)
        if p.returncode != 0:
            raise SystemExit(f"agent run on {name}: {p.stdout} {p.stderr}")

    wall = timed(run)
    status = svc.cli("job", "show", job["id"])["status"]
    if status != "Completed":
        raise SystemExit(f"the restore job on {name} ended {status}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--dir", default="/tmp/vlcrr")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    work = fresh_workdir(a.dir)
    preflight()
    print(f"load average before: {os.getloadavg()}")
    data = work / "data"
    make_dataset(data, a.size_mib * MiB)
    print(f"dataset: {du(data) / MiB:.0f} MiB")
    cfg = work / "serve.toml"
    cfg.write_text("replication_interval = 1.0\nmaintenance_interval = 0.0\nschedule_interval = 0.0\n")
    svc = Service(work / "vl-server", "--config", str(cfg))
    out: dict[str, Any] = {}
    try:
        run, _rss, creds = private_agent(svc, work)
        svc.cli("vault", "update", "bench", "--cross-region-restore", "Enabled")
        run("register", "--credentials", str(creds), "--source-ip", VM, "--dns",
            f"127.0.0.1:{svc.info['dns_port']}", "--hostname", "bench-vm")
        res: dict[str, Any] = {}
        out["backup"] = timed(lambda: res.update(b=run("backup", "--no-progress", str(data))))
        done_at = time.perf_counter()
        rp = res["b"]["recovery_point"]["id"]
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            rep = svc.cli("vault", "show", "bench")["replication"]
            if rep["state"] == "UpToDate" and rep["last_replicated_point"] == rp:
                break
            time.sleep(0.1)
        else:
            raise SystemExit("replication did not finish in 600 s")
        out["lag"] = time.perf_counter() - done_at
        out["replica_bytes"] = du(svc.data_dir / "replica-blobs")

        vm_b, pw = machine(svc, work, "vm-b", VM_B, creds)
        out["primary_restore"] = restore_job(svc, rp, "vm-b", vm_b, pw, work / "restored-primary")
        out["primary_ok"] = same_tree(data, work / "restored-primary" / data.name)

        svc.cli("vnet", "create", "dr-net", "--region", "local-2", "--address-space", "127.12.0.0/16",
                "--subnet", "default=127.12.1.0/24")
        svc.cli("endpoint", "create", "--name", "pe-dr", "--region", "local-2", "--vault", "bench", "--group-id",
                "AzureBackup_secondary", "--vnet", "dr-net", "--subnet", "default", "--dns-integration")
        dr_creds = work / "dr.vaultcredentials"
        p = subprocess.run([VAULTLINK, "vault", "credentials", "bench", "--secondary", "-o", str(dr_creds)],
                           env=svc.env(), capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise SystemExit(p.stdout + p.stderr)
        vm_dr, pw = machine(svc, work, "vm-dr", DR_VM, dr_creds)
        (svc.data_dir / "blobs").rename(work / "primary-storage-down")  # the primary region's storage is gone
        out["secondary_restore"] = restore_job(svc, rp, "vm-dr", vm_dr, pw, work / "restored-secondary")
        out["secondary_ok"] = same_tree(data, work / "restored-secondary" / data.name)
        out["primary_storage_untouched"] = not (svc.data_dir / "blobs").exists()
    finally:
        svc.stop()
    print(f"load average after: {os.getloadavg()}")
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}))
    size = du(data)
    print()
    print("| figure | value | target |")
    print("|---|---|---|")
    print(f"| backup through the private endpoint | {out['backup']:.1f} s | |")
    print(f"| replication lag after the backup ({out['replica_bytes'] / MiB:.0f} MiB copied) | {out['lag']:.1f} s | |")
    print(f"| primary-region restore (restore job, agent run --once) | {out['primary_restore']:.1f} s, "
          f"{size / MiB / out['primary_restore']:.0f} MiB/s | |")
    print(f"| secondary-region restore (primary storage moved away) | {out['secondary_restore']:.1f} s, "
          f"{size / MiB / out['secondary_restore']:.0f} MiB/s | |")
    print(f"| secondary / primary throughput | {out['primary_restore'] / out['secondary_restore']:.2f} x | >= 0.9 x |")
    print(f"files identical: primary {out['primary_ok']}, secondary {out['secondary_ok']}; primary storage "
          f"untouched by the secondary restore: {out['primary_storage_untouched']}")
    if not a.keep:
        remove_tree(work)
    if not (out["primary_ok"] and out["secondary_ok"]):
        raise SystemExit("a restore differs from the dataset")


if __name__ == "__main__":
    main()
