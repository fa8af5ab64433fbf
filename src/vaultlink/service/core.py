"""The service context every handler receives, the caller, and authorization."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vaultlink.config import Config
from vaultlink.domain.identity import Scope, role_allows
from vaultlink.domain.regions import Catalog
from vaultlink.errors import AccessDenied
from vaultlink.ports import BlobStore, MetadataStore, Txn, VaultChunkIndex
from vaultlink.service.audit import AuditSink
from vaultlink.service.events import Changed, Deleting, EventBus, WorkQueued


class SystemClock:
    def now(self) -> float:
        return time.time()


class Stopping(Exception):
    """The server is stopping (``Service.stopping``): a long pass (copies, replication) stops between two blobs and
    leaves the rest for the next pass, instead of keeping the process alive until it is done."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the one identity type, for the management API and the data plane alike.

    ``kind`` is the credential that authenticated it, and bounds what it may ever do (DESIGN.md §5,
    step 6): an ``api_key`` acts for its principal under its roles and policies; a ``registration``
    secret (from a vault credentials file) may only register a container with ``vault_id``; a
    ``container`` credential acts only on its own container's data in ``vault_id``; a ``gateway``
    credential only sends its appliance's heartbeat; ``anonymous`` (no credential) only asks for or
    claims a gateway activation (``fabric.actions.ANONYMOUS_ACTIONS``). The pipeline
    checks the caller and hands this same object to the handler: nothing re-parses a header.
    """

    principal_id: str
    account_id: str
    arn: str
    name: str
    source_ip: str | None = None
    kind: str = "api_key"  # api_key | registration | container | gateway | anonymous
    credential_id: str = ""  # the API key, registration secret or container id: its own throttle bucket
    vault_id: str | None = None  # agent credentials are bound to one vault
    container_id: str | None = None
    reregistration_required: bool = False
    secure_transport: bool = False  # the request came over TLS (``aws:SecureTransport``)
    expires: float = 0.0  # a bearer token's end (epoch seconds); 0: an API key that does not expire


@dataclass
class Service:
    config: Config
    store: MetadataStore
    catalog: Catalog
    audit: AuditSink
    chunks: VaultChunkIndex  # the dedup index agents query (``ports.VaultChunkIndex``)
    blobs: BlobStore | None = None
    replica: BlobStore | None = None  # the paired regions' copies of vaults with cross-region restore
    clock: Any = field(default_factory=SystemClock)
    bus: EventBus = field(default_factory=EventBus)
    generation: int = 0  # bumped on every change event; caches compare against it
    # runs one vault's prune: ``service.prune.prune_vault`` here, or a worker process (``runtime/prune_worker.py``)
    prune_runner: Callable[[Service, str, float, float], dict[str, int]] | None = None
    # seals secrets the service reads back (``service/sealing.py``); bootstrap loads the deployment's key,
    # a service built without one (unit tests) gets a key of its own
    sealing_key: bytes = field(default_factory=lambda: os.urandom(32), repr=False)
    ca_pem: str = ""  # the deployment's CA certificate when the listeners speak TLS (``runtime/tls.py``)

    _remote: threading.local = field(default_factory=threading.local, repr=False)
    stopping: threading.Event = field(default_factory=threading.Event, repr=False)  # set when the server stops

    @property
    def remote(self) -> bool:
        """True while this thread applies a change another server made (``runtime/feed.py``)."""
        return bool(getattr(self._remote, "on", False))

    def fire_remote(self, event: Changed) -> None:
        """Apply another server's committed change: the same subscribers, with :attr:`remote` set so rules
        that write (the automatic DNS records) leave it to the server that made it."""
        self._remote.on = True
        self.store.forget_cached()  # its records were written by another process
        try:
            self.fire(event)
        finally:
            self._remote.on = False

    def fire(self, event: Changed | Deleting | WorkQueued) -> None:
        """Publish a typed event: a committed change (``EndpointsChanged()``…), work queued for a periodic pass
        or an in-transaction check."""
        if isinstance(event, Changed):
            self.generation += 1
        self.bus.publish(event)

    def on(self, kind: type[Any], fn: Callable[[Any], None]) -> None:
        """Subscribe to an event type (composition roots and tests use it)."""
        self.bus.subscribe(kind, fn)


def assignments_of(txn: Txn, principal_id: str) -> list[dict[str, Any]]:
    return txn.find("role_assignment", parent_id=principal_id)


def allowed(txn: Txn, caller: Caller, permission: str, scope: Scope) -> bool:
    for a in assignments_of(txn, caller.principal_id):
        if Scope.parse(a["scope"]).covers(scope) and role_allows(a["role"], permission):
            return True
    return False


def authorize(txn: Txn, caller: Caller, permission: str, scope: Scope) -> None:
    """Raise ``AccessDenied`` unless one of the caller's role assignments allows it."""
    if not allowed(txn, caller, permission, scope):
        raise AccessDenied(
            f"{caller.arn} may not {permission} at {scope}; ask an Owner of that scope to assign a role "
            f"that allows it (`vaultlink role assign`).",
            permission=permission,
            scope=str(scope),
        )
