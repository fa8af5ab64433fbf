"""What a restore takes from a point (``restore_plan.Pick``): include patterns, less exclude patterns with the
rules of ``agent backup --exclude`` (a leading ``/`` is the whole path, anything else the end of a path; an
excluded directory takes its subtree); a pick that leaves nothing is refused before a target is made."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultlink.data import Node, Pick, Repository, backup, restore
from vaultlink.data.count_walk import Skip
from vaultlink.data.restore_plan import selected, survey
from vaultlink.errors import NotFound


def _model(nodes: list[Node], include: list[str] | None, exclude: list[str]) -> set[str]:
    """The paths a pick leaves, the simple way: the whole snapshot held."""
    skip = Skip(exclude, pseudo=frozenset())

    def prefixes(p: str) -> list[str]:
        parts = p.split("/")
        return ["/".join(parts[: k + 1]) for k in range(len(parts))]

    kept = {n.path for n in nodes
            if not any(skip.excluded("/" + a) for a in prefixes(n.path))
            and (include is None or any(fnmatch.fnmatchcase(a, pat) for a in prefixes(n.path) for pat in include))}
    if include is not None:  # a kept node brings its directories
        kept |= {a for p in kept for a in prefixes(p)[:-1]}
    return kept


names = st.sampled_from(["a", "b", "a.b", "x.tmp", "y.log", "c", "build"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(names, min_size=1, max_size=4), max_size=25),
       st.one_of(st.none(), st.lists(st.sampled_from(["r/a", "r/a/*", "*b*", "*.log", "r/c"]), min_size=1,
                                     max_size=2)),
       st.lists(st.sampled_from(["*.tmp", "build", "/r/a", "a/b", "/r/*/c", "r"]), min_size=1, max_size=2))
def test_a_pick_leaves_what_the_held_snapshot_model_leaves(
        paths: list[list[str]], include: list[str] | None, exclude: list[str]) -> None:
    tree: dict[str, str] = {"r": "dir"}
    for segs in paths:
        for i in range(len(segs)):
            tree.setdefault("/".join(["r", *segs[: i + 1]]), "dir" if i < len(segs) - 1 else "file")
    tree = {p: t for p, t in tree.items() if not any(tree.get("/".join(p.split("/")[:k])) == "file"
                                                       for k in range(1, p.count("/") + 1))}
    nodes = [Node(p, t, 0o644, 1) for p, t in sorted(tree.items())]
    pick = Pick(include=None if include is None else tuple(include), exclude=tuple(exclude))
    want = _model(nodes, include, exclude)
    if not want:  # nothing left: refused, naming the option that took everything
        with pytest.raises(NotFound, match="no path of the recovery point") as exc:
            survey(nodes, pick)
        assert exc.value.field == ("include" if include is not None else "exclude")
        assert "--exclude" in exc.value.message
        return
    plan = survey(nodes, pick)
    assert [n.path for n in selected(nodes, plan)] == [n.path for n in nodes if n.type == "file" and n.path in want]
    assert sorted(d.path for d in plan.dirs) == sorted(p for p in want if tree[p] == "dir")
    assert {n.path for n in nodes if plan.wanted(n)} == want  # what `agent ls` lists is what a restore writes
    assert plan.files == sum(1 for p in want if tree[p] == "file")


def test_restore_leaves_out_what_exclude_matches(tree: Path, repo: Repository, tmp_path: Path) -> None:
    res = backup([tree], repo)

    def restored(out: Path) -> list[str]:
        return sorted(str(p.relative_to(out)) for p in out.rglob("*"))

    st = restore(res.manifest, repo, tmp_path / "a", Pick(exclude=("deep", "*.bin")))
    assert restored(tmp_path / "a") == ["src", "src/dangling", "src/docs", "src/docs/a.txt", "src/empty",
                                        "src/link"]
    assert st.files == 2
    restore(res.manifest, repo, tmp_path / "b", Pick(include=("src/docs",), exclude=("/src/docs/deep",)))
    assert restored(tmp_path / "b") == ["src", "src/docs", "src/docs/a.txt", "src/docs/copy.bin"]
    with pytest.raises(NotFound, match=r"is left by --exclude '/src'") as exc:
        restore(res.manifest, repo, tmp_path / "c", Pick(exclude=("/src",)))
    assert exc.value.field == "exclude"
    assert not (tmp_path / "c").exists(), "a restore of nothing makes no target"
    with pytest.raises(NotFound, match=r"matches --include 'src/docs' and is not left out by --exclude 'docs'"):
        restore(res.manifest, repo, tmp_path / "d", Pick(include=("src/docs",), exclude=("docs",)))
