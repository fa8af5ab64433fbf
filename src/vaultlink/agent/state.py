"""The agent's local state: which vault and container this machine is, its credential, the names
and port it uses. Saved as ``state.json`` (mode 0600) in a state directory (mode 0700)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vaultlink.config import agent_state_dir
from vaultlink.durable import write_atomic
from vaultlink.errors import BackupInProgress, InvalidInput, NotRegistered


def default_state_dir() -> Path:
    return agent_state_dir()


@dataclass
class AgentState:
    vault_id: str
    vault_name: str
    region: str
    geo: str
    domain: str
    api_port: int
    dns: str
    source_ip: str
    container_id: str
    credential: str
    hostname: str
    backup_service: str
    storage_accounts: list[str] = field(default_factory=list)
    write_account: str | None = None
    storage_suffix: str = ""  # "-secondary": a machine of the paired region reaches the replica's names
    ca_pem: str = ""  # the deployment's CA (from the credentials file): the service is verified over TLS
    agent_kind: str = "mars"  # what registration reported (domain/agents.py); "" version: this vaultlink's
    agent_version: str = ""
    proxy: str = ""  # http://[user:password@]host:port (agent/proxy.py); "": HTTPS_PROXY, if set
    no_proxy: str = ""  # names, suffixes, CIDRs or * reached directly
    workloads: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> {"kind": "postgres", "dsn"}
    credential_issued: float = 0.0  # when the service issued ``credential`` (registration or rotation), epoch s

    def public(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("credential")
        d.pop("ca_pem")
        if d.get("proxy"):  # never show the proxy's password
            d["proxy"] = d["proxy"].split("://", 1)[0] + "://" + d["proxy"].rsplit("@", 1)[-1].split("://")[-1]
        d["tls"] = bool(self.ca_pem)
        return d


def state_path(state_dir: Path) -> Path:
    return state_dir / "state.json"


def load_state(state_dir: Path) -> AgentState:
    path = state_path(state_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotRegistered(
            f"this machine is not registered (no {path}); run `vaultlink agent register --credentials FILE "
            "--source-ip IP --dns HOST:PORT` first."
        ) from None
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"the agent state {path} is unreadable ({exc}); register again.") from None
    known = set(AgentState.__dataclass_fields__)
    return AgentState(**{k: v for k, v in raw.items() if k in known})


def try_load_state(state_dir: Path) -> AgentState | None:
    try:
        return load_state(state_dir)
    except (NotRegistered, InvalidInput, TypeError):
        return None


def save_state(state_dir: Path, state: AgentState) -> None:
    write_private(state_path(state_dir), asdict(state))


def write_private(path: Path, data: dict[str, Any]) -> None:
    """``data`` as JSON at ``path`` (mode 0600, in a 0700 directory), replaced atomically and durably."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True).encode("utf-8"))


@contextlib.contextmanager
def exclusive(state_dir: Path, what: str) -> Iterator[None]:
    """Hold this machine's lock for a backup: a second backup of the same container is refused at start
    (``BackupInProgress``), not failed at completion. A killed agent's lock goes with its process."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(state_dir / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupInProgress(
                f"another {what} of this machine (state directory {state_dir}) is running; wait for it to "
                "finish, then run this one again."
            ) from None
        yield
    finally:
        os.close(fd)
