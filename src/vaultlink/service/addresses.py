"""The addresses allocated in a subnet, as records of their own.

Kind ``address`` (id ``<vnet id>/<ip>``; ``account_id`` = the vnet's account, ``parent_id`` = ``<vnet id>/<subnet>``,
``name`` = the ip)::

    {"id", "account_id", "parent_id", "name", "vnet_id", "subnet", "ip", "owner": endpoint_id}

Kind ``address_cursor`` (id and ``parent_id`` as above, ``name`` = the subnet): ``{"free_from": n}``, where the
lowest free address of the subnet may be (``domain.networks.allocate``).

An endpoint's create or delete writes a row per address it takes or frees and the cursor; the vnet record is not
rewritten (it held every allocation once, and grew with the endpoints: issue #13). Migration 0004 moved the
allocations of existing vnets here. An address is one record id, so two servers that pick the same free address
at once cannot both have it: the second insert fails and its whole change is refused (``Conflict``, retry).
"""

from __future__ import annotations

from typing import Any

from vaultlink.domain.records import VnetRecord
from vaultlink.errors import AlreadyExists, Conflict
from vaultlink.ports import Txn

KIND = "address"
CURSOR = "address_cursor"


def _parent(vnet_id: str, subnet: str) -> str:
    return f"{vnet_id}/{subnet}"


class StoredAddresses:
    """:class:`vaultlink.domain.networks.Addresses` of one subnet, read and written through ``txn``."""

    def __init__(self, txn: Txn, vnet: VnetRecord, subnet: str) -> None:
        self.txn = txn
        self.vnet_id = vnet["id"]
        self.account_id = vnet["account_id"]
        self.subnet = subnet
        self.parent = _parent(self.vnet_id, subnet)
        self._cursor: dict[str, Any] | None = txn.get(CURSOR, self.parent)

    @property
    def free_from(self) -> int | None:
        value = self._cursor.get("free_from") if self._cursor is not None else None
        return int(value) if isinstance(value, int) else None

    @free_from.setter
    def free_from(self, value: int | None) -> None:
        if self._cursor is None:
            self._cursor = {"id": self.parent, "account_id": self.account_id, "parent_id": self.vnet_id,
                            "name": self.subnet, "free_from": value}
            self.txn.insert(CURSOR, self.parent, self._cursor)
        elif self._cursor.get("free_from") != value:
            self._cursor["free_from"] = value
            self.txn.update(CURSOR, self.parent, self._cursor)

    def __contains__(self, ip: str) -> bool:
        return self.txn.get(KIND, f"{self.vnet_id}/{ip}") is not None

    def __len__(self) -> int:
        return self.txn.count(KIND, parent_id=self.parent)

    def take(self, ip: str, owner: str) -> None:
        try:
            self.txn.insert(KIND, f"{self.vnet_id}/{ip}", {
                "id": f"{self.vnet_id}/{ip}", "account_id": self.account_id, "parent_id": self.parent, "name": ip,
                "vnet_id": self.vnet_id, "subnet": self.subnet, "ip": ip, "owner": owner})
        except AlreadyExists:  # another server's transaction took it since this one looked: never two owners
            raise Conflict(
                f"address {ip} of subnet {self.subnet} was taken by another change at the same moment (another "
                "server of this deployment); nothing was changed: send the request again.",
                field="subnet",
            ) from None

    def give_back(self, ip: str, owner: str | None = None) -> bool:
        rec = self.txn.get(KIND, f"{self.vnet_id}/{ip}")
        if rec is None or (owner is not None and rec.get("owner") != owner):
            return False
        self.txn.delete(KIND, f"{self.vnet_id}/{ip}")
        return True


def allocated(txn: Txn, vnet_id: str, subnet: str) -> dict[str, str]:
    """ip → owner of every address allocated in the subnet."""
    return {r["ip"]: r["owner"] for r in txn.find(KIND, parent_id=_parent(vnet_id, subnet))}


def allocated_count(txn: Txn, vnet_id: str, subnet: str) -> int:
    return txn.count(KIND, parent_id=_parent(vnet_id, subnet))


def forget_subnet(txn: Txn, vnet_id: str, subnet: str) -> None:
    """A subnet is gone (it held no address): its cursor goes too, so a new subnet of that name starts afresh."""
    if txn.get(CURSOR, _parent(vnet_id, subnet)) is not None:
        txn.delete(CURSOR, _parent(vnet_id, subnet))
