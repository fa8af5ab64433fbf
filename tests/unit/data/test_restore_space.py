"""A restore that would not fit is refused before anything is written (``InsufficientSpace``), counting only
the files it restores; a file system that reports no size is not checked."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from vaultlink.data import Repository, backup, restore
from vaultlink.errors import InsufficientSpace

TREE_BYTES = 100_000 + 1_200_000  # the conftest tree's files


def _free(monkeypatch: pytest.MonkeyPatch, free: int, blocks: int = 1 << 20) -> None:
    """Every file system reports ``free`` bytes free (in whole 4 KiB blocks, rounded up)."""
    fs = SimpleNamespace(f_blocks=blocks, f_bfree=-(-free // 4096), f_bavail=-(-free // 4096), f_frsize=4096)
    monkeypatch.setattr(os, "statvfs", lambda path: fs)


def test_too_little_space_is_refused_before_anything_is_written(
    tree: Path, repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    res = backup([tree], repo)
    out = tmp_path / "out"
    _free(monkeypatch, TREE_BYTES - 64 * 1024)
    with pytest.raises(InsufficientSpace) as err:
        restore(res.manifest, repo, out)
    assert err.value.code == "InsufficientSpace" and err.value.exit_code == 4
    assert "1.2 MiB" in str(err.value) and "--include" in str(err.value)
    assert not out.exists()  # not even the target directory
    out.mkdir()
    with pytest.raises(InsufficientSpace):
        restore(res.manifest, repo, out)
    assert list(out.iterdir()) == []  # an existing target: no directory, no partial file in it


def test_a_part_that_fits_is_restored(
    tree: Path, repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    res = backup([tree], repo)
    _free(monkeypatch, 200_000)  # room for a.txt (100,000 bytes), not for the whole tree
    st = restore(res.manifest, repo, tmp_path / "out", include="*.txt")
    assert st.files == 1 and (tmp_path / "out/src/docs/a.txt").read_bytes() == (tree / "docs/a.txt").read_bytes()
    with pytest.raises(InsufficientSpace):
        restore(res.manifest, repo, tmp_path / "out2")


def test_enough_space_and_unsized_file_systems_restore(
    tree: Path, repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    res = backup([tree], repo)
    _free(monkeypatch, TREE_BYTES)
    assert restore(res.manifest, repo, tmp_path / "exact").files == 4
    _free(monkeypatch, 0, blocks=0)  # e.g. a FUSE file system that reports nothing
    assert restore(res.manifest, repo, tmp_path / "unsized").files == 4
