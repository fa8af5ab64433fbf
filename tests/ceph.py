"""A real Ceph RADOS Gateway (S3) for the contract suite: ``scripts/start-ceph.sh`` (one monitor, one OSD on
memstore, one radosgw, all on 127.0.0.1) in a directory of the test's own, stopped by PID after."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@dataclass(frozen=True)
class Rgw:
    url: str
    access_key: str
    secret_key: str
    conf: str  # the cluster's ceph.conf, for radosgw-admin


def ceph_rgw() -> Iterator[Rgw]:
    if shutil.which("radosgw") is None:
        pytest.fail("radosgw is missing: scripts/install-system-deps.sh installs ceph-mon, ceph-osd and radosgw")
    root = tempfile.mkdtemp(prefix="vaultlink-ceph-")
    env = {**os.environ, "VAULTLINK_CEPH_DIR": f"{root}/cluster"}
    try:
        for _attempt in range(3):  # a port taken between its choice and its bind: again, new ports
            # one cluster starts at a time on this machine (the test workers each start one)
            with open(Path(tempfile.gettempdir()) / "vaultlink-ceph-start.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                p = subprocess.run(["bash", str(SCRIPTS / "start-ceph.sh")], env=env, capture_output=True,
                                   text=True, timeout=240)
            if p.returncode == 0:
                break
        if p.returncode != 0:
            logs = "".join(f.read_text(errors="replace")[-1500:] for f in Path(root).glob("cluster/log/*"))
            # the logs first, the script's own message (which step failed, and why) last where a tail shows it
            pytest.fail(f"Ceph did not start:\n{logs}\n--- start-ceph.sh said:\n{p.stderr[-3000:]}")
        url, key, secret = p.stdout.split()[-3:]
        yield Rgw(url, key, secret, f"{root}/cluster/ceph.conf")
    finally:
        subprocess.run(["bash", str(SCRIPTS / "stop-ceph.sh")], env=env, capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
