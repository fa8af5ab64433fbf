"""Private-endpoint handlers: create (with a validate-only dry run), list, show, delete, policies,
security groups; and the integration points other areas call.

Record ``endpoint`` (id ``pe-…``; ``account_id`` = the vnet's account, ``parent_id`` = the
vnet id, so ``find_endpoints(txn, parent_id=vnet_id)`` lists a vnet's endpoints; ``name``
unique per account)::

    {"id", "arn", "account_id", "parent_id": vnet_id, "name",
     "kind": "resource" | "service", "region", "vnet_id", "subnet",
     "vault_id", "vault_name", "group_id",            # resource endpoints (else None)
     "service", "service_name",                     # service endpoints (else None)
     "ip_configs": [{"fqdn", "public_name", "zone", "ip", "purpose": backup|blob|queue|service,
                     "storage_account"}],
     "dns_integration": bool,                        # resource: write records into private zones
     "private_dns_enabled": bool,                    # service: backup.<R>.D answers inside the vnet
     "policy": {...},                                # endpoint policy document
     "security_group": {"rules": [{"id", "protocol", "from_port", "to_port", "source", "description"}]},
                                                     # source: a CIDR or "VirtualNetwork" (the vnet + peers)
     "connection": {"status", "description", "actions_required"},
     "tags", "created", "created_by", "created_by_id"}

Vault → endpoints: one small index record per resource endpoint, kind ``vault_endpoint``
(id = endpoint id, ``account_id`` = the vault's account, ``parent_id`` = the vault id,
``name`` None), so ``txn.find("vault_endpoint", parent_id=vault_id)`` finds a vault's
endpoints even when they live in other accounts. Use :func:`endpoints_for_vault`.

The default security group is one rule, TCP 0-65535 from ``VirtualNetwork``: the endpoint's
vnet and every vnet peered with it (resolved by the fabric when it builds its view).

Every committed change calls ``svc.fire(EndpointsChanged())``.
"""

from __future__ import annotations

from typing import Any, cast

from vaultlink.domain import endpoint_names as epnames
from vaultlink.domain import endpoints as dom
from vaultlink.domain import networks as net
from vaultlink.domain import security_groups as sgs
from vaultlink.domain.identity import Scope, arn_resource, new_id
from vaultlink.domain.records import (
    DnsZoneRecord,
    EndpointRecord,
    SubnetRecord,
    VaultRecord,
    VnetRecord,
    find_containers,
    find_endpoints,
    read_endpoint,
    read_vnet,
    require_vault,
    require_vnet,
)
from vaultlink.errors import (
    InvalidInput,
    NotFound,
    SubnetFull,
    VaultHasEndpoints,
    VaultIdentityNotAuthorized,
)
from vaultlink.ports import Txn
from vaultlink.service.addresses import StoredAddresses
from vaultlink.service.core import Caller, Service, allowed, authorize
from vaultlink.service.dns_auto import plan_for
from vaultlink.service.endpoint_records import (
    endpoints_for_vault,
    find_vault_or_none,
    resource_record,
    service_record,
)
from vaultlink.service.events import EndpointsChanged, VaultDeleting
from vaultlink.service.networks import find_vnet, vnet_scope
from vaultlink.service.vault_identity import grant, growth_zones, missing_rights

# --- integration points ------------------------------------------------------------------


def add_storage_account(
    txn: Txn,
    svc: Service,
    vault: VaultRecord,
    storage_account_name: str,
    only: str | None = None,
    as_identity: bool = False,
) -> list[str]:
    """Give every endpoint of ``vault`` (or just endpoint ``only``) a blob and a queue IP for a storage account.

    Call inside the transaction that adds the account to the vault (the caller updates the
    vault record), then ``svc.fire(EndpointsChanged())`` after commit. Idempotent: an endpoint that
    already has the account's blob and queue IPs is left alone, one that has only one of them
    gets the other. Raises ``SubnetFull`` (rolling the caller's transaction back) when an
    endpoint's subnet has no room. Returns the ids of the endpoints that changed.

    ``as_identity``: the service grows the vault acting as the vault's managed identity; an endpoint
    whose vnet or DNS zones the identity may not change is skipped, and the refusal audited.
    """
    changed: list[str] = []
    vnets: dict[str, VnetRecord] = {}
    for e in endpoints_for_vault(txn, vault["id"]):
        if only is not None and e["id"] != only:
            continue
        lacking = missing_rights(txn, vault, e) if as_identity else []
        if lacking:
            _audit_identity_refusal(svc, vault, e, storage_account_name, lacking)
            continue
        have = {c.get("purpose") for c in e["ip_configs"] if c.get("storage_account") == storage_account_name}
        offered = epnames.storage_configs(storage_account_name, svc.config.domain,
                                          secondary=e.get("group_id") == dom.SECONDARY)
        configs = [c for c in offered if c["purpose"] not in have]
        if not configs:
            continue
        vnet = vnets.get(e["vnet_id"]) or require_vnet(txn, e["vnet_id"])
        vnets[vnet["id"]] = vnet
        sub = _subnet(vnet, e["subnet"])
        try:
            ips = net.allocate(sub, StoredAddresses(txn, vnet, sub["name"]), e["id"], len(configs))
        except SubnetFull as exc:
            raise SubnetFull(
                f"endpoint {e['name']}: {exc.message} (needed for storage account {storage_account_name})",
                field="subnet",
                endpoint=e["id"],
            ) from None
        for cfg, ip in zip(configs, ips, strict=True):
            cfg["ip"] = ip
        e["ip_configs"].extend(configs)
        txn.update("endpoint", e["id"], e)
        changed.append(e["id"])
    return changed


def _audit_identity_refusal(
    svc: Service, vault: VaultRecord, e: EndpointRecord, account: str, lacking: list[dict[str, str]]
) -> None:
    err = VaultIdentityNotAuthorized(
        f"vault {vault['name']} grew (storage account {account}) but its managed identity may not give endpoint "
        f"{e['name']} the IPs and DNS records for it: it lacks "
        + "; ".join(f"{m['permission']} on {m['scope']}" for m in lacking)
        + f". Grant it (`{lacking[0]['fix']}`), then `vaultlink endpoint sync {e['name']}`; "
        f"`vaultlink dns doctor {vault['name']}` shows what is missing."
    )
    ident = vault.get("identity") or {}
    svc.audit.emit({
        "plane": "management", "action": "vault.grow", "principal": ident.get("principal"),
        "account_id": vault["account_id"], "vault": vault["id"], "endpoint": e["id"], "target": account,
        "decision": "denied", "code": err.code, "message": err.message,
    })


def refuse_vault_with_endpoints(event: VaultDeleting) -> None:
    """``VaultDeleting``: a vault that still has private endpoints is not deleted."""
    txn, vault = event.txn, event.record
    eps = endpoints_for_vault(txn, vault["id"])
    if eps:
        raise VaultHasEndpoints(
            f"vault {vault['name']} still has {len(eps)} private endpoint(s) "
            f"({', '.join(e['name'] for e in eps[:5])}); delete them first "
            f"(`vaultlink endpoint connection list --vault {vault['name']}`).",
            endpoints=[e["id"] for e in eps],
        )


# --- lookups --------------------------------------------------------------------------------


def _subnet(vnet: VnetRecord, name: str) -> SubnetRecord:
    for s in vnet["subnets"]:
        if s["name"] == name:
            return s
    raise NotFound(f"subnet {name!r} is not in {vnet['name']}.", field="subnet")


def find_endpoint(txn: Txn, ref: str, account_id: str) -> EndpointRecord:
    """An endpoint by id, ARN (``arn:…:ec2:REGION:ACCOUNT:vpc-endpoint/ID``) or by name within ``account_id``."""
    by_arn = arn_resource(ref, "vpc-endpoint")
    if by_arn is not None:
        ref = by_arn[1]
    rec = read_endpoint(txn, ref) if ref.startswith("pe-") else None
    if rec is not None:
        return rec
    found = find_endpoints(txn, account_id=account_id, name=ref)
    if found:
        return found[0]
    raise NotFound(f"endpoint {ref!r} does not exist; `vaultlink endpoint list` shows yours.", field="endpoint")


def _try_vnet(txn: Txn, ref: Any, account_id: str) -> VnetRecord | None:
    if not isinstance(ref, str) or not ref:
        return None
    try:
        return find_vnet(txn, ref, account_id)
    except NotFound:
        return None


def public_view(e: EndpointRecord) -> dict[str, Any]:
    out = {k: v for k, v in e.items() if k not in ("parent_id", "created_by_id")}
    out["ips"] = [c["ip"] for c in e["ip_configs"]]
    out["status"] = e["connection"]["status"]
    return out


# --- create -----------------------------------------------------------------------------------


def create_endpoint(svc: Service, caller: Caller, body: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
    """Create a resource endpoint (``vault`` + ``group_id``) or a service endpoint (``service``).

    Every problem is reported at once (``details.problems``); with ``dry_run`` nothing is created.
    """
    if body.get("service") is not None and (body.get("vault") is not None or body.get("group_id") is not None):
        raise InvalidInput("give either service (a service endpoint) or vault + group_id, not both.", field="service")
    with svc.store.transaction() as txn:
        vnet = _try_vnet(txn, body.get("vnet"), caller.account_id)
        if vnet is not None:
            authorize(txn, caller, "network.write", vnet_scope(vnet))
        acct = vnet["account_id"] if vnet else caller.account_id
        region = svc.catalog.regions.get(str(body.get("region")))
        name_taken = bool(
            isinstance(body.get("name"), str) and find_endpoints(txn, account_id=acct, name=body["name"])
        )
        eid = new_id("pe-")
        if body.get("service") is not None:
            fields = service_record(svc, txn, body, region, vnet, name_taken, eid)
        else:
            fields = resource_record(svc, txn, caller, body, region, vnet, name_taken, eid)
        assert vnet is not None and region is not None  # validation passed
        rec = cast(EndpointRecord, fields)
        sub = _subnet(vnet, rec["subnet"])
        rec.update({
            "id": eid,
            "arn": f"arn:{region.partition.name}:ec2:{region.name}:{acct}:vpc-endpoint/{eid}",
            "account_id": acct,
            "parent_id": vnet["id"],
            "region": region.name,
            "vnet_id": vnet["id"],
            "tags": dict(body.get("tags") or {}),
            "created": svc.clock.now(),
            "created_by": caller.arn,
            "created_by_id": caller.principal_id,
        })
        if isinstance(body.get("resource_group"), str):  # the ARM resource group (service/resource_groups.py)
            rec["resource_group"] = body["resource_group"]
        rec["policy"] = dom.check_policy(body["policy"]) if body.get("policy") is not None else dom.DEFAULT_POLICY
        rules = body.get("rules")
        rec["security_group"] = {
            "rules": [sgs.parse_rule(r) for r in rules] if rules is not None else sgs.default_rules()
        }
        if dry_run:
            shown = rec.copy()
            shown["ip_configs"] = [{**c, "ip": "(allocated on create)"} for c in rec["ip_configs"]]
            preview = public_view(shown)
            plan = plan_for(svc, rec)
            warnings = [p["warning"] for p in plan if p.get("warning")]
            if rec["kind"] == "resource":
                warnings += _identity_preview(txn, caller, require_vault(txn, str(rec["vault_id"])), rec)
            return {"dry_run": True, "valid": True, "problems": [], "endpoint": preview, "dns_zones": plan,
                    "warnings": warnings}
        ips = net.allocate(sub, StoredAddresses(txn, vnet, sub["name"]), eid, len(rec["ip_configs"]))
        for cfg, ip in zip(rec["ip_configs"], ips, strict=True):
            cfg["ip"] = ip
        txn.insert("endpoint", eid, rec)
        if rec["kind"] == "resource":
            vault = require_vault(txn, str(rec["vault_id"]))
            plan = plan_for(svc, rec)
            if rec["group_id"] == dom.PRIMARY and not vault.get("had_private_endpoint"):
                vault["had_private_endpoint"] = True
                txn.update("vault", vault["id"], vault)
            # the account's zones for the grants and the warnings below, as committed (the scan ``plan_for`` read
            # too: shared, read-only, nothing decoded)
            zones = [cast(DnsZoneRecord, z) for z in svc.store.scan("dns_zone")
                     if z["account_id"] == rec["account_id"]] if rec.get("dns_integration") else []
            _grant_vault_identity(txn, svc, caller, vault, rec, plan, zones)
            txn.insert(
                "vault_endpoint",
                eid,
                {"id": eid, "account_id": vault["account_id"], "parent_id": vault["id"], "name": None},
            )
        out = public_view(rec)
        if rec["kind"] == "resource":
            out["identity_warnings"] = [m["fix"] for m in missing_rights(txn, vault, rec, zones)]
    svc.fire(EndpointsChanged())
    return out


def _identity_preview(txn: Txn, caller: Caller, vault: VaultRecord, rec: EndpointRecord) -> list[str]:
    """Warnings for rights the vault's identity lacks on the endpoint's vnet that creating it cannot grant."""
    out = []
    vnet_only = rec.copy()
    vnet_only["dns_integration"] = False
    for m in missing_rights(txn, vault, vnet_only):
        if not allowed(txn, caller, "role.write", Scope.parse(m["scope"])):
            out.append(
                f"the vault's managed identity lacks {m['permission']} on {m['scope']} and you may not grant it: "
                f"the vault cannot grow this endpoint (new storage accounts get no IPs) until someone runs "
                f"`{m['fix']}`"
            )
    return out


def _grant_vault_identity(
    txn: Txn, svc: Service, caller: Caller, vault: VaultRecord, rec: EndpointRecord, plan: list[dict[str, Any]],
    zones: list[DnsZoneRecord],
) -> None:
    """Give the vault's identity the rights to grow this endpoint (its vnet; the zone instances it uses that
    exist already; zones the service creates grant themselves), where the caller may assign roles. ``zones``:
    the endpoint's account's zones."""
    grant(txn, svc, caller, vault, Scope(rec["account_id"], "vnet", rec["vnet_id"]))
    if not rec.get("dns_integration"):
        return
    for p in plan:
        group = "" if p["resource_group"] == "default" else p["resource_group"]
        for z in zones:
            if (z.get("parent_id") or "") == group and z["name"] == p["zone"]:
                grant(txn, svc, caller, vault, Scope(z["account_id"], "dns_zone", z["id"]))
    for z in growth_zones(txn, rec, zones):  # made by another vault's growth: this vault's will write there too
        grant(txn, svc, caller, vault, Scope(z["account_id"], "dns_zone", z["id"]))


# --- list / show / delete ----------------------------------------------------------------------


def list_endpoints(
    svc: Service, caller: Caller, vnet: str | None = None, vault: str | None = None
) -> list[dict[str, Any]]:
    with svc.store.transaction() as txn:
        if vnet:
            v = find_vnet(txn, vnet, caller.account_id)
            rows = find_endpoints(txn, parent_id=v["id"])
        else:
            rows = find_endpoints(txn, account_id=caller.account_id)
        if vault:
            target = find_vault_or_none(txn, vault, caller.account_id)
            rows = [e for e in rows if target is not None and e.get("vault_id") == target["id"]]
        scopes: dict[str, bool] = {}
        out = []
        for e in rows:
            if e["vnet_id"] not in scopes:
                scopes[e["vnet_id"]] = allowed(txn, caller, "network.read", scope_of(e))
            if scopes[e["vnet_id"]]:
                out.append(public_view(e))
        return out


def scope_of(e: EndpointRecord) -> Scope:
    """An endpoint's rights are its vnet's."""
    return Scope(e["account_id"], "vnet", e["vnet_id"])


def get_endpoint(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        e = find_endpoint(txn, ref, caller.account_id)
        authorize(txn, caller, "network.read", scope_of(e))
        return public_view(e)


def check_delete(svc: Service, caller: Caller, ref: str) -> None:
    """Would ``delete_endpoint`` be allowed (the endpoint exists, the caller may)? Raises its refusal; changes
    nothing (ARM validates before a deletion runs in the background)."""
    with svc.store.transaction() as txn:
        e = find_endpoint(txn, ref, caller.account_id)
        authorize(txn, caller, "network.write", scope_of(e))


def delete_endpoint(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    """Free the IPs, drop the connection, flag containers registered through it for re-registration."""
    with svc.store.transaction() as txn:
        e = find_endpoint(txn, ref, caller.account_id)
        authorize(txn, caller, "network.write", scope_of(e))
        vnet = read_vnet(txn, e["vnet_id"])
        freed = 0
        if vnet is not None:
            ips = [c["ip"] for c in e.get("ip_configs") or [] if c.get("ip")]
            freed = net.release(StoredAddresses(txn, vnet, e["subnet"]), ips, owner=e["id"])
        if txn.get("vault_endpoint", e["id"]) is not None:
            txn.delete("vault_endpoint", e["id"])
        flagged = []
        for c in find_containers(txn):
            if e["id"] in (c.get("endpoint_ids") or []) and not c.get("reregistration_required"):
                c["reregistration_required"] = True
                c["reregistration_reason"] = f"private endpoint {e['name']} ({e['id']}) was deleted"
                txn.update("container", c["id"], c)
                flagged.append(c["id"])
        txn.delete("endpoint", e["id"])
    svc.fire(EndpointsChanged())
    return {
        "id": e["id"],
        "name": e["name"],
        "deleted": True,
        "connection": {"status": "Deleted", "description": "The endpoint was deleted.", "actions_required": "None"},
        "freed_ips": freed,
        "containers_flagged": flagged,
    }

