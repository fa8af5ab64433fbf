"""A restore stopped in the middle (Ctrl-C, SIGTERM, its job stopped on the service: an exception in the thread that
waits for the workers) stops: the spans not yet fetched are dropped and the running ones end before the files are
closed. Before, the pool went on to run every queued span (the interrupted restore finished its files in the
background before the interruption came through) and wrote through descriptors closed under it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from data_helpers import make_repo, open_repo, rand_bytes

from vaultlink.data import Progress, backup, restore


class Stop(Exception):
    pass


def test_an_interrupted_restore_stops_and_writes_nothing_after(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(60):
        (src / f"f{i:02}.bin").write_bytes(rand_bytes(300_000, i))
    repo = make_repo()
    res = backup([str(src)], repo)
    repo.flush()
    slow = open_repo(repo.store)
    real = slow.store.get_range
    reads: list[str] = []
    lock = threading.Lock()

    def get_range(name: str, offset: int, length: int) -> bytes:
        time.sleep(0.02)  # a store far away: the restore takes a second or more
        with lock:
            reads.append(name)
        return real(name, offset, length)

    slow.store.get_range = get_range  # type: ignore[method-assign]
    restore(res.manifest, slow, tmp_path / "whole", workers=2, direct=False)
    whole = len(reads)
    reads.clear()
    read_when_stopped: list[int] = []

    def progress(p: Progress) -> None:
        with lock:
            read_when_stopped.append(len(reads))
        raise Stop()

    with pytest.raises(Stop):
        restore(res.manifest, slow, tmp_path / "out", progress=progress, workers=2, direct=False)
    after_return = len(reads)
    time.sleep(0.2)
    assert read_when_stopped and read_when_stopped[0] < whole, "the restore reported progress before it ended"
    assert after_return <= read_when_stopped[0] + 4, (  # two workers: the span each was on, and one each may start
        f"{after_return - read_when_stopped[0]} reads after the interruption")  # before the queued ones are dropped
    assert len(reads) == after_return, "no worker read on after restore() returned"
    assert len(list((tmp_path / "out").rglob("f*.bin"))) < 60, "the interrupted restore did not go on to the end"
