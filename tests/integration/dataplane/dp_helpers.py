"""Helpers for the data-plane integration tests (imported by module name)."""

from __future__ import annotations

import os
import random
from pathlib import Path

from dp_world import PASS, DataPlane

from vaultlink.agent.session import Agent, register
from vaultlink.agent.state import load_state


def make_tree(root: Path, seed: int = 1) -> Path:
    rnd = random.Random(seed)
    (root / "docs" / "deep").mkdir(parents=True)
    (root / "docs" / "a.txt").write_bytes(b"the quick brown fox jumps\n" * 20000)
    (root / "docs" / "deep" / "r.bin").write_bytes(rnd.randbytes(1_500_000))
    (root / "docs" / "copy.bin").write_bytes((root / "docs" / "deep" / "r.bin").read_bytes())
    (root / "empty").write_bytes(b"")
    os.symlink("docs/a.txt", root / "link")
    os.chmod(root / "docs" / "a.txt", 0o640)
    return root


def registered(dp: DataPlane, state: Path, hostname: str = "vm1", passphrase: str = PASS) -> Agent:
    register(dp.credentials(), "127.0.0.1", "127.0.0.1:53", state, passphrase, hostname, resolver=dp.resolver)
    return Agent(load_state(state), dp.resolver, retry_for=2.0)


def same_tree(a: Path, b: Path) -> bool:
    for dirpath, dirs, files in os.walk(a):
        rel = os.path.relpath(dirpath, a)
        for name in dirs + files:
            pa, pb = Path(dirpath, name), Path(b, rel, name)
            if pa.is_symlink():
                if not pb.is_symlink() or os.readlink(pa) != os.readlink(pb):
                    return False
            elif pa.is_file():
                if not pb.is_file() or pa.read_bytes() != pb.read_bytes():
                    return False
                if (pa.stat().st_mode, pa.stat().st_mtime_ns) != (pb.stat().st_mode, pb.stat().st_mtime_ns):
                    return False
    return True
