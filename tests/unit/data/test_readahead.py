"""Small files that are not in memory are read ahead: once a batch read by the walking thread waited for the
disk (its wall time well above its CPU time), each new batch's files are advised to the kernel by a thread of
their own and read a few batches later; files in memory are never advised; a probe batch now and then tells
when the files are in memory again. What a user sees of the backup does not change."""

from __future__ import annotations

import importlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from data_helpers import make_repo, open_repo, rand_bytes

from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.data import backup, readahead, restore
from vaultlink.data.readahead import DEPTH, Batch, Readahead

backup_mod = importlib.import_module("vaultlink.data.backup")


def _batch(i: int, n: int = 3) -> Batch:
    b = Batch()
    b.files = [(None, f"/nowhere/{i}/{k}") for k in range(n)]
    return b


class _Advised:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()
        monkeypatch.setattr(readahead, "advise", self.record)

    def record(self, paths: list[str]) -> None:
        with self.lock:
            self.calls.append(list(paths))


class _Clock:
    """The module's clocks, moved by the test alone: a busy machine's preemption cannot make a batch look cold."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def monotonic(self) -> float:
        return self.wall

    def thread_time(self) -> float:
        return self.cpu

    def spend(self, cpu: float, waited: float = 0.0) -> None:
        self.cpu += cpu
        self.wall += cpu + waited


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    """The readahead's clocks, replaced by one the test moves."""
    c = _Clock()
    monkeypatch.setattr(readahead, "time", c)
    return c


def test_files_in_memory_are_read_at_once_and_never_advised(monkeypatch: pytest.MonkeyPatch, clock: _Clock) -> None:
    advised = _Advised(monkeypatch)
    read: list[int] = []

    def from_memory(files: list[tuple[Any, str]]) -> list[tuple[str, str]]:
        clock.spend(0.003, waited=0.001)  # less than SLACK off its CPU time: the files were in memory
        read.append(len(read))
        return []

    ra = Readahead(from_memory)
    for i in range(40):
        b = _batch(i)
        ra.inline(b)
        assert b.future is not None and b.future.done()  # read by the time the walk goes on
    ra.close()
    assert read == list(range(40)) and advised.calls == [] and ra.advised == 0 and not ra.cold


def test_files_on_the_disk_are_advised_then_read_a_few_batches_later(monkeypatch: pytest.MonkeyPatch,
                                                                     clock: _Clock) -> None:
    advised = _Advised(monkeypatch)
    monkeypatch.setattr(readahead, "PROBE", 6)
    assert DEPTH == 4
    slow = [True]
    order: list[int] = []

    def read(files: list[tuple[Any, str]]) -> list[tuple[str, str]]:
        order.append(int(files[0][1].split("/")[2]))
        # waiting for the disk: wall time, little CPU; from memory: CPU time alone
        clock.spend(0.0005, waited=0.005 if slow[0] else 0.0)
        return [(files[0][1], "an error of this batch")]

    ra = Readahead(read)
    b = [_batch(i) for i in range(9)]

    def done(i: int) -> bool:
        f = b[i].future
        return f is not None and f.done()

    ra.inline(b[0])  # read at once: its time says the files are on the disk
    assert ra.cold and done(0)
    for i in range(1, 5):
        ra.inline(b[i])  # advised; read DEPTH batches later
        assert not done(i)
    ra.inline(b[5])  # one more waiting than DEPTH: the oldest is read
    assert done(1) and not done(2)
    ra.inline(b[6])  # the PROBE-th batch of the cold mode: not advised (its time is the probe)
    assert done(2) and not done(3)
    ra.finish(b[4])  # a batch the backup must write now: read it, and those before it
    assert done(3) and done(4) and not done(5)
    slow[0] = False  # the files are in memory now
    ra.inline(b[7])
    assert not done(5)
    deadline = time.monotonic() + 10
    while len(advised.calls) < 6 and time.monotonic() < deadline:  # the advising thread's turn
        time.sleep(0.01)
    ra.finish()  # the probe (b[6]) reads fast: no more advice
    assert not ra.cold and all(done(i) for i in range(8))
    ra.inline(b[8])
    assert done(8)
    ra.close()
    assert order == list(range(9))  # read in walk order
    assert all(x.future is not None and x.future.result() == [(x.files[0][1], "an error of this batch")] for x in b)
    with advised.lock:
        advised_batches = [int(c[0].split("/")[2]) for c in advised.calls]
    assert advised_batches == [1, 2, 3, 4, 5, 7] and ra.advised == 6
    ra2 = Readahead(read)
    ra2.queued(_batch(99))  # a worker's batch while the files are in memory: not advised
    assert ra2.advised == 0


def test_advice_skips_what_it_cannot_open_and_never_waits_on_a_fifo(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[int, int, int, int]] = []  # (inode, offset, length, advice) of each file the kernel was told of
    real = os.posix_fadvise

    def fadvise(fd: int, offset: int, length: int, advice: int) -> None:
        real(fd, offset, length, advice)  # a FIFO's is refused (ESPIPE): skipped, not waited on
        asked.append((os.fstat(fd).st_ino, offset, length, advice))

    monkeypatch.setattr(os, "posix_fadvise", fadvise)
    (tmp_path / "f").write_bytes(b"x" * 10_000)
    os.mkfifo(tmp_path / "fifo")  # a FIFO swapped in for a file after the walk saw it
    (tmp_path / "d").mkdir()
    os.symlink("f", tmp_path / "link")  # ... or a symlink: not followed (else "f" would be advised twice)
    names = ("gone", "fifo", "d", "link", "f")
    t = threading.Thread(target=readahead.advise, args=([str(tmp_path / n) for n in names],),
                         daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive()
    # the regular file, whole, for reading soon (a directory's advice is harmless); not through the symlink
    files = {(tmp_path / n).stat().st_ino: n for n in ("f", "d")}
    assert sorted((files[ino], off, ln, adv) for ino, off, ln, adv in asked) == [
        ("d", 0, 0, os.POSIX_FADV_WILLNEED), ("f", 0, 0, os.POSIX_FADV_WILLNEED)]


def test_a_backup_of_cold_small_files_is_complete_and_restores(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "s"
    want = {}
    for i in range(240):
        rel = f"d{i % 4}/f{i:04d}"
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        want[rel] = rand_bytes(500 + 7 * i, i)
        (src / rel).write_bytes(want[rel])
    (src / "d1" / "f0001").chmod(0)  # unreadable (unless root): reported once, the others go on
    unreadable = os.geteuid() != 0
    advised = _Advised(monkeypatch)
    monkeypatch.setattr(backup_mod, "BATCH_FILES", 8)
    monkeypatch.setattr(backup_mod, "ORDER_MAX", 20)  # the walk waits on batches still waiting for their read
    store = MemoryBlobStore()
    repo = make_repo(store)
    cut = repo.chunker.cut_file

    def from_the_disk(p: str, **kw: Any) -> Iterator[bytes]:
        time.sleep(0.001)
        return iter(list(cut(p, **kw)))

    monkeypatch.setattr(repo.chunker, "cut_file", from_the_disk)
    res = backup([src], repo, workers=2)
    assert advised.calls, "the batches were never advised"
    assert res.stats.files == 240 and len(res.stats.errors) == (1 if unreadable else 0)
    out = tmp_path / "o"
    (src / "d1" / "f0001").chmod(0o600)
    if unreadable:
        del want["d1/f0001"]
    restore(res.manifest, open_repo(store), out, include=[f"s/{r}" for r in want])
    for rel, data in want.items():
        assert (out / "s" / rel).read_bytes() == data


def test_a_workers_batch_on_the_disk_turns_the_advice_on_and_a_probe_turns_it_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of larger small files go to workers: one read without advice that waited for the disk (its wall
    time far above its CPU time, more so than the interpreter lock explains) makes the next ones advised, but
    for every ``PROBE``-th, whose fast read ends the advice."""
    advised = _Advised(monkeypatch)
    monkeypatch.setattr(readahead, "PROBE", 4)
    ra = Readahead(lambda files: [])
    b = [_batch(i) for i in range(8)]
    ra.queued(b[0])
    assert b[0].probe and ra.advised == 0
    ra.timed(b[0], wall=0.012, cpu=0.004)  # three times its CPU: the lock, not the disk
    assert not ra.cold
    ra.queued(b[1])
    ra.timed(b[1], wall=0.080, cpu=0.004)  # twenty times: the disk
    assert ra.cold
    for i in (2, 3, 4):
        ra.queued(b[i])
        assert not b[i].probe
        ra.timed(b[i], wall=0.001, cpu=0.001)  # an advised batch's time says nothing
    assert ra.cold and ra.advised == 3
    ra.queued(b[5])  # the PROBE-th: read without advice
    assert b[5].probe and ra.advised == 3
    ra.timed(b[5], wall=0.005, cpu=0.004)
    assert not ra.cold
    ra.queued(b[6])
    assert b[6].probe and ra.advised == 3
    deadline = time.monotonic() + 10
    while len(advised.calls) < 3 and time.monotonic() < deadline:  # the advising thread's turn
        time.sleep(0.01)
    ra.close()
    with advised.lock:
        assert [int(c[0].split("/")[2]) for c in advised.calls] == [2, 3, 4]


def test_a_backup_whose_changed_files_go_to_workers_advises_them_when_cold(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Files averaging over ``TINY_FILE`` (a second backup of small files that each grew by 64 KiB) are read by
    the workers; when those reads wait for the disk, the later batches are advised."""
    src = tmp_path / "s"
    for i in range(200):
        (src / f"d{i % 4}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 4}" / f"f{i:04d}").write_bytes(rand_bytes(70_000, i))
    advised = _Advised(monkeypatch)
    monkeypatch.setattr(backup_mod, "BATCH_FILES", 8)
    repo = make_repo(MemoryBlobStore())
    cut = repo.chunker.cut_file

    def from_the_disk(p: str, **kw: Any) -> Iterator[bytes]:
        time.sleep(0.003)  # waiting for the disk: wall time, no CPU
        return iter(list(cut(p, **kw)))

    monkeypatch.setattr(repo.chunker, "cut_file", from_the_disk)
    res = backup([src], repo, workers=2)
    assert res.stats.files == 200
    assert advised.calls, "the workers' batches were never advised"
