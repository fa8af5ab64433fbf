"""New endpoint records, validated: a resource endpoint (a vault's private endpoint, with its storage
names) or a service endpoint (the regional backup service in a vnet). ``create_endpoint`` stores them."""

from __future__ import annotations

from typing import Any

from vaultlink.domain import connections as conns
from vaultlink.domain import endpoint_names as epnames
from vaultlink.domain import endpoints as dom
from vaultlink.domain.records import EndpointRecord, VaultRecord, VnetRecord, find_endpoints, read_endpoint
from vaultlink.errors import VaultlinkError
from vaultlink.ports import Txn
from vaultlink.service import addresses
from vaultlink.service.core import Caller, Service, allowed
from vaultlink.service.vaults import lookup_vault, vault_scope


def find_vault_or_none(txn: Txn, ref: str, account_id: str) -> VaultRecord | None:
    """By id or ARN (any account: a connection request needs no rights on the vault) or by name in the
    account."""
    return lookup_vault(txn, ref, account_id)


def resource_record(
    svc: Service,
    txn: Txn,
    caller: Caller,
    body: dict[str, Any],
    region: Any,
    vnet: VnetRecord | None,
    name_taken: bool,
    eid: str,
) -> dict[str, Any]:
    vault_ref = body.get("vault")
    vault = find_vault_or_none(txn, vault_ref, caller.account_id) if isinstance(vault_ref, str) and vault_ref else None
    if vault is not None and vault["account_id"] != caller.account_id:
        vault = {**vault, "name": vault["id"]}  # another account's vault: its name is not revealed
    paired = vault.get("secondary_region") if vault else None
    req = dom.ResourceRequest(
        body.get("name"),
        body.get("region"),
        vault_ref,
        body.get("group_id"),
        body.get("vnet"),
        body.get("subnet"),
        bool(body.get("dns_integration", True)),
        body.get("tags"),
        body.get("rules"),
    )
    ctx = dom.ResourceContext(
        region=region,
        vault=vault,
        vault_paired=paired,
        vault_endpoints=endpoints_for_vault(txn, vault["id"]) if vault else [],
        vnet=vnet,
        name_taken=name_taken,
        storage_accounts=epnames.storage_account_names(vault) if vault else [],
        allocated=_allocated(txn, vnet, body.get("subnet")),
    )
    problems = dom.validate_resource(req, ctx)
    problems += policy_problems(body.get("policy"))
    dom.raise_problems(problems)
    assert vault is not None and region is not None
    # approved at once for a caller who may approve it, unless it asks for a manual approval (ARM's
    # manualPrivateLinkServiceConnections): then Pending, as any other caller's
    auto = not body.get("manual") and allowed(txn, caller, "connection.approve", vault_scope(vault))
    return {
        "name": body["name"],
        "kind": "resource",
        "vault_id": vault["id"],
        "vault_name": vault["name"],
        "group_id": dom.normalize_group_id(body["group_id"]),
        "service": None,
        "service_name": None,
        "subnet": body["subnet"],
        "ip_configs": epnames.resource_configs(
            vault["id"], region.geo, epnames.storage_account_names(vault), svc.config.domain,
            secondary=dom.normalize_group_id(body["group_id"]) == dom.SECONDARY,
        ),
        "dns_integration": req.dns_integration,
        "private_dns_enabled": False,
        "connection": conns.new_connection(auto, str(body.get("request_message") or "")),
        "manual": bool(body.get("manual")),
    }


def service_record(
    svc: Service,
    txn: Txn,
    body: dict[str, Any],
    region: Any,
    vnet: VnetRecord | None,
    name_taken: bool,
    eid: str,
) -> dict[str, Any]:
    service = body.get("service")
    private_dns = bool(body.get("private_dns", True))
    taken = False
    if vnet is not None and private_dns:
        taken = any(
            e["kind"] == "service" and e["service"] == service and e.get("private_dns_enabled")
            for e in find_endpoints(txn, parent_id=vnet["id"])
        )
    req = dom.ServiceRequest(
        body.get("name"),
        body.get("region"),
        service,
        body.get("vnet"),
        body.get("subnet"),
        private_dns,
        body.get("tags"),
        body.get("rules"),
    )
    ctx = dom.ServiceContext(region=region, vnet=vnet, name_taken=name_taken, private_dns_taken=taken,
                             allocated=_allocated(txn, vnet, body.get("subnet")))
    problems = dom.validate_service(req, ctx) + policy_problems(body.get("policy"))
    dom.raise_problems(problems)
    assert region is not None
    return {
        "name": body["name"],
        "kind": "service",
        "vault_id": None,
        "vault_name": None,
        "group_id": None,
        "service": service,
        "service_name": region.service_name(service),
        "subnet": body["subnet"],
        "ip_configs": epnames.service_configs(eid, str(service), region.name, svc.config.domain),
        "dns_integration": False,
        "private_dns_enabled": private_dns,
        "connection": conns.connection(conns.APPROVED, "Accepted: service endpoints are accepted at once."),
    }


def policy_problems(doc: Any) -> list[dom.Problem]:
    if doc is None:
        return []
    try:
        dom.check_policy(doc)
    except VaultlinkError as exc:
        return [dom.Problem(type(exc), "policy", exc.message)]
    return []


def endpoints_for_vault(txn: Txn, vault_id: str) -> list[EndpointRecord]:
    """Every resource endpoint targeting the vault (any status), oldest first."""
    out: list[EndpointRecord] = []
    for ix in txn.find("vault_endpoint", parent_id=vault_id):
        e = read_endpoint(txn, ix["id"])
        if e is not None:
            out.append(e)
    return out


def _allocated(txn: Txn, vnet: VnetRecord | None, subnet: Any) -> dict[str, int]:
    """Addresses allocated in the requested subnet (what the validation needs to say whether it has room)."""
    if vnet is None or not isinstance(subnet, str):
        return {}
    return {subnet: addresses.allocated_count(txn, vnet["id"], subnet)}
