"""Many small files: backed up and restored one batch / one span at a time (threads passing the interpreter
lock between every short system call were slower than one thread), each restored small file written in one
go under its temporary name, and no look at a file's slot in a directory the restore itself made."""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from data_helpers import make_repo, open_repo, rand_bytes

from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.data import backup, restore, restore_child, restore_files, restore_target
from vaultlink.errors import LocalIOError

backup_mod = importlib.import_module("vaultlink.data.backup")

PARTIAL = restore_files.PARTIAL


def _small_tree(root: Path, n: int = 300) -> dict[str, bytes]:
    want = {}
    for i in range(n):
        rel = f"d{i % 3}/f{i:04d}"
        data = rand_bytes(1024 + 20 * i, i) if i % 2 else b"text %d " % i * 100  # one chunk each (< min_size)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        os.utime(root / rel, ns=(1_600_000_000_000_000_000 + i, 1_600_000_000_000_000_000 + i))
        want[rel] = data
    return want


class _Gauge:
    """The most threads ever inside a wrapped call at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.most = self.calls = 0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def inner(*a: Any, **kw: Any) -> Any:
            with self.lock:
                self.now += 1
                self.calls += 1
                self.most = max(self.most, self.now)
            try:
                threading.Event().wait(0.0005)  # let another thread in, if it could come
                return fn(*a, **kw)
            finally:
                with self.lock:
                    self.now -= 1

        return inner


@pytest.mark.parametrize("child", [True, False], ids=["made-by-a-child-process", "child-cannot-start"])
def test_tiny_files_are_backed_up_by_the_walking_thread_and_restored_one_span_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child: bool
) -> None:
    want = _small_tree(tmp_path / "s")
    store = MemoryBlobStore()
    repo = make_repo(store)
    monkeypatch.setattr(backup_mod, "BATCH_FILES", 8)  # many batches for two workers to share
    gauge = _Gauge()
    cut = repo.chunker.cut_file
    readers: set[str] = set()

    def cut_here(p: str, **kw: Any) -> list[bytes]:
        readers.add(threading.current_thread().name)
        return list(cut(p, **kw))

    monkeypatch.setattr(repo.chunker, "cut_file", gauge.wrap(cut_here))
    res = backup([tmp_path / "s"], repo, workers=2)
    assert gauge.calls == len(want) and gauge.most == 1
    # no hand-off to a worker per batch: the thread that walks reads them (faster than any worker doing it)
    assert readers == {threading.current_thread().name}

    out = tmp_path / "o"
    r2 = open_repo(store)
    wgauge, sgauge = _Gauge(), _Gauge()
    files = restore_files.OpenFiles
    monkeypatch.setattr(files, "write_whole", wgauge.wrap(files.write_whole))
    monkeypatch.setattr(restore_child.Writer, "write", sgauge.wrap(restore_child.Writer.write))
    started: list[int] = []
    real_start = restore_child.Writer.start.__func__  # type: ignore[attr-defined]

    def start(cls: type[restore_child.Writer], root: str, root_fd: int) -> restore_child.Writer | None:
        w = real_start(cls, root, root_fd) if child else None
        started.append(0 if w is None else w.proc.pid)
        return w

    monkeypatch.setattr(restore_child.Writer, "start", classmethod(start))
    restore(res.manifest, r2, out, workers=4)
    # a child process makes the small files (the restore frames them, one span at a time), started once; or,
    # when it cannot start, the restore makes them itself, one span at a time
    assert len(started) == 1
    used, unused = (sgauge, wgauge) if child else (wgauge, sgauge)
    assert used.calls == len(want) and used.most == 1 and unused.calls == 0
    if child:  # the child was reaped
        with pytest.raises(ChildProcessError):
            os.waitpid(started[0], os.WNOHANG)
    for rel, data in want.items():
        p = out / "s" / rel
        assert p.read_bytes() == data
        assert p.stat().st_mtime_ns == (tmp_path / "s" / rel).stat().st_mtime_ns
        assert p.stat().st_mode == (tmp_path / "s" / rel).stat().st_mode
    assert not list(out.rglob("*" + PARTIAL))


def test_large_files_still_go_to_both_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "s"
    src.mkdir()
    for i in range(6):
        (src / f"big{i}").write_bytes(rand_bytes(400_000, 50 + i))  # batched (<= 8 MiB) but not tiny
    repo = make_repo()
    monkeypatch.setattr(backup_mod, "BATCH_FILES", 1)
    gauge = _Gauge()
    cut = repo.chunker.cut_file

    def slow_cut(p: str, **kw: Any) -> Iterator[bytes]:
        threading.Event().wait(0.05)
        return iter(list(cut(p, **kw)))

    monkeypatch.setattr(repo.chunker, "cut_file", gauge.wrap(slow_cut))
    backup([src], repo, workers=2)
    assert gauge.most == 2


@pytest.mark.parametrize("existing", [True, False], ids=["into-an-existing-directory", "into-a-new-one"])
def test_a_small_file_that_fails_midway_stays_under_its_temporary_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    """Into a directory that exists: the failed file stays under its temporary name. Into a new one: the whole
    target stays under its temporary name (``o.vaultlink-partial``), nothing appears as ``o``."""
    want = _small_tree(tmp_path / "s", 20)
    store = MemoryBlobStore()
    res = backup([tmp_path / "s"], make_repo(store))
    real = restore_files.OpenFiles._set_meta
    seen: list[int] = []

    def fail_on_the_fifth(self: restore_files.OpenFiles, fd: int, n: Any) -> None:
        seen.append(fd)
        if len(seen) == 5:
            raise OSError(5, "Input/output error")
        real(self, fd, n)

    monkeypatch.setattr(restore_files.OpenFiles, "_set_meta", fail_on_the_fifth)
    out = tmp_path / "o"
    if existing:
        out.mkdir()
    with pytest.raises(LocalIOError, match="Input/output error; fix that, then run the command again"):
        restore(res.manifest, open_repo(store), out, workers=1)
    if existing:
        partial = [p for p in out.rglob("*") if p.name.endswith(PARTIAL)]
        assert len(partial) == 1  # the failed one, never under its real name
        assert not (partial[0].parent / partial[0].name[: -len(PARTIAL)]).exists()
        done = [p for p in out.rglob("f*") if not p.name.endswith(PARTIAL)]
        assert len(done) == 4 and all(p.read_bytes() == want[str(p.relative_to(out / "s"))] for p in done)
    else:
        assert not out.exists() and len(list((tmp_path / ("o" + PARTIAL)).rglob("f*"))) == 5
    monkeypatch.setattr(restore_files.OpenFiles, "_set_meta", real)
    restore(res.manifest, open_repo(store), out)  # again: completes, the partial file replaced
    assert not list(out.rglob("*" + PARTIAL)) and not (tmp_path / ("o" + PARTIAL)).exists()
    assert {str(p.relative_to(out / "s")): p.read_bytes() for p in out.rglob("f*")} == want


def test_slots_are_looked_at_only_where_the_restore_did_not_make_the_directory(tmp_path: Path) -> None:
    (tmp_path / "t" / "old").mkdir(parents=True)
    tgt = restore_target.Target(str(tmp_path / "t"))
    try:
        for rel in ("old", "old/new", "a", "a/b", "a/b/c"):
            tgt.ensure_dir(rel)
        assert tgt.needs_check("")  # the target itself: there before
        assert tgt.needs_check("old")  # there before the restore
        assert not tgt.needs_check("old/new")  # made by it, holds nothing
        assert tgt.needs_check("a") and tgt.needs_check("a/b")  # made by it, but a directory went in
        assert not tgt.needs_check("a/b/c")
    finally:
        tgt.close()


@pytest.mark.parametrize("existing", [True, False], ids=["into-an-existing-directory", "into-a-new-one"])
def test_a_symlink_planted_in_a_directory_the_restore_made_is_replaced_never_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    """No slot check in a fresh directory: a symlink an attacker plants there between the directory's
    making and the file's rename (or, in a new target, its creation under its own name) is replaced by the
    file (neither rename nor an exclusive create follows it), its target untouched."""
    src = tmp_path / "s"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_bytes(b"restored content")
    store = MemoryBlobStore()
    res = backup([src], make_repo(store))
    victim = tmp_path / "victim"
    victim.write_bytes(b"do not touch")
    real = restore_files.OpenFiles.write_whole
    if existing:
        (tmp_path / "o").mkdir()
    writing_in = tmp_path / ("o" if existing else "o" + PARTIAL)

    def plant_first(self: restore_files.OpenFiles, out: Any, data: bytes) -> None:
        os.symlink(victim, writing_in / "s" / "d" / "f")
        real(self, out, data)

    monkeypatch.setattr(restore_files.OpenFiles, "write_whole", plant_first)
    restore(res.manifest, open_repo(store), tmp_path / "o")
    f = tmp_path / "o" / "s" / "d" / "f"
    assert not f.is_symlink() and f.read_bytes() == b"restored content"
    assert victim.read_bytes() == b"do not touch"


@pytest.mark.parametrize(
    "size", [0, 1, 700, 8 * 1024, 8 * 1024 + 1, 40_000, 300_000, 1024 * 1024 - 1, 1024 * 1024, 3_000_000]
)
def test_a_file_read_in_one_call_is_cut_exactly_as_the_whole_buffer(tmp_path: Path, size: int) -> None:
    from data_helpers import SMALL

    from vaultlink.data.chunker import Chunker

    ch = Chunker(SMALL)
    data = rand_bytes(size, size)
    (tmp_path / "f").write_bytes(data)
    assert [bytes(c) for c in ch.cut_file(tmp_path / "f")] == [bytes(c) for c in ch.cut(data)]


def test_a_file_that_grows_while_it_is_read_is_cut_as_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from data_helpers import SMALL

    from vaultlink.data import chunker

    ch = chunker.Chunker(SMALL)
    f = tmp_path / "f"
    f.write_bytes(rand_bytes(5000, 1))
    real_fstat = os.fstat
    monkeypatch.setattr(chunker.os, "fstat", lambda fd: os.stat_result((0,) * 6 + (10,) + (0,) * 3))  # "10 bytes"
    got = b"".join(bytes(c) for c in ch.cut_file(f))
    monkeypatch.setattr(chunker.os, "fstat", real_fstat)
    assert got == f.read_bytes()


@pytest.mark.parametrize("own", [False, True], ids=["views", "copies"])
@pytest.mark.parametrize("seen", [0, 10, 5000, 70_000, 2_000_000], ids=lambda n: f"walk-saw-{n}")
def test_the_size_the_walk_saw_spares_the_fstat_and_a_changed_file_is_read_as_it_is_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seen: int, own: bool
) -> None:
    from data_helpers import SMALL

    from vaultlink.data import chunker

    ch = chunker.Chunker(SMALL)
    f = tmp_path / "f"
    data = rand_bytes(70_000, 3)
    f.write_bytes(data)

    fstats: list[int] = []
    real_fstat = os.fstat
    monkeypatch.setattr(chunker.os, "fstat", lambda fd: fstats.append(fd) or real_fstat(fd))
    got = [bytes(c) for c in ch.cut_file(f, size=seen, own=own)]
    assert got == [bytes(c) for c in ch.cut(data)]  # the same cut points as the whole file's, stale size or not
    if len(data) <= seen < chunker.SMALL_READ:  # read in one call: no fstat at all
        assert fstats == []


def test_o_noatime_refused_for_a_file_of_another_owner_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from vaultlink.data import chunker

    f = tmp_path / "f"
    f.write_bytes(b"abc")
    real_open = os.open
    calls: list[int] = []

    def eperm_with_noatime(path: Any, flags: int, *a: Any, **kw: Any) -> int:
        calls.append(flags)
        if flags & chunker._NOATIME:
            raise PermissionError(errno.EPERM, "Operation not permitted")
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(chunker.os, "open", eperm_with_noatime)
    ch = chunker.Chunker()
    assert [bytes(c) for c in ch.cut_file(f)] == [b"abc"]
    assert [bytes(c) for c in ch.cut_file(f)] == [b"abc"]
    assert [bool(c & chunker._NOATIME) for c in calls] == [True, False, False]  # asked once, then not again


def test_a_failed_upload_stops_a_backup_of_many_small_files_early(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-file check for a failed upload is a flag (no lock, no walk over the uploads): it still stops
    the backup soon after the failure, not at its end."""
    from vaultlink.errors import StoreError

    src = tmp_path / "s"
    for i in range(400):
        (src / f"d{i % 4}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 4}" / f"f{i}").write_bytes(rand_bytes(3000, 1000 + i))  # ~1.2 MB: several 256 KiB packs

    class FirstPackFails(MemoryBlobStore):
        def put(self, name: str, data: bytes | bytearray | memoryview) -> None:
            if name.startswith("packs/"):
                raise StoreError("the store went away")
            super().put(name, data)

    repo = make_repo(FirstPackFails())
    monkeypatch.setattr(backup_mod, "BATCH_FILES", 4)
    read: list[str] = []
    cut = repo.chunker.cut_file

    def counted(p: str, **kw: Any) -> list[memoryview]:
        read.append(str(p))
        return list(cut(p, **kw))

    monkeypatch.setattr(repo.chunker, "cut_file", counted)
    with pytest.raises(StoreError, match="went away"):
        backup([src], repo, workers=1)
    assert len(read) < 300  # the first pack fills at ~85 files; the backup stops soon after, not at 400
