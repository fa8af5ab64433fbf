"""``data/diff.py``: what changed between two snapshots, paired path by path from two streams; the same
answer as comparing two held dictionaries, for any pair of trees."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultlink.data.diff import DiffStats, compare, diff_nodes
from vaultlink.data.manifest import Node
from vaultlink.data.restore_plan import Unsorted


def file(path: str, content: bytes = b"a", mtime: int = 1, mode: int = 0o644, size: int = 10) -> Node:
    return Node(path, "file", mode, mtime, size=size, chunks=[content.ljust(32, b".")], sizes=[size])


def test_each_kind_of_change_and_the_totals() -> None:
    old = [Node("r", "dir", 0o755, 1), file("r/a", b"a"), file("r/b", b"b", size=7), file("r/c", b"c"),
           Node("r/d", "dir", 0o755, 1), Node("r/l", "symlink", 0o777, 1, target="a"), file("r/m", b"m")]
    new = [Node("r", "dir", 0o755, 9), file("r/a", b"a2", size=12), file("r/c", b"c"), file("r/d", b"d", size=3),
           Node("r/l", "symlink", 0o777, 1, target="c"), file("r/m", b"m", mtime=5), file("r/n", b"n", size=4)]
    stats = DiffStats()
    got = [(c.kind, c.node.path) for c in diff_nodes(old, new, stats=stats)]
    assert got == [("M", "r/a"), ("-", "r/b"), ("T", "r/d"), ("M", "r/l"), ("+", "r/n")]
    assert stats.to_dict() == {"added": 1, "removed": 1, "modified": 2, "type_changed": 1, "metadata_changed": 0,
                               "bytes_added": 12 + 3 + 4, "bytes_removed": 10 + 7}
    with_meta = [(c.kind, c.node.path) for c in diff_nodes(old, new, metadata=True)]
    assert ("U", "r") in with_meta and ("U", "r/m") in with_meta and len(with_meta) == 7
    assert compare(file("x"), file("x", mode=0o600)) is None  # metadata alone is not a change by default


def test_a_snapshot_out_of_path_order_is_refused() -> None:
    with pytest.raises(Unsorted):
        list(diff_nodes([file("r/b"), file("r/a")], [file("r/a")]))


names = st.sampled_from(["a", "b", "c.txt", "d"])
trees = st.dictionaries(st.lists(names, min_size=1, max_size=3).map("/".join),
                        st.tuples(st.sampled_from(["file", "symlink"]), st.sampled_from([b"1", b"2"])), max_size=12)


@settings(max_examples=200, deadline=None)
@given(trees, trees)
def test_streamed_pairs_match_two_held_dictionaries(a: dict[str, tuple[str, bytes]],
                                                    b: dict[str, tuple[str, bytes]]) -> None:
    def nodes(t: dict[str, tuple[str, bytes]]) -> list[Node]:
        return [file(p, c) if k == "file" else Node(p, "symlink", 0o777, 1, target=c.decode())
                for p, (k, c) in sorted(t.items())]

    want = {p: "-" for p in a.keys() - b.keys()} | {p: "+" for p in b.keys() - a.keys()}
    want |= {p: "T" if a[p][0] != b[p][0] else "M" for p in a.keys() & b.keys() if a[p] != b[p]}
    got = [(c.kind, c.node.path) for c in diff_nodes(nodes(a), nodes(b))]
    assert [p for _k, p in got] == sorted(want) and dict((p, k) for k, p in got) == want

