"""``vaultlink agent ls``: what a recovery point of this machine holds, read from its snapshot before a restore
chooses from it. With patterns it gives exactly what ``agent restore --include/--exclude`` would restore (the
same ``Pick``, ``data/restore_plan``), and refuses the same way when they leave nothing.

Only the point's snapshot is read (the key file and one blob): no job, no chunk index, no pack. The snapshot's
nodes are read twice with patterns (selected, then listed) and streamed, never held: a point of a million files
lists in bounded memory."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from vaultlink.agent.http import AgentHttp
from vaultlink.agent.remote import RemoteBlobStore
from vaultlink.agent.state import AgentState
from vaultlink.data.manifest import Node
from vaultlink.data.repository import Repository
from vaultlink.data.restore_plan import Pick, Unsorted, survey
from vaultlink.errors import Conflict


def point_nodes(http: AgentHttp, st: AgentState, rp_id: str, passphrase: str, pick: Pick = Pick()) -> Iterator[Node]:
    """The nodes of this machine's recovery point ``rp_id`` in path order (those ``pick`` takes)."""
    rp = http.json(st.backup_service, "GET", f"/recovery-points/{rp_id}")
    if not rp.get("manifest"):
        raise Conflict(f"recovery point {rp_id} is {rp.get('status', 'not complete')}: it holds no files to list.",
                       field="recovery_point")
    names = http.json(st.backup_service, "GET", "/containers/self")["names"]  # the vault's accounts now
    store = RemoteBlobStore(http, st.domain, names["storage_accounts"], names["write_account"], st.storage_suffix)
    repo = Repository.open(store, passphrase, load_index=False)
    try:
        nodes_of: Callable[[], Iterable[Node]] = repo.manifest_reader(rp["manifest"])
    finally:
        repo.close()
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
