"""Reading the audit log, limited to the accounts the caller may read."""

from __future__ import annotations

from typing import Any

from vaultlink.domain.identity import Scope
from vaultlink.errors import AccessDenied, InvalidInput
from vaultlink.service.core import Caller, Service, allowed

DECISIONS = ("allowed", "denied")


def query(
    svc: Service, caller: Caller, filters: dict[str, Any], after: int = 0, limit: int = 100
) -> list[dict[str, Any]]:
    if filters.get("decision") not in (None, *DECISIONS):
        raise InvalidInput(f"decision must be one of {', '.join(DECISIONS)}.", field="decision")
    if not 1 <= limit <= 10000:
        raise InvalidInput("limit must be between 1 and 10000.", field="limit")
    svc.audit.flush()
    with svc.store.transaction() as txn:
        root = [a for a in txn.find("account") if a.get("root")]
        is_admin = bool(root) and allowed(txn, caller, "audit.read", Scope(root[0]["id"]))
        can_own = allowed(txn, caller, "audit.read", Scope(caller.account_id))
        if not is_admin and not can_own:
            raise AccessDenied(
                "reading the audit log needs a role with audit.read on your account (e.g. Reader)."
            )
        vault_ref = filters.get("vault")
        if vault_ref:
            v = txn.get("vault", vault_ref) or next(
                iter(txn.find("vault", account_id=caller.account_id, name=vault_ref)), None
            )
            if v is not None:
                filters = dict(filters, vault=v["id"])
    out: list[dict[str, Any]] = []
    cursor = after
    while len(out) < limit:
        batch = svc.store.query_audit(filters, after_seq=cursor, limit=limit)
        if not batch:
            break
        for ev in batch:
            cursor = ev["seq"]
            if is_admin or ev.get("account_id") == caller.account_id:
                out.append(ev)
            if len(out) >= limit:
                break
    return out
