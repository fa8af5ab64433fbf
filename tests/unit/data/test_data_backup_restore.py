from __future__ import annotations

import filecmp
import importlib
import os
import stat
from pathlib import Path

import pytest
from data_helpers import open_repo, rand_bytes

from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.data import Chunker, Progress, Repository, backup, restore
from vaultlink.data.backup_io import BackupStats
from vaultlink.data.tree import Unreadable
from vaultlink.errors import AlreadyExists, InvalidInput, NotFound, WrongPassphrase


def _same_tree(a: Path, b: Path) -> None:
    cmp = filecmp.dircmp(a, b)
    assert not cmp.left_only and not cmp.right_only and not cmp.diff_files and not cmp.funny_files, (
        cmp.report()
    )
    for sub in cmp.common_dirs:
        _same_tree(a / sub, b / sub)


def test_a_no_change_backup_ends_its_progress_at_100_percent(tree: Path, repo: Repository) -> None:
    """Unchanged files are done without being read: the bar must not end at 0 % (as it did) on a backup that
    found nothing new."""
    first = backup([tree], repo)
    seen: list[Progress] = []
    res = backup([tree], repo, previous_manifest=repo.load_manifest(first.name), progress=seen.append)
    assert res.stats.files_unchanged == 4 and res.stats.bytes_read == 0
    assert seen[-1].bytes_done == seen[-1].bytes_total == 1_300_000 and seen[-1].files_done == 4


def test_roundtrip_restores_content_links_modes_mtimes(tree: Path, repo: Repository, tmp_path: Path) -> None:
    seen: list[Progress] = []
    res = backup([tree], repo, progress=seen.append)
    assert res.stats.files == 4 and res.stats.dirs == 3 and res.stats.symlinks == 2
    assert res.stats.bytes_total == 100_000 + 1_200_000
    assert res.stats.bytes_new < res.stats.bytes_total  # copy.bin deduplicated
    assert res.stats.dedup_ratio > 1.5
    assert seen and seen[-1].bytes_done == res.stats.bytes_read
    out = tmp_path / "out"
    m = open_repo(repo.store).load_manifest(res.name)
    st = restore(m, open_repo(repo.store), out)
    assert st.files == 4 and st.symlinks == 2 and not st.damaged
    got = out / "src"
    _same_tree(tree, got)
    assert os.readlink(got / "link") == "docs/a.txt"
    assert os.readlink(got / "dangling") == "/nonexistent/target"
    assert stat.S_IMODE(os.stat(got / "docs" / "a.txt").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(got / "docs" / "deep").st_mode) == 0o750
    assert os.stat(got / "docs" / "a.txt").st_mtime_ns == 1_600_000_000_123_456_789
    for p in ["docs", "docs/deep", "empty", "docs/deep/r.bin"]:
        assert os.lstat(got / p).st_mtime_ns == os.lstat(tree / p).st_mtime_ns, p
    assert os.lstat(got / "link").st_mtime_ns == os.lstat(tree / "link").st_mtime_ns


def test_include_pattern_restores_subset(tree: Path, repo: Repository, tmp_path: Path) -> None:
    res = backup([tree], repo)
    restore(res.manifest, repo, tmp_path / "out", include="src/docs/deep")
    files = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*"))
    assert files == ["src", "src/docs", "src/docs/deep", "src/docs/deep/r.bin"]
    restore(res.manifest, repo, tmp_path / "out2", include=["*.txt"])
    assert (tmp_path / "out2/src/docs/a.txt").exists() and not (tmp_path / "out2/src/empty").exists()
    with pytest.raises(NotFound, match=r"matches --include '/.*/src/docs'.*such as 'src', 'src/") as exc:
        restore(res.manifest, repo, tmp_path / "out3", include=[str(tree / "docs")])  # an absolute path: a mistake
    assert exc.value.field == "include" and "agent ls" in exc.value.message
    assert not (tmp_path / "out3").exists(), "a restore of nothing makes no target"


def test_unchanged_files_are_skipped_by_metadata(tree: Path, repo: Repository) -> None:
    first = backup([tree], repo)
    second = backup([tree], repo, first.manifest)
    assert second.stats.bytes_read == 0 and second.stats.files_unchanged == 4
    assert second.stats.bytes_new == 0 and second.stats.packs == 0
    assert [n.chunks for n in second.manifest.nodes] == [n.chunks for n in first.manifest.nodes]
    (tree / "docs" / "a.txt").write_bytes(b"changed\n" * 10)
    third = backup([tree], repo, second.manifest)
    assert third.stats.files_unchanged == 3
    assert third.stats.bytes_read == 80


def test_shifted_copy_deduplicates(tmp_path: Path, repo: Repository) -> None:
    src = tmp_path / "s"
    src.mkdir()
    base = rand_bytes(2_000_000, 3)
    (src / "a.bin").write_bytes(base)
    first = backup([src], repo)
    (src / "b.bin").write_bytes(b"a few inserted bytes" + base[:1_000_000] + b"more" + base[1_000_000:])
    second = backup([src], repo, first.manifest)
    assert second.stats.bytes_read == 2_000_024
    assert second.stats.bytes_new < 400_000  # only chunks around the two edits are new


def test_open_with_wrong_passphrase_or_no_repo(repo: Repository) -> None:
    with pytest.raises(WrongPassphrase):
        Repository.open(repo.store, "a wrong but long passphrase")
    with pytest.raises(NotFound):
        Repository.open(MemoryBlobStore(), "a wrong but long passphrase")
    with pytest.raises(AlreadyExists):
        Repository.init(repo.store, "another passphrase here", log_n=10)


def test_backup_input_errors(tmp_path: Path, repo: Repository) -> None:
    with pytest.raises(NotFound):
        backup([tmp_path / "missing"], repo)
    (tmp_path / "a" / "x").mkdir(parents=True)
    (tmp_path / "b" / "x").mkdir(parents=True)
    with pytest.raises(InvalidInput, match="named 'x'"):
        backup([tmp_path / "a" / "x", tmp_path / "b" / "x"], repo)
    assert repo.list_manifests() == []


def test_unreadable_file_is_reported_not_fatal(
    tree: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Chunker.cut_file

    def cut_file(self: Chunker, path: str, *a: object, **k: object) -> object:
        if str(path).endswith("a.txt"):
            raise PermissionError(13, "Permission denied")
        return real(self, path, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(Chunker, "cut_file", cut_file)
    res = backup([tree], repo)
    assert [p for p, _ in res.stats.errors] == [str(tree / "docs" / "a.txt")]
    assert "src/docs/a.txt" not in {n.path for n in res.manifest.nodes}
    assert res.stats.files == 3


def test_single_file_root_and_multiple_roots(tmp_path: Path, repo: Repository) -> None:
    (tmp_path / "one.txt").write_bytes(b"1")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "two").write_bytes(b"22")
    res = backup([tmp_path / "one.txt", tmp_path / "d"], repo)
    restore(res.manifest, repo, tmp_path / "out")
    assert (tmp_path / "out" / "one.txt").read_bytes() == b"1"
    assert (tmp_path / "out" / "d" / "two").read_bytes() == b"22"


def test_large_file_path_uses_many_packs(tmp_path: Path, repo: Repository) -> None:
    b = importlib.import_module("vaultlink.data.backup")

    (tmp_path / "s").mkdir()
    data = rand_bytes(3_000_000, 11)
    (tmp_path / "s" / "big").write_bytes(data)
    old, b.SMALL_FILE = b.SMALL_FILE, 100_000  # force the fan-out path
    try:
        res = backup([tmp_path / "s"], repo, workers=3)
    finally:
        b.SMALL_FILE = old
    assert res.stats.packs >= 8
    restore(res.manifest, open_repo(repo.store), tmp_path / "o")
    assert (tmp_path / "o" / "s" / "big").read_bytes() == data


def test_what_a_backup_cannot_read_is_counted_in_full_and_kept_bounded() -> None:
    """A tree of a million unreadable files must not be held in the agent nor sent whole with the job's end."""
    left = Unreadable()
    left.extend((f"/src/f{i}", "Permission denied") for i in range(Unreadable.KEEP * 3))
    assert len(left) == 3 * Unreadable.KEEP and len(list(left)) == Unreadable.KEEP
    st = BackupStats(errors=left).to_dict()
    assert st["error_count"] == 3 * Unreadable.KEEP and len(st["errors"]) == Unreadable.KEEP
    assert st["errors"][0] == {"path": "/src/f0", "error": "Permission denied"}
