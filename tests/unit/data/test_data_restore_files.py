"""How restore writes files: complete files only under their real names, O_DIRECT and buffered paths
byte-identical, bounded open files, stale partial files from a killed restore replaced."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import pytest
from data_helpers import make_repo, open_repo, rand_bytes

from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.data import Manifest, Repository, backup, restore
from vaultlink.errors import CorruptData, StoreError, UnsafePath

PARTIAL = ".vaultlink-partial"
restore_mod = importlib.import_module("vaultlink.data.restore_files")


def _mixed_tree(root: Path) -> dict[str, bytes]:
    want = {
        "big.bin": rand_bytes(1_500_000, 3),
        "text.txt": b"line of text, compressible\n" * 40_000,
        "odd.bin": rand_bytes(333_333, 4),
        "tiny": b"x",
        "empty": b"",
        "d/dup.bin": rand_bytes(1_500_000, 3),  # same chunks as big.bin, another file
        "d/shift.bin": b"123" + rand_bytes(1_500_000, 3),
    }
    for rel, data in want.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return want


def _tree(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("direct", [True, False])
def test_direct_and_buffered_writes_restore_identical_files(
    tmp_path: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch, direct: bool
) -> None:
    monkeypatch.setattr(restore_mod, "DIRECT_MIN", 8192)  # the test chunks are small: use O_DIRECT for them
    want = _mixed_tree(tmp_path / "s")
    res = backup([tmp_path / "s"], repo)
    restore(res.manifest, open_repo(repo.store), tmp_path / "o", direct=direct)
    got = _tree(tmp_path / "o" / "s")
    assert got == want
    assert not [p for p in (tmp_path / "o").rglob("*") if p.name.endswith(PARTIAL)]


def test_open_files_are_bounded_and_files_still_identical(
    tmp_path: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(restore_mod, "MAX_OPEN", 2)
    monkeypatch.setattr(restore_mod, "DIRECT_MIN", 8192)
    want = _mixed_tree(tmp_path / "s")
    for i in range(12):
        (tmp_path / "s" / f"f{i}").write_bytes(rand_bytes(200_000 + i, 50 + i))
        want[f"f{i}"] = rand_bytes(200_000 + i, 50 + i)
    res = backup([tmp_path / "s"], repo)
    restore(res.manifest, open_repo(repo.store), tmp_path / "o", workers=6)
    assert _tree(tmp_path / "o" / "s") == want


class DyingStore(MemoryBlobStore):
    """Fails (like a killed connection) on the n-th range read of a pack."""

    def __init__(self, src: MemoryBlobStore, fail_at: int) -> None:
        super().__init__()
        for name in src.list():
            self.put(name, src.get(name))
        self.fail_at, self.reads = fail_at, 0

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        if name.startswith("packs/"):
            self.reads += 1
            if self.reads == self.fail_at:
                raise StoreError("simulated crash")
        return super().get_range(name, offset, length)


@pytest.mark.parametrize("existing", [True, False], ids=["into-an-existing-directory", "into-a-new-one"])
def test_interrupted_restore_never_leaves_an_incomplete_file_under_its_name(tmp_path: Path, existing: bool) -> None:
    """Into a directory that exists, each file is written under a temporary name; a new target is made whole
    under one (``o.vaultlink-partial``), so ``o`` itself appears only complete."""
    src = tmp_path / "s"
    src.mkdir()
    want = {f"f{i}": rand_bytes(150_000, 200 + i) for i in range(8)}
    for k, v in want.items():
        (src / k).write_bytes(v)
    store = MemoryBlobStore()
    repo = make_repo(store)
    res = backup([src], repo, workers=1)
    out = tmp_path / "o"
    if existing:
        out.mkdir()
    with pytest.raises(StoreError) as e:
        restore(res.manifest, open_repo(DyingStore(store, fail_at=3)), out, workers=1)
    if existing:
        names = {p.name for p in (out / "s").iterdir()}
        complete = {n for n in names if not n.endswith(PARTIAL)}
        assert complete != set(want)  # it really stopped midway
        for n in complete:  # whatever carries a real name is whole
            assert (out / "s" / n).read_bytes() == want[n]
    else:
        assert not out.exists()  # nothing under the target's name, and the error says where the files are
        staged = tmp_path / ("o" + PARTIAL)
        assert str(staged) in str(e.value) and "run the same restore again" in str(e.value)
        assert e.value.details["partial_target"] == str(staged)
        got = {p.name: p.read_bytes() for p in (staged / "s").iterdir()}
        assert got != want  # it really stopped midway (a file may exist there before it is whole)
    # running it again replaces the partial files and completes the restore
    restore(res.manifest, open_repo(store), out)
    assert _tree(out / "s") == want
    assert not (tmp_path / ("o" + PARTIAL)).exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(PARTIAL)]


def test_a_new_target_is_written_without_a_rename_per_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files in a new target are written under their own names (the target is renamed once, when complete);
    owner and mode are set only where the new file's differ."""
    src = tmp_path / "s"
    src.mkdir()
    for i in range(30):
        (src / f"f{i}").write_bytes(rand_bytes(1000 + i, i))
        os.chmod(src / f"f{i}", 0o600 if i % 3 else 0o751)
    (src / "big").write_bytes(rand_bytes(700_000, 99))  # several chunks: the descriptor path
    os.chmod(src / "big", 0o640)
    store = MemoryBlobStore()
    res = backup([src], make_repo(store))
    calls: dict[str, int] = {"rename": 0, "fchmod": 0, "fchown": 0}

    def counted(name: str) -> Any:
        real = getattr(os, name)

        def call(*a: Any, **k: Any) -> Any:
            calls[name] += 1
            return real(*a, **k)

        return call

    for name in calls:
        monkeypatch.setattr(os, name, counted(name))
    old = os.umask(0o022)
    try:
        restore(res.manifest, open_repo(store), tmp_path / "o")
    finally:
        os.umask(old)
    assert calls["rename"] == 1  # the target, once
    assert calls["fchown"] == (os.geteuid() == 0)  # the directory "s" (as root): every file is the user's already
    # small files are made with their modes (0o600 and 0o751 pass a 0o022 umask whole); the multi-chunk file is
    # made 0o600 (it may be reopened for writing) and changed once; directories get theirs at the end ("s")
    assert calls["fchmod"] == 2
    for i in range(30):
        st = os.stat(tmp_path / "o" / "s" / f"f{i}")
        assert (st.st_mode & 0o7777, st.st_mtime_ns) == (0o600 if i % 3 else 0o751, (src / f"f{i}").stat().st_mtime_ns)
    assert (tmp_path / "o" / "s" / "big").stat().st_mode & 0o777 == 0o640
    assert _tree(tmp_path / "o" / "s") == {p.name: p.read_bytes() for p in src.iterdir()}


def test_damaged_file_is_left_as_partial_not_under_its_name(tmp_path: Path) -> None:
    src = tmp_path / "s"
    src.mkdir()
    (src / "good").write_bytes(b"fine " * 1000)
    (src / "bad").write_bytes(rand_bytes(300_000, 9))  # several chunks: the others are written
    store = MemoryBlobStore()
    repo = make_repo(store)
    res = backup([src], repo)
    m: Manifest = res.manifest
    bad = next(n for n in m.nodes if n.path.endswith("/bad"))
    loc = repo.index.lookup(bad.chunks[0])
    assert loc is not None
    blob = bytearray(store.get(loc.pack))
    blob[loc.offset + loc.length // 2] ^= 0xFF
    store.put(loc.pack, bytes(blob))
    with pytest.raises(CorruptData, match="bad") as e:
        restore(m, open_repo(store), tmp_path / "o")
    assert e.value.details["files"] == [bad.path]
    assert (tmp_path / "o" / "s" / "good").read_bytes() == b"fine " * 1000
    assert not (tmp_path / "o" / "s" / "bad").exists()
    assert (tmp_path / "o" / "s" / ("bad" + PARTIAL)).exists()


def test_existing_file_is_replaced_and_metadata_applied(tmp_path: Path, repo: Repository) -> None:
    src = tmp_path / "s"
    src.mkdir()
    (src / "f").write_bytes(b"new content")
    os.chmod(src / "f", 0o640)
    os.utime(src / "f", ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))
    res = backup([src], repo)
    (tmp_path / "o" / "s").mkdir(parents=True)
    (tmp_path / "o" / "s" / "f").write_bytes(b"an older, longer version of the file")
    (tmp_path / "o" / "s" / ("f" + PARTIAL)).write_bytes(b"stale partial from a killed restore")
    restore(res.manifest, repo, tmp_path / "o")
    st = os.stat(tmp_path / "o" / "s" / "f")
    assert (tmp_path / "o" / "s" / "f").read_bytes() == b"new content"
    assert (st.st_mode & 0o777, st.st_mtime_ns) == (0o640, 1_500_000_000_000_000_000)
    assert not (tmp_path / "o" / "s" / ("f" + PARTIAL)).exists()


def test_a_directory_moved_away_as_it_is_made_is_a_clean_refusal(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The race the hostile tier's swapper can win: the restore makes a directory, something renames it away
    before the restore opens it. The walk answers UnsafePath (nothing written through it), not a raw
    FileNotFoundError."""
    from vaultlink.data import restore_target
    from vaultlink.errors import UnsafePath

    target = tmp_path / "t"
    target.mkdir()
    tgt = restore_target.Target(str(target))
    real_mkdir = os.mkdir

    def mkdir_then_moved(path: str, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
        real_mkdir(path, mode, dir_fd=dir_fd)
        os.rename(path, path + ".moved", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)

    monkeypatch.setattr(restore_target.os, "mkdir", mkdir_then_moved)
    with pytest.raises(UnsafePath, match="moved away as it was made"):
        tgt.ensure_dir("src/d0")
    monkeypatch.setattr(restore_target.os, "mkdir", real_mkdir)
    with pytest.raises(FileNotFoundError), tgt.dir("nowhere", create=False):  # without create: as it is
        pass
    tgt.close()


def test_a_planted_staging_symlink_is_refused_and_nothing_is_written_through_it(tmp_path: Path) -> None:
    """``o.vaultlink-partial`` placed as a symlink before a restore into a new ``o``: refused, its target untouched."""
    src = tmp_path / "s"
    src.mkdir()
    (src / "f").write_bytes(b"restored content")
    store = MemoryBlobStore()
    res = backup([src], make_repo(store))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / ("o" + PARTIAL)).symlink_to(elsewhere)
    with pytest.raises(UnsafePath):
        restore(res.manifest, open_repo(store), tmp_path / "o")
    assert list(elsewhere.iterdir()) == [] and not (tmp_path / "o").exists()
