"""``vaultlink agent passphrase``: a passphrase change, and the retirement of the old passphrase.

Stored data is write-once, so a change wraps the repository's keys under the new passphrase in a new key version
(``keys/key.N``) beside the old ones, and the old passphrase keeps opening them. With ``retire``, the agent then
asks the service to retire every other version: the service hides them from every credential (this machine's, a
restore grant's, the paired region's, a copy's), so the old passphrase no longer opens the data through it. The
retired versions stay stored: the vault's owner can bring them back (``vaultlink container keys``), which undoes
a retirement nobody meant (a copied machine credential can ask for one too, and it is audited)."""

from __future__ import annotations

from typing import Any, Protocol

from vaultlink.agent.http import AgentHttp
from vaultlink.agent.state import AgentState
from vaultlink.data import Repository
from vaultlink.data.crypto import check_passphrase, open_key_file


class _Agent(Protocol):  # ``session.Agent``, which takes this function as its method
    state: AgentState
    http: AgentHttp

    def open_repository(self, passphrase: str) -> Repository: ...


def change_passphrase(agent: _Agent, old: str, new: str, retire: bool = False) -> dict[str, Any]:
    """Add a key version under ``new`` (opened again with it before anything is retired); with ``retire``, every
    other version is retired by the service."""
    repo = agent.open_repository(old)
    try:
        name = repo.add_key(check_passphrase(new))
        open_key_file(repo.store.get(name), new, name)  # the new version opens with the new passphrase
    finally:
        repo.close()
    out: dict[str, Any] = {"key_file": name, "container": agent.state.container_id}
    if retire:
        out["retired"] = agent.http.json(agent.state.backup_service, "POST", "/keys/retire", {"keep": name})["retired"]
    return out
