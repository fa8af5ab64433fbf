"""A restore reads the snapshot's nodes twice (checked, then restored) and restores the files a bounded
batch at a time, so a snapshot of a million files is never held: what a user sees is the same (the same
tree, the same refusals before anything is written, the same selection with ``--include``, damaged files
named)."""

from __future__ import annotations

import fnmatch
import gc
import importlib
import os
import random
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultlink.adapters.blob_memory import MemoryBlobStore
from vaultlink.data import ChunkerParams, Manifest, Node, Progress, Repository, backup, check, restore
from vaultlink.data.restore_plan import selected, survey
from vaultlink.errors import CorruptData, NotFound, UnsafePath

restore_mod = importlib.import_module("vaultlink.data.restore")


def _tree(root: Path, dirs: int = 12, files: int = 25) -> dict[str, bytes]:
    want = {}
    for d in range(dirs):
        for i in range(files):
            rel = f"d{d:02d}/f{i:03d}"
            data = b"same for all " * 40 if i % 5 == 0 else b"%d/%d " % (d, i) * (30 + i)
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
            want[rel] = data
    (root / "d00" / "empty").write_bytes(b"")
    want["d00/empty"] = b""
    os.symlink("d01/f001", root / "link")
    return want


def _read(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


def test_a_restore_in_small_batches_from_a_reader_gives_the_same_tree(
        tmp_path: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    want = _tree(tmp_path / "src")
    res = backup([tmp_path / "src"], repo)
    monkeypatch.setattr(restore_mod, "BATCH_FILES", 7)  # dedup'd chunks span batches
    reads = []

    def reader() -> object:
        reads.append(1)
        return repo.manifest_nodes(res.name)

    stats = restore(reader, repo, tmp_path / "out")  # type: ignore[arg-type]
    assert _read(tmp_path / "out" / "src") == want
    assert os.readlink(tmp_path / "out/src/link") == "d01/f001"
    assert stats.files == len(want) and len(reads) == 2
    assert stats.dirs == 13 and stats.symlinks == 1


def test_a_restore_holds_a_bounded_number_of_nodes(tmp_path: Path, repo: Repository,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(tmp_path / "src", dirs=30, files=100)
    res = backup([tmp_path / "src"], repo)
    monkeypatch.setattr(restore_mod, "BATCH_FILES", 100)
    alive: list[int] = []

    def nodes() -> int:
        gc.collect()  # only the nodes something holds (not garbage the collector has not reached yet)
        return sum(1 for o in gc.get_objects() if type(o) is Node)

    def sample(p: Progress) -> None:
        alive.append(nodes() - before)

    before = nodes()  # held by the test itself (``res``) or left by another test in this process
    restore(repo.manifest_reader(res.name), repo, tmp_path / "out", progress=sample)
    assert alive and 0 < max(alive) < 600, alive  # the old restore held all 3,000 files' nodes


def test_a_damaged_chunk_names_its_files_across_batches(tmp_path: Path, repo: Repository,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(tmp_path / "src")
    res = backup([tmp_path / "src"], repo)
    shared = next(n for n in res.manifest.nodes if n.path == "src/d00/f000").chunks[0]  # in 12 files
    real = repo.index.lookup
    monkeypatch.setattr(repo.index, "lookup", lambda cid: None if cid == shared else real(cid))
    monkeypatch.setattr(restore_mod, "BATCH_FILES", 7)
    with pytest.raises(CorruptData) as e:
        restore(repo.manifest_reader(res.name), repo, tmp_path / "out")
    assert e.value.details["files"] == [f"src/d{d:02d}/f{i:03d}" for d in range(12) for i in range(0, 25, 5)]
    assert (tmp_path / "out/src/d03/f001").exists()  # the others are restored


def test_unsafe_paths_are_refused_before_anything_is_written(tmp_path: Path, repo: Repository) -> None:
    f = Node("r/a", "file", 0o644, 1)
    for nodes in ([Node("r", "dir", 0o755, 1), f, f],  # twice
                  [Node("r", "dir", 0o755, 1), Node("r/l", "symlink", 0o777, 1, target="/etc"),
                   Node("r/l/x", "file", 0o644, 1)],  # below a symlink
                  [Node("r", "dir", 0o755, 1), Node("r/../x", "file", 0o644, 1)]):
        with pytest.raises(UnsafePath):
            restore(Manifest(1.0, "h", ["/r"], nodes), repo, tmp_path / "out")
        assert not (tmp_path / "out").exists()


def test_a_snapshot_out_of_path_order_is_still_restored(tmp_path: Path, repo: Repository) -> None:
    nodes = [Node("r/b", "file", 0o644, 1), Node("r", "dir", 0o755, 1), Node("r/a", "file", 0o600, 1)]
    stats = restore(Manifest(1.0, "h", ["/r"], nodes), repo, tmp_path / "out")
    assert stats.files == 2 and (tmp_path / "out/r/a").exists() and (tmp_path / "out/r/b").exists()
    with pytest.raises(UnsafePath, match="twice"):
        restore(Manifest(1.0, "h", ["/r"], [*nodes, Node("r/a", "file", 0o644, 1)]), repo, tmp_path / "o2")


def _old_select(nodes: Sequence[Node], pats: list[str]) -> list[Node]:
    """What ``--include`` selected before (the whole snapshot held)."""
    hit = {n.path for n in nodes if any(fnmatch.fnmatchcase(n.path, p) for p in pats)}
    keep: set[str] = set()
    for n in nodes:
        parts = n.path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(p in hit for p in prefixes):
            keep.update(prefixes)
    return [n for n in nodes if n.path in keep]


names = st.sampled_from(["a", "b", "a.b", "x.txt", "y.log", "c"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(names, min_size=1, max_size=4), max_size=25),
       st.lists(st.sampled_from(["*.txt", "r/a", "r/a/*", "*b*", "r/c/x.txt", "nothing"]), min_size=1, max_size=2))
def test_include_selects_what_it_did_when_the_snapshot_was_held(paths: list[list[str]], pats: list[str]) -> None:
    tree: dict[str, str] = {"r": "dir"}
    for segs in paths:
        for i in range(len(segs)):
            p = "/".join(["r", *segs[: i + 1]])
            tree.setdefault(p, "dir" if i < len(segs) - 1 else "file")
    tree = {p: t for p, t in tree.items() if not any(tree.get("/".join(p.split("/")[:k])) == "file"
                                                       for k in range(1, p.count("/") + 1))}
    nodes = [Node(p, t, 0o644, 1) for p, t in sorted(tree.items())]
    want = _old_select(nodes, pats)
    if not want:  # a selection of nothing is refused, with what paths look like
        with pytest.raises(NotFound, match="no path of the recovery point matches --include") as exc:
            survey(nodes, pats)
        assert exc.value.field == "include" and "'r'" in exc.value.message
        return
    plan = survey(nodes, pats)
    assert [n.path for n in selected(nodes, plan)] == [n.path for n in want if n.type == "file"]
    assert sorted(d.path for d in plan.dirs) == sorted(n.path for n in want if n.type == "dir")
    assert plan.files == sum(1 for n in want if n.type == "file")


def test_the_reader_fetches_the_snapshot_once_and_keeps_only_its_opened_text(
        tmp_path: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(tmp_path / "src")
    res = backup([tmp_path / "src"], repo)
    sealed = repo.store.get(res.name)
    gets: list[str] = []
    real_get = repo.store.get
    monkeypatch.setattr(repo.store, "get", lambda name: gets.append(name) or real_get(name))
    reader = repo.manifest_reader(res.name)
    kept = [c.cell_contents for c in reader.__closure__ or ()]
    assert not any(k is sealed or k == sealed for k in kept)  # the sealed blob went once opened
    assert [len(k) for k in kept if isinstance(k, bytes)] == [len(sealed) - 1 - 12 - 16]
    assert [n.path for n in reader()] == [n.path for n in reader()] == [n.path for n in res.manifest.nodes]
    assert gets == [res.name, res.name]  # the reader's one fetch, and res.manifest's own


def test_a_damaged_snapshot_is_refused_before_a_restore_writes_anything(tmp_path: Path, repo: Repository) -> None:
    _tree(tmp_path / "src")
    res = backup([tmp_path / "src"], repo)
    blob = bytearray(repo.store.get(res.name))
    blob[len(blob) // 2] ^= 1
    repo.store.put(res.name, bytes(blob))  # the memory store lets a test overwrite
    with pytest.raises(CorruptData):
        restore(repo.manifest_reader(res.name), repo, tmp_path / "out")
    assert not (tmp_path / "out").exists()


class _Ranged(MemoryBlobStore):
    """A store that counts the length of every span a restore reads from it."""

    def __init__(self) -> None:
        super().__init__()
        self.lengths: list[int] = []

    def read_range_into(self, name: str, offset: int, buf: memoryview) -> None:
        self.lengths.append(len(buf))
        buf[:] = self.get_range(name, offset, len(buf))


def _restored_through_ranged(tmp_path: Path, src: Path, params: ChunkerParams) -> tuple[_Ranged, int]:
    """Back ``src`` up into a :class:`_Ranged` store (8 MiB packs), restore it to ``tmp_path/out`` and check the
    tree; the store and how many packs it holds."""
    store = _Ranged()
    repo = Repository.init(store, "correct horse battery staple", log_n=10, pack_size=8 << 20, chunker_params=params)
    res = backup([src], repo)
    packs = len(list(store.list("packs/")))
    restore(repo.manifest_reader(res.name), repo, tmp_path / "out")
    assert _read(tmp_path / "out" / src.name) == _read(src)
    return store, packs


def test_a_restore_reads_small_chunks_in_spans_of_at_most_4_mib(tmp_path: Path) -> None:
    """Each restore worker reads into a buffer of its own grown to the longest span it read: spans of a whole
    8 MiB pack of small chunks made four workers hold 32 MiB (the agent's peak on a restore of many small files)."""
    src = tmp_path / "src"
    src.mkdir()
    rnd = random.Random(2)
    for i in range(400):
        (src / f"f{i:03d}").write_bytes(rnd.randbytes(rnd.randrange(20_000, 60_000)))
    store, _ = _restored_through_ranged(tmp_path, src, ChunkerParams(min_size=16384, avg_size=65536, max_size=262144))
    assert max(store.lengths) <= restore_mod.SPAN == 4 << 20
    assert sum(store.lengths) >= 400 * 20_000 and len(store.lengths) >= 3


def test_a_pack_of_a_few_large_chunks_is_read_in_one_request_of_at_most_8_mib(tmp_path: Path) -> None:
    """Large chunks are read in spans of up to LONG_SPAN: about one request per 8 MiB pack, where 4 MiB spans made
    two (through an S3 store each request is a GET of its own). The restored tree is the same."""
    src = tmp_path / "src"
    src.mkdir()
    rnd = random.Random(3)
    for i in range(3):
        (src / f"big{i}").write_bytes(rnd.randbytes(7 << 20))  # incompressible: chunks stored as they are
    store, packs = _restored_through_ranged(tmp_path, src,
                                            ChunkerParams(min_size=256 << 10, avg_size=1 << 20, max_size=2 << 20))
    assert restore_mod.SPAN < max(store.lengths) <= restore_mod.LONG_SPAN == 8 << 20
    assert len(store.lengths) <= 2 * packs  # 8 MiB, then what passes it (4 MiB spans: two or three)


def test_spans_of_many_chunks_stay_within_span_and_of_few_within_long_span() -> None:
    """The plan alone: a span holding SMALL_SPAN chunks or more never passes SPAN, any span never passes
    LONG_SPAN unless one chunk alone is longer, and every chunk is in exactly one span."""
    small = [(i * 40_000, 40_000, b"s%d" % i) for i in range(400)]  # 16 MB of 40 kB chunks, back to back
    big = [(i * (3 << 20), 3 << 20, b"b%d" % i) for i in range(6)]
    huge = [(0, 9 << 20, b"h")]
    spans = restore_mod._plan({"packs/a": list(small), "packs/b": list(big), "packs/c": list(huge)})
    for _pack, start, length, items in spans:
        if len(items) >= restore_mod.SMALL_SPAN:
            assert length <= restore_mod.SPAN
        assert length <= restore_mod.LONG_SPAN or len(items) == 1
        assert start == items[0][0] and length == items[-1][0] + items[-1][1] - start
    assert sorted(c for *_, items in spans for *_, c in items) == sorted(c for *_, c in small + big + huge)
    assert [len(items) for pack, _, _, items in spans if pack == "packs/b"] == [2, 2, 2]  # 6 MiB each, not 3


def test_a_check_holds_no_snapshot_whole(tmp_path: Path, repo: Repository) -> None:
    """``check`` streams each snapshot's nodes (the old one loaded every snapshot whole: a vault of many points of
    a million files each did not fit in memory), and still names a damaged file of every snapshot."""
    _tree(tmp_path / "src", dirs=30, files=100)
    names = [backup([tmp_path / "src"], repo).name for _ in range(3)]
    alive: list[int] = []

    def nodes() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if type(o) is Node)

    before = nodes()
    report = check(repo, read_data=True, progress=lambda done, total: alive.append(nodes() - before))
    assert report.ok and report.snapshots == 3 and alive and max(alive) < 50, alive  # 3 x 3,000 nodes before
    victim = next(n for n in repo.manifest_nodes(names[0]) if n.path == "src/d07/f003")
    real = repo.index.lookup
    repo.index.lookup = lambda cid: None if cid == victim.chunks[0] else real(cid)  # type: ignore[method-assign]
    report = check(repo)
    assert sorted(report.damaged_files) == sorted((n, "src/d07/f003") for n in names)
