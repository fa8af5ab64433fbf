"""``vaultlink agent dump``: one file of a recovery point of this machine, written to a stream (stdout), to be
piped (``agent dump RP db/dump.sql | psql``) without a restore target. It is a restore job on the service,
like any read of backup data: started, then ended ``Completed`` with the bytes written, or ``Failed``.

Chunks are fetched a few at a time ahead of the one written (``AHEAD``), each verified before a byte of it is
written; the file is never held whole. A file whose bytes do not add up to its recorded size ends the job as
``CorruptData`` (what was written is then not the file)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import Any, BinaryIO

from vaultlink.agent.browse import point_with_files
from vaultlink.agent.http import AgentHttp
from vaultlink.agent.job_progress import reporter
from vaultlink.agent.state import AgentState
from vaultlink.data.manifest import Node
from vaultlink.data.repository import Repository
from vaultlink.errors import CorruptData, InvalidInput, NotFound

AHEAD = 8  # chunks fetched ahead of the one written (about 8 MiB with 1 MiB chunks)
FETCHERS = 4


def find_file(nodes: Iterable[Node], path: str, rp_id: str) -> Node:
    """The regular file at ``path`` (relative; a leading ``/`` is ignored) of a point's nodes."""
    rel = path.strip("/")
    sample: list[str] = []
    for n in nodes:
        if len(sample) < 3:
            sample.append(n.path)
        if n.path != rel:
            continue
        if n.type == "dir":
            raise InvalidInput(f"{rel!r} is a directory: restore it with `vaultlink agent restore {rp_id} --target "
                               f"DIR --include {rel!r}`.", field="path")
        if n.type == "symlink":
            raise InvalidInput(f"{rel!r} is a symlink to {n.target!r}: dump the file it points to.", field="path")
        return n
    shown = ", ".join(repr(p) for p in sample) or "none: the recovery point is empty"
    raise NotFound(f"{rel!r} is not in recovery point {rp_id}; paths are relative to the point, such as {shown}; "
                   f"`vaultlink agent ls {rp_id}` lists them.", field="path")


def write_file(repo: Repository, node: Node, out: BinaryIO) -> int:
    """Write ``node``'s content to ``out``, chunk by chunk, each verified; returns the bytes written."""
    written = 0
    with ThreadPoolExecutor(FETCHERS, thread_name_prefix="dump") as pool:
        ids = iter(node.chunks)
        ahead: deque[Future[bytes]] = deque(pool.submit(repo.read_chunk, cid) for cid in islice(ids, AHEAD))
        try:
            while ahead:
                repo.check_uploads()  # raises what ``Repository.stop`` was given: the job ended on the service
                data = ahead.popleft().result()
                nxt = next(ids, None)
                if nxt is not None:
                    ahead.append(pool.submit(repo.read_chunk, nxt))
                out.write(data)
                written += len(data)
        finally:
            for f in ahead:
                f.cancel()
    if written != node.size:
        raise CorruptData(f"{node.path!r} gave {written:,} bytes where its snapshot records {node.size:,}: what was "
                          "written is not the file; run `vaultlink agent check --read-data`.", files=[node.path])
    out.flush()
    return written


def dump_file(http: AgentHttp, st: AgentState, open_repository: Callable[[list[str], str | None], Repository],
              fail_job: Callable[[str, BaseException], None], rp_id: str, path: str,
              out: BinaryIO) -> dict[str, Any]:
    """Write the file ``path`` of this machine's recovery point ``rp_id`` to ``out`` (a restore job), the
    repository opened by ``open_repository(accounts, write_account)``, a failed job ended by ``fail_job``."""
    svc = st.backup_service
    rp = point_with_files(http, st, rp_id)
    started = http.json(svc, "POST", f"/recovery-points/{rp_id}/restore-jobs", {"job_id": None})
    job = started["job"]
    rep = reporter(lambda at, body: http.request(svc, "POST", at, json=body, retry=False), job["id"])
    try:
        repo = open_repository(started["storage_accounts"], started["write_account"])
        rep.on_end = repo.stop  # the job stopped on the service: the dump stops at its next chunk
        try:
            with rep.beating():  # a dump into a slow pipe reports no progress: the heartbeat says it is alive
                node = find_file(repo.manifest_nodes(rp["manifest"]), path, rp_id)
                size = write_file(repo, node, out)
        finally:
            repo.close()
        stats = {"files": 1, "dirs": 0, "symlinks": 0, "bytes": size}
        http.request(svc, "POST", f"/jobs/{job['id']}/finish", json={"status": "Completed", "stats": stats})
    except BaseException as exc:
        fail_job(job["id"], exc)
        raise
    return {"recovery_point": rp_id, "path": node.path, "bytes": size, "job": job["id"]}
