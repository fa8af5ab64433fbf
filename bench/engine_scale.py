"""The backup engine alone at scale: peak memory and time of a first backup and of a full restore of a tree
of many small files, in one process each (``Repository`` on a local blob store: no agent, no network).

    .venv/bin/python bench/engine_scale.py --tree /tmp/vlbackup/vl/data --work /tmp/engine-scale

``--tree`` is a directory of directories (``backup_bench.py --small-files N --keep`` makes one: 1,000 files
a directory); ``--dirs K`` takes the first K of them. Each step runs in a child process of its own under
``getrusage`` so that its peak RSS is its own. The repository and the restored tree are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

PASS = "a-long-bench-passphrase"


def step(mode: str, tree: Path, work: Path, dirs: int) -> dict[str, float]:
    from vaultlink.adapters.blob_local import LocalBlobStore
    from vaultlink.data import Repository, backup, restore

    t = time.monotonic()
    if mode == "backup":
        repo = Repository.init(LocalBlobStore(work / "repo"), PASS)
        roots = sorted(p for p in tree.iterdir() if p.is_dir())[:dirs]
        res = backup(roots, repo)
        (work / "snapshot").write_text(res.name)
        files = res.stats.files
    else:
        repo = Repository.open(LocalBlobStore(work / "repo"), PASS)
        opened = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        files = restore(repo.manifest_reader((work / "snapshot").read_text()), repo, work / "out").files
    out = {"files": files, "seconds": round(time.monotonic() - t, 1),
           "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    if mode == "restore":
        out["rss_after_opening_mib"] = round(opened)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", required=True)
    ap.add_argument("--work", default="/tmp/engine-scale")
    ap.add_argument("--dirs", type=int, default=1_000_000)
    ap.add_argument("--step", choices=["backup", "restore"])
    a = ap.parse_args()
    work = Path(a.work)
    if a.step:
        print(json.dumps(step(a.step, Path(a.tree), work, a.dirs)))
        return
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    try:
        for mode in ("backup", "restore"):
            os.sync()
            p = subprocess.run([sys.executable, __file__, "--tree", a.tree, "--work", str(work), "--dirs",
                                str(a.dirs), "--step", mode], capture_output=True, text=True, check=True)
            print(mode, p.stdout.strip())
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
