"""``vaultlink agent rotate-credential``: a new container credential for this machine, the old one ended.

The service issues the next credential without ending the current one; the agent saves it in its state directory
(atomically and durably) before it first uses it, and that first use makes it current and ends the old one. An
agent killed in between still holds a working credential (the old one, or the saved new one), and a copy of the old
credential (someone who read the state directory, a backup of it) stops working. It runs under the machine's
backup lock (a backup running in another process is not cut off); any other agent process of the machine that
still sends the old one takes up the new one from the state directory when the service refuses the old
(``AgentHttp.refresh``). ``agent run`` rotates by itself once a day (``--rotate-credential-hours``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

from vaultlink import __version__
from vaultlink.agent.http import AgentHttp
from vaultlink.agent.state import AgentState, exclusive, save_state, try_load_state
from vaultlink.errors import LocalIOError


class _Agent(Protocol):  # ``session.Agent``, which takes this function as its method
    state: AgentState
    http: AgentHttp
    state_dir: Path | None


def rotate_credential(agent: _Agent, state_dir: Path) -> dict[str, Any]:
    """Replace this machine's container credential; returns the container and when the new one became current.
    ``BackupInProgress`` while a backup of the machine runs."""
    st = agent.state
    with exclusive(state_dir, "backup or credential rotation"):
        out = agent.http.json(st.backup_service, "POST", "/containers/register", {
            "hostname": st.hostname, "agent_kind": st.agent_kind, "agent_version": st.agent_version or __version__})
        before = st.credential, st.credential_issued
        st.credential, st.credential_issued = out["credential"], time.time()
        try:
            save_state(state_dir, st)  # saved before its first use: a crash now leaves the old one working
        except OSError as exc:  # a full disk: the old one goes on working, the new one is never used
            st.credential, st.credential_issued = before
            raise LocalIOError.of(exc) from None
        agent.http.token = st.credential
        shown = agent.http.json(st.backup_service, "GET", "/containers/self")  # the first use: the old one ends
    return {"container": st.container_id, "hostname": st.hostname, "rotated": shown.get("rotated"),
            "state_dir": str(state_dir)}


def rotation_due(agent: _Agent, every: float, now: float) -> bool:
    """Is the credential older than ``every`` seconds (0: never rotated by itself)?"""
    return every > 0 and now - agent.state.credential_issued >= every


def saved_credential(agent: _Agent) -> str | None:
    """The credential the state directory holds when another process of this machine rotated it (taken up as
    this agent's own), else None."""
    fresh = try_load_state(agent.state_dir) if agent.state_dir is not None else None
    if fresh is None or fresh.container_id != agent.state.container_id or fresh.credential == agent.state.credential:
        return None
    agent.state.credential, agent.state.credential_issued = fresh.credential, fresh.credential_issued
    return fresh.credential
