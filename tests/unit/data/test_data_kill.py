"""A backup process killed with SIGKILL leaves no snapshot; the next run reuses its packs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from data_helpers import open_repo, rand_bytes

from vaultlink.adapters.blob_local import LocalBlobStore
from vaultlink.data import backup, check

SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[3])
    from data_helpers import make_repo
    from vaultlink.adapters.blob_local import LocalBlobStore
    from vaultlink.data import backup

    class Slow(LocalBlobStore):
        def put(self, name, data):
            super().put(name, data)
            if name.startswith("packs/"):
                time.sleep(0.3)

    repo = make_repo(Slow(sys.argv[2]))
    backup([sys.argv[1]], repo, workers=2)
    print("finished")
    """
)


def test_sigkill_mid_backup(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(8):
        (src / f"f{i}").write_bytes(rand_bytes(400_000, 200 + i))
    root = tmp_path / "repo"
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(src), str(root), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            packs = (
                [p for p in (root / "packs").glob("*") if "~" not in p.name]
                if (root / "packs").exists()
                else []
            )
            if len(packs) >= 3 or proc.poll() is not None:
                break
            time.sleep(0.02)
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    store = LocalBlobStore(root)
    assert list(store.list("snapshots/")) == []
    before = set(store.list("packs/"))
    assert len(before) >= 3
    repo = open_repo(store)
    res = backup([src], repo)
    assert res.stats.bytes_new < res.stats.bytes_total - 2 * 200_000
    assert before <= set(store.list("packs/"))
    assert check(open_repo(store), read_data=True).ok
