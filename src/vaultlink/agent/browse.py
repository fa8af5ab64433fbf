"""``vaultlink agent ls`` and ``diff``: what a recovery point of this machine holds, read from its snapshot
before a restore chooses from it, and what changed between two of them. With patterns ``ls`` gives exactly
what ``agent restore --include/--exclude`` would restore (the same ``Pick``, ``data/restore_plan``), and
refuses the same way when they leave nothing.

Only the points' snapshots are read (the key file and one blob each): no job, no chunk index, no pack. The
nodes are streamed, never held (read twice by ``ls`` with patterns: selected, then listed; once by ``diff``,
both snapshots side by side): a point of a million files lists in bounded memory."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from vaultlink.agent.http import AgentHttp
from vaultlink.agent.remote import RemoteBlobStore
from vaultlink.agent.state import AgentState
from vaultlink.data.count_walk import Skip
from vaultlink.data.diff import Change, DiffStats, diff_nodes
from vaultlink.data.manifest import Node
from vaultlink.data.repository import Repository
from vaultlink.data.restore_plan import Pick, Unsorted, survey
from vaultlink.errors import Conflict, NotFound

LATEST = re.compile(r"latest(?:~(\d{1,4}))?")


def latest_point(ref: str, points: Callable[[], list[dict[str, Any]]]) -> str:
    """``ref``, a recovery point's id, as it is; ``latest`` is this machine's newest completed point of
    ``points()`` and ``latest~N`` the Nth before it (``NotFound`` when there are not that many)."""
    m = LATEST.fullmatch(ref)
    if m is None:
        return ref
    back = int(m.group(1) or 0)
    done = newest_first(points())
    if back >= len(done):
        raise NotFound(f"{ref} names none: this machine has {len(done)} completed recovery point(s) "
                       "(`vaultlink agent recovery-points` lists them).", field="recovery_point")
    return str(done[back]["id"])


def newest_first(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The completed points among ``points``, newest first."""
    return sorted((p for p in points if p.get("status") == "Completed"), key=lambda p: p["time"], reverse=True)


def point_with_files(http: AgentHttp, st: AgentState, rp_id: str) -> dict[str, Any]:
    """This machine's recovery point ``rp_id``; ``Conflict`` when it holds no snapshot (not complete)."""
    rp: dict[str, Any] = http.json(st.backup_service, "GET", f"/recovery-points/{rp_id}")
    if not rp.get("manifest"):
        raise Conflict(f"recovery point {rp_id} is {rp.get('status', 'not complete')}: it holds no files.",
                       field="recovery_point")
    return rp


def _readers(http: AgentHttp, st: AgentState, rp_ids: Sequence[str],
             passphrase: str) -> list[Callable[[], Iterator[Node]]]:
    """For each of this machine's recovery points ``rp_ids``, a function that streams its snapshot's nodes."""
    points = [point_with_files(http, st, rp_id) for rp_id in rp_ids]
    return _open(http, st, [rp["manifest"] for rp in points], passphrase)


def _open(http: AgentHttp, st: AgentState, manifests: Sequence[str],
          passphrase: str) -> list[Callable[[], Iterator[Node]]]:
    names = http.json(st.backup_service, "GET", "/containers/self")["names"]  # the vault's accounts now
    store = RemoteBlobStore(http, st.domain, names["storage_accounts"], names["write_account"], st.storage_suffix)
    repo = Repository.open(store, passphrase, load_index=False)
    try:
        return [repo.manifest_reader(m) for m in manifests]
    finally:
        repo.close()


def point_find(http: AgentHttp, st: AgentState, patterns: Sequence[str], passphrase: str,
               newest: int | None = None) -> Iterator[tuple[dict[str, Any], Node]]:
    """Each path that ``patterns`` match (the rules of ``agent backup --exclude``: ``/src/notes.txt`` is that
    path, ``*.sql`` or ``notes.txt`` the end of any) in this machine's completed points, newest point first
    (only the ``newest`` ones, if given), with its point; each snapshot streamed."""
    points = [p for p in newest_first(http.json(st.backup_service, "GET", "/recovery-points")) if p.get("manifest")]
    points = points[:newest] if newest is not None else points
    skip = Skip(patterns, pseudo=frozenset())
    for rp, nodes_of in zip(points, _open(http, st, [p["manifest"] for p in points], passphrase), strict=True):
        for n in nodes_of():
            if skip.excluded("/" + n.path):
                yield rp, n


def point_nodes(http: AgentHttp, st: AgentState, rp_id: str, passphrase: str, pick: Pick = Pick()) -> Iterator[Node]:
    """The nodes of this machine's recovery point ``rp_id`` in path order (those ``pick`` takes)."""
    nodes_of: Callable[[], Iterable[Node]] = _readers(http, st, [rp_id], passphrase)[0]
    if pick == Pick():
        yield from nodes_of()
        return
    try:
        plan = survey(nodes_of(), pick)
    except Unsorted:  # a snapshot not in path order (none of ours): held, sorted, as a restore does
        held = sorted(nodes_of(), key=lambda n: n.path)
        nodes_of = lambda: held  # noqa: E731
        plan = survey(held, pick)
    for n in nodes_of():
        if plan.wanted(n):
            yield n


def point_diff(http: AgentHttp, st: AgentState, old: str, new: str, passphrase: str, metadata: bool = False,
               stats: DiffStats | None = None) -> Iterator[Change]:
    """What changed from this machine's recovery point ``old`` to ``new`` (``data/diff.py``), streamed; a
    snapshot not in path order (no backup of ours writes one) is refused."""
    before, after = _readers(http, st, [old, new], passphrase)
    try:
        yield from diff_nodes(before(), after(), metadata, stats)
    except Unsorted as exc:
        raise Conflict(f"a snapshot is not in path order at {exc.args[0]!r} (not written by a vaultlink backup): "
                       "diff cannot pair its paths; compare `vaultlink agent ls` listings instead.",
                       field="recovery_point") from None
