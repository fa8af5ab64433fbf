"""``vaultlink agent run``: the long-running agent. It polls its machine's queue through the private
endpoint (the queue name of the vault's first storage account), runs each backup job the service's
scheduler queued there, reports it (the job starts, completes or fails on the service), and removes the
work item. A work item stays hidden while its job runs; if the agent dies it reappears, and a job whose
start window has passed is refused by the service (it expires there) and dropped here.

Service outages are waited out (the agent's HTTP layer retries, then this loop polls again); SIGTERM
lets the current backup finish, then stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vaultlink.agent.credential import rotation_due
from vaultlink.agent.session import Agent
from vaultlink.data.restore_plan import Pick
from vaultlink.dns.names import queue_public_name
from vaultlink.errors import FilesUnreadable, NotFound, VaultlinkError

VISIBILITY = 3600.0  # seconds a taken work item stays hidden from other takers


def queue_host(agent: Agent) -> str:
    return queue_public_name(agent.state.storage_accounts[0] + agent.state.storage_suffix, agent.state.domain)


def run(agent: Agent, passphrase: str, state_dir: Path | None, poll: float, once: bool, stop: threading.Event,
        log: Callable[[dict[str, Any]], None], rotate_every: float = 0.0) -> int:
    """Take and run work items until ``stop`` is set (or, with ``once``, until the queue is empty); returns how
    many items were handled. Between two items, a credential older than ``rotate_every`` seconds is replaced."""
    handled = 0
    while not stop.is_set():
        if state_dir is not None and rotation_due(agent, rotate_every, time.time()):
            rotate(agent, state_dir, log)
        try:
            items = agent.http.json(queue_host(agent), "GET", f"/messages?max_items=1&visibility={VISIBILITY:g}")
        except VaultlinkError as exc:
            log({"event": "poll", "status": "Failed", "error": exc.code, "message": exc.message})
            items = []
            if once:
                raise
        for item in items:
            handled += 1
            body = item.get("body") if isinstance(item.get("body"), dict) else {}
            job_id, paths = body.get("job_id"), body.get("paths")
            if body.get("kind") == "restore" and isinstance(job_id, str):
                run_restore(agent, passphrase, body, log)
            elif body.get("kind") != "backup" or not isinstance(job_id, str) or not isinstance(paths, list):
                log({"event": "work-item", "status": "Ignored", "item": item.get("id"), "message": "not a job"})
            else:
                log({"event": "job", "job": job_id, "status": "InProgress", "paths": paths})
                try:
                    out = agent.backup([str(p) for p in paths], passphrase, None, state_dir=state_dir, job_id=job_id,
                                       exclude=body.get("exclude") or (),
                                       one_file_system=body.get("one_file_system") is True)
                    log({"event": "job", "job": job_id, "status": "Completed",
                         "recovery_point": out["recovery_point"]["id"], "files": out["stats"]["files"],
                         **unreadable(out["recovery_point"]["id"], out["stats"])})
                except VaultlinkError as exc:
                    failed(agent, job_id, exc, log)
            try:
                agent.http.json(queue_host(agent), "DELETE", f"/messages/{item['id']}")
            except NotFound:
                pass  # the service took it off already (its job expired or was stopped meanwhile)
            except VaultlinkError as exc:  # it reappears after its visibility; the service refuses a rerun
                log({"event": "work-item", "status": "Failed", "item": item.get("id"), "error": exc.code})
        if once and not items:
            break
        if not items:
            stop.wait(poll)
    return handled


def rotate(agent: Agent, state_dir: Path, log: Callable[[dict[str, Any]], None]) -> None:
    """Replace the machine's credential (``agent/credential.py``); a refusal is logged and tried again at the next
    turn of the loop that finds it due (a backup of the machine in another process: ``BackupInProgress``)."""
    try:
        out = agent.rotate_credential(state_dir)
        log({"event": "credential", "status": "Rotated", "rotated": out["rotated"]})
    except VaultlinkError as exc:
        log({"event": "credential", "status": "Failed", "error": exc.code, "message": exc.message})


def unreadable(rp: str, stats: dict[str, Any], shown: int = 20) -> dict[str, Any]:
    """The fields a completed job's log line adds when its point lacks files the agent could not read: the
    ``FilesUnreadable`` code, what to do, the count and the first ``shown`` paths (as ``agent backup`` warns)."""
    count = int(stats.get("error_count") or 0)
    if not count:
        return {}
    err = FilesUnreadable.counted(count, f"recovery point {rp}")
    return {"warning": err.code, "message": err.message, "error_count": count,
            "errors": list(stats.get("errors", []))[:shown]}


def run_restore(agent: Agent, passphrase: str, body: dict[str, Any], log: Callable[[dict[str, Any]], None]) -> None:
    """A restore job queued onto this machine (of its own or another machine's recovery point)."""
    job_id, rp, target = body["job_id"], body.get("recovery_point"), body.get("target")
    if not isinstance(rp, str) or not isinstance(target, str):
        log({"event": "job", "job": job_id, "status": "Ignored", "message": "a restore needs a point and a target"})
        return
    log({"event": "job", "job": job_id, "status": "InProgress", "recovery_point": rp, "target": target})
    try:
        out = agent.restore(rp, target, passphrase, include=Pick.checked(body.get("include"), body.get("exclude")),
                            job_id=job_id)
        log({"event": "job", "job": job_id, "status": "Completed", "files": out["files"], "target": out["target"]})
    except VaultlinkError as exc:
        failed(agent, job_id, exc, log)


def failed(agent: Agent, job_id: str, exc: VaultlinkError, log: Callable[[dict[str, Any]], None]) -> None:
    """A queued job that failed here, told to the service too: one that failed before it started (a path of the
    selection missing, another backup of this machine running) would otherwise wait in ``Created`` and expire
    with no word of why. (A job that failed after it started was ended already; telling it again changes
    nothing. A job the service refused to start, ended or past its start window, is the service's to end.)"""
    if exc.field != "job_id":
        agent.fail_job(job_id, exc)
    log({"event": "job", "job": job_id, "status": "Failed", "error": exc.code, "message": exc.message})
