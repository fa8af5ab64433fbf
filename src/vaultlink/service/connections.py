"""Private endpoint connections: the vault-side view of resource endpoints.

The vault's owner (``connection.approve`` on the vault: Owner or Contributor) lists the
vault's connections and approves, rejects or removes them with a description.
Transitions (``domain.endpoints.transition``): Pending → Approved | Rejected;
Approved → Rejected; remove → Disconnected. The connection id is the endpoint id.
"""

from __future__ import annotations

from typing import Any

from vaultlink.domain import connections as conns
from vaultlink.domain.records import EndpointRecord, find_endpoints, read_endpoint, require_vault
from vaultlink.errors import InvalidInput, NotFound
from vaultlink.ports import Txn
from vaultlink.service.core import Caller, Service, authorize
from vaultlink.service.endpoint_records import endpoints_for_vault
from vaultlink.service.events import EndpointsChanged
from vaultlink.service.vaults import find_vault, vault_scope

ACTIONS = ("approve", "reject", "remove")


def connection_view(e: EndpointRecord) -> dict[str, Any]:
    return {
        "id": e["id"],
        "endpoint_id": e["id"],
        "endpoint_name": e["name"],
        "endpoint_account": e["account_id"],
        "vault_id": e["vault_id"],
        "group_id": e["group_id"],
        "region": e["region"],
        "vnet_id": e["vnet_id"],
        "ips": [c["ip"] for c in e["ip_configs"]],
        "status": e["connection"]["status"],
        "description": e["connection"]["description"],
        "actions_required": e["connection"]["actions_required"],
        "requested_by": e.get("created_by"),
    }


def list_connections(svc: Service, caller: Caller, vault_ref: str) -> list[dict[str, Any]]:
    with svc.store.transaction() as txn:
        v = find_vault(txn, vault_ref, caller.account_id)
        authorize(txn, caller, "vault.read", vault_scope(v))
        return [connection_view(e) for e in endpoints_for_vault(txn, v["id"])]


def _find(txn: Txn, caller: Caller, ref: str, vault_ref: str | None) -> EndpointRecord:
    if vault_ref:
        v = find_vault(txn, vault_ref, caller.account_id)
        eps = endpoints_for_vault(txn, v["id"])
    else:
        # the caller's endpoint of that name (indexed: never every endpoint of the account), or any by its id
        eps = [e for e in find_endpoints(txn, account_id=caller.account_id, name=ref) if e["kind"] == "resource"]
        direct = read_endpoint(txn, ref)
        if direct is not None and direct["kind"] == "resource":
            eps.append(direct)
    hits = {e["id"]: e for e in eps if ref in (e["id"], e["name"])}
    if not hits:
        where = f" of vault {vault_ref}" if vault_ref else ""
        raise NotFound(
            f"private endpoint connection {ref!r}{where} does not exist; "
            "`vaultlink endpoint connection list --vault V` shows them.",
            field="connection",
        )
    if len(hits) > 1:
        raise InvalidInput(f"{ref!r} names several connections; use the endpoint id.", field="connection")
    return next(iter(hits.values()))


def set_connection(
    svc: Service, caller: Caller, ref: str, action: str, description: str = "", vault_ref: str | None = None
) -> dict[str, Any]:
    if action not in ACTIONS:
        raise InvalidInput(f"action {action!r} is not one of {', '.join(ACTIONS)}.", field="action")
    with svc.store.transaction() as txn:
        e = _find(txn, caller, ref, vault_ref)
        vault = require_vault(txn, str(e["vault_id"]))
        authorize(txn, caller, "connection.approve", vault_scope(vault))
        e["connection"] = conns.transition(e["connection"], action, description)
        e["connection"]["changed_by"] = caller.arn
        e["connection"]["changed"] = svc.clock.now()
        txn.update("endpoint", e["id"], e)
        out = connection_view(e)
    svc.fire(EndpointsChanged())
    return out
