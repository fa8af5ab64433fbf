"""The process that makes a restore's small files (``restore_child.Writer`` and its program
``restore_writer.py``): files made whole with their metadata, frames split across reads, bounded directory
tables, and every failure raised as the restore would have raised it in-process, with nothing followed
through a symlink and nothing left under a file's own name."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from data_helpers import make_repo, open_repo, rand_bytes

from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.data import backup, restore, restore_child
from vaultlink.data.manifest import Node
from vaultlink.data.restore_files import PARTIAL
from vaultlink.errors import Conflict, CorruptData, UnsafePath, VaultlinkError

MTIME = 1_650_000_000_123_456_789


@pytest.fixture
def root(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    r = tmp_path / "t"
    r.mkdir()
    fd = os.open(r, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield r, fd
    finally:
        os.close(fd)


def _writer(root: tuple[Path, int]) -> restore_child.Writer:
    w = restore_child.Writer.start(str(root[0]), root[1])
    assert w is not None
    return w


def _node(rel: str, data: bytes, mode: int = 0o640, uid: int = 0, gid: int = 0) -> Node:
    return Node(rel, "file", mode, MTIME, len(data), uid=uid, gid=gid)


def test_files_are_made_whole_with_their_metadata_across_many_reads(root: tuple[Path, int]) -> None:
    base, _ = root
    for d in ("a", "a/b", "c"):
        (base / d).mkdir()
    want: dict[str, tuple[bytes, int]] = {}
    w = _writer(root)
    for i in range(60):  # ~7 MiB through a 1 MiB pipe: frames split across reads
        d = ("", "a", "a/b", "c")[i % 4]
        rel = f"{d}/f{i}" if d else f"f{i}"
        data = rand_bytes(1 + 250_000 * (i % 2) + i * 7, i)
        mode = (0o600, 0o644, 0o755, 0o400)[i % 4]
        want[rel] = (data, mode)
        uid = 1234 if os.geteuid() == 0 else os.getuid()
        w.write(_node(rel, data, mode, uid, uid), d, rel.rpartition("/")[2], rel.rpartition("/")[2] + PARTIAL, data)
    w.finish()
    for rel, (data, mode) in want.items():
        st = (base / rel).stat()
        assert (base / rel).read_bytes() == data
        assert st.st_mode & 0o7777 == mode and st.st_mtime_ns == MTIME
        if os.geteuid() == 0:
            assert (st.st_uid, st.st_gid) == (1234, 1234)
    assert not list(base.rglob("*" + PARTIAL))
    with pytest.raises(ChildProcessError):  # reaped
        os.waitpid(w.proc.pid, os.WNOHANG)


def test_directory_numbers_are_reused_and_a_killed_restores_leftover_is_replaced(
    root: tuple[Path, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _ = root
    monkeypatch.setattr(restore_child, "MAX_DIRS", 2)
    for i in range(5):
        (base / f"d{i}").mkdir()
    (base / "d3" / ("f" + PARTIAL)).write_bytes(b"left by a killed restore")
    w = _writer(root)
    for rnd in range(2):
        for i in range(5):
            w.write(_node(f"d{i}/f{rnd or ''}", b"x%d" % i), f"d{i}", f"f{rnd or ''}", f"f{rnd or ''}" + PARTIAL,
                    b"x%d" % i)
    w.finish()
    for i in range(5):
        assert (base / f"d{i}" / "f").read_bytes() == (base / f"d{i}" / "f1").read_bytes() == b"x%d" % i
    assert not list(base.rglob("*" + PARTIAL))


def test_a_directory_in_the_way_is_a_conflict_naming_the_file(root: tuple[Path, int]) -> None:
    base, _ = root
    (base / "f" / "inside").mkdir(parents=True)
    w = _writer(root)
    w.write(_node("before", b"1"), "", "before", "before" + PARTIAL, b"1")
    w.write(_node("f", b"2"), "", "f", "f" + PARTIAL, b"2")
    with pytest.raises(Conflict, match=r"t/f'.*directory is in the way"):
        w.finish()
    assert (base / "before").read_bytes() == b"1"
    assert (base / "f" / "inside").is_dir()  # untouched; the new file stays under its temporary name
    assert (base / ("f" + PARTIAL)).read_bytes() == b"2"


@pytest.mark.parametrize("where", ["directory", "file"])
def test_nothing_is_written_through_a_symlink(root: tuple[Path, int], tmp_path: Path, where: str) -> None:
    base, _ = root
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "f").write_bytes(b"do not touch")
    if where == "directory":
        (base / "d").symlink_to(victim)
        dir_rel, tmpname = "d", "f"
    else:
        (base / "d").mkdir()
        (base / "d" / ("f" + PARTIAL)).symlink_to(victim / "f")
        dir_rel, tmpname = "d", "f" + PARTIAL
    w = _writer(root)
    w.write(_node("d/f", b"evil"), dir_rel, "f", tmpname, b"evil")
    if where == "directory":
        with pytest.raises(UnsafePath, match="symlink"):
            w.finish()
    else:  # a leftover temporary name is replaced, never written through
        w.finish()
        assert (base / "d" / "f").read_bytes() == b"evil" and not (base / "d" / "f").is_symlink()
    assert (victim / "f").read_bytes() == b"do not touch" and sorted(os.listdir(victim)) == ["f"]


def test_values_out_of_range_are_refused_before_anything_is_sent(root: tuple[Path, int]) -> None:
    base, _ = root
    w = _writer(root)
    with pytest.raises(CorruptData, match="'bad' a mode, owner or time out of range"):
        w.write(_node("bad", b"x", uid=-1), "", "bad", "bad" + PARTIAL, b"x")
    with pytest.raises(OSError, match="too long"):
        w.write(_node("n", b"x"), "", "n" * 5000, "n" * 5000 + PARTIAL, b"x")
    w.write(_node("good", b"ok"), "", "good", "good" + PARTIAL, b"ok")
    w.finish()
    assert sorted(os.listdir(base)) == ["good"] and (base / "good").read_bytes() == b"ok"


def test_a_killed_child_fails_the_restore_and_the_target_keeps_its_temporary_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "s"
    for i in range(400):
        (src / f"d{i % 4}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 4}" / f"f{i}").write_bytes(rand_bytes(2000 + i, i))
    store = MemoryBlobStore()
    res = backup([src], make_repo(store))
    real = restore_child.Writer.write

    def write_then_die(self: restore_child.Writer, *a: object) -> None:
        real(self, *a)  # type: ignore[arg-type]
        if self.sent == 5:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    monkeypatch.setattr(restore_child.Writer, "write", write_then_die)
    with pytest.raises(VaultlinkError, match="restore again") as e:
        restore(res.manifest, open_repo(store), tmp_path / "o")
    assert e.value.details.get("partial_target") == str(tmp_path / ("o" + PARTIAL))
    assert not (tmp_path / "o").exists()
    monkeypatch.setattr(restore_child.Writer, "write", real)
    restore(res.manifest, open_repo(store), tmp_path / "o")  # run again: completed
    for i in range(400):
        assert (tmp_path / "o" / "s" / f"d{i % 4}" / f"f{i}").read_bytes() == rand_bytes(2000 + i, i)


@pytest.mark.parametrize("files", [40, 300], ids=["few-files", "many-files-averaging-large"])
def test_a_restore_of_few_or_mostly_large_files_starts_no_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: int
) -> None:
    """Not worth its memory there: files few, or small ones a minor part (the 1 GiB benchmark's mix)."""
    src = tmp_path / "s"
    src.mkdir()
    for i in range(files):
        (src / f"f{i}").write_bytes(b"small %d" % i)
    if files > 40:
        (src / "big").write_bytes(b"compressible " * 1_600_000)  # 20.8 MB: over 64 KiB a file on average
    store = MemoryBlobStore()
    res = backup([src], make_repo(store))
    starts: list[str] = []
    monkeypatch.setattr(restore_child.Writer, "start", classmethod(lambda cls, r, fd: starts.append(r)))
    restore(res.manifest, open_repo(store), tmp_path / "o")
    assert starts == [] and (tmp_path / "o" / "s" / "f7").read_bytes() == b"small 7"
