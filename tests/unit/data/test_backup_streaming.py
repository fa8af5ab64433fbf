"""A backup streams: the tree is walked a directory at a time in path order, each node is written into the
snapshot once its file is done, and the previous snapshot is read beside the walk, so a backup of a million
files holds neither its list nor its snapshot. What a user sees stays the same: the snapshot's nodes in path
order (a directory ``a`` before ``a.b`` before ``a/x``), unchanged files skipped, progress with totals."""

from __future__ import annotations

import gc
import importlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from data_helpers import make_repo

from vaultlink.data import Manifest, Node, Progress, Repository, backup, restore
from vaultlink.data.backup_io import SnapshotOutput
from vaultlink.data.count import TreeCount
from vaultlink.data.count_walk import count_tree
from vaultlink.data.manifest import ManifestWriter
from vaultlink.data.tree import iter_tree

backup_mod = importlib.import_module("vaultlink.data.backup")

NAMES = ["a", "a.b", "a-c", "a0", "b", "é", "Z", "a b", "_", "~"]


def _tricky_tree(root: Path) -> None:
    """Names that sort differently as whole paths than one directory at a time would if done naively."""
    for top in NAMES:
        d = root / top
        d.mkdir(parents=True)
        for name in NAMES:
            (d / name).write_bytes(f"{top}/{name}".encode())
        (d / "a").unlink()
        (d / "a").mkdir()
        (d / "a" / "x").write_bytes(b"x")
    (root / "a.txt").write_bytes(b"t")
    os.symlink("a", root / "a.lnk")


def test_the_walk_gives_the_order_a_sort_of_every_path_gives(tmp_path: Path) -> None:
    _tricky_tree(tmp_path / "src")
    errors: list[tuple[str, str]] = []
    paths = [n.path for n, _ in iter_tree([tmp_path / "src"], errors)]
    assert paths == sorted(paths) and len(paths) == len(set(paths)) == 1 + 2 + len(NAMES) * (len(NAMES) + 2)
    assert errors == []


def test_several_roots_are_in_path_order_too(tmp_path: Path) -> None:
    for name in ("b", "a.b", "a"):
        (tmp_path / name / "sub").mkdir(parents=True)
        (tmp_path / name / "sub" / "f").write_bytes(b"1")
    paths = [n.path for n, _ in iter_tree([tmp_path / "b", tmp_path / "a.b", tmp_path / "a"], [])]
    assert paths == sorted(paths) and paths[:3] == ["a", "a.b", "a.b/sub"]


def test_the_snapshot_is_in_path_order_and_restores(tmp_path: Path, repo: Repository) -> None:
    _tricky_tree(tmp_path / "src")
    res = backup([tmp_path / "src"], repo)
    m = repo.load_manifest(res.name)
    assert [n.path for n in m.nodes] == sorted(n.path for n in m.nodes)
    assert res.head.nodes == [] and res.manifest == m  # the head alone is held; the nodes read back on demand
    assert res.stats.files == len(NAMES) * (len(NAMES) - 1 + 1) + 1
    restore(m, repo, tmp_path / "out")
    assert (tmp_path / "out/src/a.b/a/x").read_bytes() == b"x"
    assert (tmp_path / "out/src/~/a.b").read_bytes() == b"~/a.b"
    assert os.readlink(tmp_path / "out/src/a.lnk") == "a"


@pytest.mark.parametrize("again", [3, 4096])
def test_the_packs_it_names_are_the_packs_of_its_chunks(tmp_path: Path, repo: Repository, again: int,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SnapshotOutput, "AGAIN", again)  # chunks placed as packs are stored, or at the end
    src = tmp_path / "src"
    src.mkdir()
    for i in range(40):
        (src / f"f{i}").write_bytes(os.urandom(20_000 + i))
    res = backup([src], repo)
    assert res.packs == {repo.index.lookup(c).pack for c in res.manifest.chunk_ids()}  # type: ignore[union-attr]
    assert len(res.packs) > 1


def test_a_backup_holds_a_bounded_number_of_nodes(tmp_path: Path, repo: Repository,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """3,000 files; at most a few hundred nodes alive at any progress report (the snapshot is written as the
    walk goes), where the old engine held all 3,000 (and the walk's list beside them)."""
    monkeypatch.setattr(backup_mod, "ORDER_MAX", 200)
    monkeypatch.setattr(backup_mod, "BATCH_FILES", 32)
    src = tmp_path / "src"
    for d in range(30):
        (src / f"d{d:02d}").mkdir(parents=True)
        for i in range(100):
            (src / f"d{d:02d}" / f"f{i:03d}").write_bytes(b"%d-%d " % (d, i) * 50)
    alive: list[int] = []
    sampled = {0}
    gc.collect()  # nodes left in reference cycles by earlier tests in this process are not this backup's

    def sample(p: Progress) -> None:
        if p.files_done > 500 and p.files_done // 250 not in sampled:
            sampled.add(p.files_done // 250)
            alive.append(sum(1 for o in gc.get_objects() if type(o) is Node))

    first = backup([src], repo, progress=sample, interval=0.0, workers=2)
    assert len(alive) > 3 and 0 < max(alive) < 1000, alive
    assert first.stats.files == 3000
    alive.clear()
    sampled.clear()
    sampled.add(0)
    second = backup([src], repo, repo.manifest_nodes(first.name), progress=sample, interval=0.0)
    assert second.stats.files_unchanged == 3000 and second.stats.bytes_read == 0
    assert len(alive) > 3 and 0 < max(alive) < 1000, alive


def test_progress_has_totals_before_the_end(tmp_path: Path, repo: Repository) -> None:
    src = tmp_path / "src"
    for d in range(20):
        (src / f"d{d}").mkdir(parents=True)
        for i in range(50):
            (src / f"d{d}" / f"f{i}").write_bytes(b"z" * 100)
    seen: list[tuple[int, int, int]] = []
    deadline = time.monotonic() + 30

    def slow(p: Progress) -> None:  # the reading waits (bounded) for the count's child process to start
        seen.append((p.files_done, p.files_total, p.bytes_total))
        if p.files_total < 1000 and time.monotonic() < deadline:
            time.sleep(0.005)

    backup([src], repo, progress=slow, interval=0.0)
    assert seen[-1] == (1000, 1000, 100_000)
    assert any(done < 1000 and total == 1000 for done, total, _ in seen)  # totals ahead of the reading


def test_the_count_gives_the_tree_s_totals_and_stops_when_told(tmp_path: Path) -> None:
    """The progress totals' own source (the walk's running count alone would also reach the totals before
    the reading ends): every regular file and its bytes, symlinks and directories not counted."""
    src = tmp_path / "src"
    for d in range(3):
        (src / f"d{d}" / "sub").mkdir(parents=True)
        (src / f"d{d}" / "sub" / "f").write_bytes(b"x" * (10 + d))
        (src / f"d{d}" / "g").write_bytes(b"y" * 100)
    os.symlink("d0/g", src / "link")
    stop = threading.Event()
    assert list(count_tree([str(src)], stop.is_set))[-1] == (6, 333)
    stop.set()
    assert list(count_tree([str(src)], stop.is_set)) == [(0, 0)]


def test_the_count_runs_in_a_child_process_that_is_reaped(tmp_path: Path) -> None:
    """The backup's count is a process of its own (its ``lstat`` per file no longer passes the interpreter lock
    with the thread reading files): its totals come through a pipe, and ``close`` leaves no process behind,
    finished or killed mid-count."""
    src = tmp_path / "src"
    for d in range(5):
        (src / f"d{d}").mkdir(parents=True)
        for f in range(3):
            (src / f"d{d}" / f"f{f}").write_bytes(b"z" * (d + f))
    tc = TreeCount([str(src)])
    deadline = time.monotonic() + 30
    while not tc.finished and time.monotonic() < deadline:
        time.sleep(0.01)
    assert tc.finished and tc.totals == (15, 5 * 3 + 3 * 10)
    proc = tc._proc
    assert proc is not None and proc.pid != os.getpid()
    tc.close()
    assert proc.returncode == 0 and tc._proc is None
    tc.close()  # twice: nothing left to do

    many = tmp_path / "many"
    for d in range(40):
        (many / f"d{d}").mkdir(parents=True)
        for f in range(100):
            (many / f"d{d}" / f"f{f}").touch()
    tc = TreeCount([str(many)])
    proc = tc._proc
    tc.close()  # most likely still counting: killed, and reaped
    assert proc is not None and proc.returncode is not None


def test_a_previous_snapshot_damaged_half_way_costs_only_the_shortcut(tmp_path: Path, repo: Repository) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(10):
        (src / f"f{i}").write_bytes(b"%d" % i * 1000)
    first = backup([src], repo)

    def damaged() -> object:
        for n, node in enumerate(repo.manifest_nodes(first.name)):
            if n == 5:
                from vaultlink.errors import CorruptData
                raise CorruptData("damaged")
            yield node

    second = backup([src], repo, damaged())  # type: ignore[arg-type]
    assert second.stats.files_unchanged == 4 and second.stats.files == 10  # src, f0..f3 came before the damage
    out = tmp_path / "out"
    restore(second.manifest, repo, out)
    assert sorted(p.name for p in (out / "src").iterdir()) == [f"f{i}" for i in range(10)]


def test_a_whole_manifest_still_serves_as_the_previous_one(tmp_path: Path) -> None:
    repo = make_repo()
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"1" * 5000)
    first = backup([src], repo)
    assert isinstance(first.manifest, Manifest)
    assert backup([src], repo, first.manifest).stats.files_unchanged == 1


def test_a_no_change_backup_looks_each_chunk_up_once_and_finds_its_packs(
        tmp_path: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(300):
        (src / f"f{i:03}").write_bytes(os.urandom(3000 + i))
    first = backup([src], repo)
    chunks = [c for n in repo.manifest_nodes(first.name) for c in n.chunks]
    index, asked = repo.index, []
    real_have, real_pack_of = index.have, index.pack_of

    def have(ids: list[bytes]) -> set[bytes]:
        ids = list(ids)
        asked.extend(ids)
        return real_have(ids)

    def pack_of(cid: bytes) -> str | None:
        asked.append(cid)
        return real_pack_of(cid)

    monkeypatch.setattr(index, "have", have)
    monkeypatch.setattr(index, "pack_of", pack_of)
    second = backup([src], repo, repo.manifest_nodes(first.name))
    monkeypatch.undo()
    assert second.stats.files_unchanged == 300 and second.stats.bytes_read == 0
    assert sorted(asked) == sorted(chunks)  # each chunk once: the dedup check also places it (twice before)
    assert second.packs == first.packs and second.packs  # the snapshot names every pack its chunks live in


def test_the_previous_snapshot_is_let_go_before_the_new_one_is_finished(
        tmp_path: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(20):
        (src / f"f{i:02}").write_bytes(b"%d" % i * 100)
    first = backup([src], repo)
    (src / "f19").unlink()  # the previous snapshot's last node is never reached by the walk: not read to its end
    events: list[str] = []

    def previous() -> Iterator[Node]:
        try:
            yield from repo.manifest_nodes(first.name)
        finally:
            events.append("previous let go")

    real_finish = ManifestWriter.finish

    def finish(self: ManifestWriter, *args: Any, **kw: Any) -> Any:
        events.append("finish")
        return real_finish(self, *args, **kw)

    monkeypatch.setattr(ManifestWriter, "finish", finish)
    nodes = previous()
    second = backup([src], repo, nodes)
    assert second.stats.files_unchanged == 19
    assert events == ["previous let go", "finish"]  # its text is not held beside the new snapshot's
