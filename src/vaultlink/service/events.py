"""Typed events and the small bus they travel on.

Two kinds:

- **change events** (``Changed`` subclasses) announce a committed change; subscribers rebuild what
  depends on it (the fabric's view and listeners, the DNS view, the automatic DNS records, caches).
  They are what a multi-server deployment will feed from PostgreSQL ``LISTEN``/``NOTIFY``: each is
  a plain value with no reference to the process that made it.
- **work queued** (``WorkQueued``) asks this process's periodic pass of that name to run now rather than at
  its next interval (a copy asked for); it changes nothing, and another server's pass runs on its interval.
- **checks in a transaction** (``Deleting`` subclasses) run inside the transaction that is about to
  delete something; a subscriber may refuse by raising (a vault with endpoints) or clean up in the
  same transaction (the links to a vnet).

Every subscription is declared by a composition root (``bootstrap.build_service`` for the service's
own rules, ``bootstrap.build_process`` for the process's listeners and responder).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from vaultlink.domain.records import VaultRecord, VnetRecord
from vaultlink.ports import Txn


@dataclass(frozen=True)
class Changed:
    """Something committed changed."""


@dataclass(frozen=True)
class EndpointsChanged(Changed):
    """Endpoints, vnets, subnets, peerings, connections, security groups, policies or a vault's storage
    accounts changed: the network view, listeners and automatic DNS records follow."""


@dataclass(frozen=True)
class VaultsChanged(Changed):
    """A vault was created, changed or deleted (``deleted``: the id of a vault just deleted)."""

    deleted: str = ""


@dataclass(frozen=True)
class DnsChanged(Changed):
    """Private DNS zones, records or links changed: the responder's view follows."""


@dataclass(frozen=True)
class KeysChanged(Changed):
    """A credential was created, revoked or replaced (an API key, a gateway's, a machine's once its next one is
    first used): the credential caches follow, nothing else."""


@dataclass(frozen=True)
class RolesChanged(Changed):
    """A role assignment or an identity policy changed."""


@dataclass(frozen=True)
class ContainersChanged(Changed):
    """A container registered (its credential rotated) or was flagged for re-registration."""


@dataclass(frozen=True)
class RegistrationLinksChanged(Changed):
    """A private DNS zone link that registers its vnet's machines was added or removed."""


@dataclass(frozen=True)
class WorkQueued:
    """Work was queued for the periodic pass ``what`` (``copies``): it may run now."""

    what: str


@dataclass(frozen=True)
class Deleting:
    """Runs inside the deleting transaction; a subscriber may raise to refuse."""

    txn: Txn


@dataclass(frozen=True)
class VaultDeleting(Deleting):
    record: VaultRecord


@dataclass(frozen=True)
class VnetDeleting(Deleting):
    record: VnetRecord


E = TypeVar("E")


class EventBus:
    """Subscribers by exact event type, called in subscription order in the publisher's thread."""

    def __init__(self) -> None:
        self._subs: dict[type[Any], list[Callable[[Any], None]]] = {}
        self._lock = threading.Lock()

    def subscribe(self, kind: type[E], fn: Callable[[E], None]) -> None:
        with self._lock:
            self._subs.setdefault(kind, []).append(fn)

    def publish(self, event: object) -> None:
        with self._lock:
            subs = list(self._subs.get(type(event), ()))
        for fn in subs:
            fn(event)
