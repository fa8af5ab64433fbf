"""A recovery point's pack list, kept apart from the point (kind ``point_packs``, migration 0009).

Every pack a point's chunks live in (``ACCOUNT/packs/HASH``, registered by its agent at commit) is what prune keeps
for it, a copy copies, a restore grant opens and object lock retains: 12,800 names for a 100 GiB machine. In the
point's own record they were decoded by every listing of a vault's points and every pass over them; here only
what needs them reads them. The point keeps their count (``packs_referenced``; None: its agent did not say).
"""

from __future__ import annotations

from typing import Any

from vaultlink.domain.records import RecoveryPointRecord
from vaultlink.ports import Txn

POINT_PACKS = "point_packs"  # kind: a point's pack list, apart from it (id: the point's; parent: its vault)


def point_packs(txn: Txn, rp: RecoveryPointRecord | dict[str, Any]) -> list[str] | None:
    """``ACCOUNT/packs/HASH`` of every pack ``rp``'s chunks live in (registered at commit: what prune keeps, a copy
    copies, a restore grant opens); None when its agent did not register them. Kept in a record of its own, so
    that a listing or a pass over a vault's points reads none of them (a 100 GiB machine's point: 12,800 names)."""
    if rp.get("packs_referenced") is None:
        return None
    rec = txn.get(POINT_PACKS, rp["id"])
    return list(rec["refs"]) if rec is not None else []


def put_point_packs(txn: Txn, rp: RecoveryPointRecord | dict[str, Any], refs: list[str] | None) -> None:
    """Record ``refs`` as new point ``rp``'s packs (before ``rp`` is inserted: its count goes into it)."""
    rp["packs_referenced"] = None if refs is None else len(refs)
    if refs is not None:
        txn.insert(POINT_PACKS, rp["id"], {"id": rp["id"], "account_id": rp["account_id"], "parent_id": rp["vault_id"],
                                           "name": None, "refs": list(refs)})


def delete_point(txn: Txn, rp_id: str) -> None:
    """Remove recovery point ``rp_id`` and its pack list."""
    txn.delete("recovery_point", rp_id)
    if txn.get(POINT_PACKS, rp_id) is not None:
        txn.delete(POINT_PACKS, rp_id)
