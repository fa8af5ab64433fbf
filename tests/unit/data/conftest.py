"""Fixtures for the backup engine tests: small chunks and packs keep them fast."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from data_helpers import make_repo, rand_bytes

from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.data import Repository


@pytest.fixture
def store() -> MemoryBlobStore:
    return MemoryBlobStore()


@pytest.fixture
def repo(store: MemoryBlobStore) -> Repository:
    return make_repo(store)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small tree: text, random data, empty file, nested dirs, symlinks, odd modes."""
    src = tmp_path / "src"
    (src / "docs" / "deep").mkdir(parents=True)
    (src / "docs" / "a.txt").write_bytes(b"the quick brown fox\n" * 5000)
    (src / "docs" / "deep" / "r.bin").write_bytes(rand_bytes(600_000, 1))
    (src / "empty").write_bytes(b"")
    (src / "docs" / "copy.bin").write_bytes(rand_bytes(600_000, 1))
    os.symlink("docs/a.txt", src / "link")
    os.symlink("/nonexistent/target", src / "dangling")
    os.chmod(src / "docs" / "a.txt", 0o640)
    os.chmod(src / "docs" / "deep", 0o750)
    os.utime(src / "docs" / "a.txt", ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    return src
