"""Reading the audit log, limited to the accounts the caller may read."""

from __future__ import annotations

from typing import Any

from vaultlink.domain.identity import Scope
from vaultlink.errors import AccessDenied, InvalidInput
from vaultlink.service.core import Caller, Service, allowed
from vaultlink.service.vaults import lookup_vault

DECISIONS = ("allowed", "denied")


def query(
    svc: Service,
    caller: Caller,
    filters: dict[str, Any],
    after: int | None = None,
    limit: int = 100,
    before: int | None = None,
) -> list[dict[str, Any]]:
    """Events the caller may read. With ``after`` (a seq), the ones after it, oldest first (for
    following); otherwise the newest ``limit`` before ``before`` (a cursor to page back), newest first."""
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
            v = lookup_vault(txn, vault_ref, caller.account_id)
            if v is not None:
                filters = dict(filters, vault=v["id"])
    if not is_admin:  # the store filters on the account: no walk over other tenants' events
        filters = dict(filters, account_id=caller.account_id)
    return svc.store.query_audit(filters, after_seq=max(after or 0, 0), limit=limit, before_seq=before,
                                 newest_first=after is None)
