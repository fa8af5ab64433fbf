"""Private DNS handlers: zones, record sets, virtual-network links (DESIGN.md §4).

Record ``dns_zone`` (id ``dz-…``; ``account_id`` = owning account, ``parent_id`` = the zone
instance's resource group, "" for the default one; ``name`` = the zone name, unique per account and
resource group: as in Azure, a name may exist once per resource group, each instance linked to its
own vnets; ``RESOURCE-GROUP:NAME`` or the id picks an instance, a bare name the default one)::

    {"id", "account_id", "parent_id": group, "name", "serial",
     "records": [{"name": fqdn, "type": A|AAAA|CNAME|TXT, "ttl", "values": [...],
                  "managed_by": endpoint id | None}],
     "links": [{"name", "vnet_id", "fallback_to_public": bool, "managed_by": endpoint id | None}],
     "auto_created": bool, "tags", "created", "created_by"}

SOA and NS are kept by the zone (the SOA serial is bumped on every change). Every write is
validated by the DNS engine's model (``vaultlink.dns.model``) before it is stored, so a bad
record leaves the zone untouched.

Role checks: ``dns.read`` / ``dns.write`` on the zone's account; adding a link also needs
``network.write`` on the vnet (joining a network is a change to it, as in Azure).

Automatic records for endpoints with DNS integration, the view the responder serves and the
explanations (``check``, ``doctor``, ``dns-config``) live in ``dns_auto`` and ``dns_explain``;
stored zones' conversions and views in ``dns_zones``.
After every committed change the handlers call ``svc.fire(DnsChanged())``.
"""

from __future__ import annotations

from typing import Any

from vaultlink.dns import model
from vaultlink.dns.names import normalize
from vaultlink.domain.identity import Scope, check_name
from vaultlink.domain.records import RecordSetRecord, ZoneLinkRecord, find_vnets, find_zones
from vaultlink.errors import (
    AlreadyExists,
    DnsZoneInUse,
    InvalidInput,
    InvalidRecord,
    NotFound,
    ZoneLinkConflict,
)
from vaultlink.service.core import Caller, Service, authorize
from vaultlink.service.dns_zones import (
    account_scope,
    find_zone,
    link_view,
    linked_elsewhere,
    new_zone_record,
    record_view,
    relative,
    soa_ns_views,
    validate_zone,
    zone_view,
)
from vaultlink.service.events import DnsChanged, RegistrationLinksChanged, VnetDeleting
from vaultlink.service.identity import resolve_account
from vaultlink.service.networks import find_vnet, vnet_scope

MAX_RECORD_SETS = 10_000
MAX_LINKS = 1_000


# --- conversions ------------------------------------------------------------------------------


# --- lookups ------------------------------------------------------------------------------------


# --- zones --------------------------------------------------------------------------------------
def create_zone(
    svc: Service,
    caller: Caller,
    name: str,
    tags: dict[str, str] | None = None,
    account_id: str | None = None,
    resource_group: str | None = None,
) -> dict[str, Any]:
    zone_name = model.PrivateZone.create(name, domain=svc.config.domain).name  # validates the name
    if tags is not None and (
        not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())
    ):
        raise InvalidInput("tags must be an object of string keys to string values.", field="tags")
    acct = resolve_account(caller, account_id)
    with svc.store.transaction() as txn:
        txn.require("account", acct)
        authorize(txn, caller, "dns.write", Scope(acct))
        group = "" if resource_group in (None, "", "default") else str(resource_group)
        if group:
            check_name(group, "resource_group", "resource group name")
        if find_zones(txn, account_id=acct, parent_id=group, name=zone_name):
            ref = f"{group}:{zone_name}" if group else zone_name
            raise AlreadyExists(
                f"private DNS zone {zone_name} already exists in resource group {group or 'default'}; "
                f"`vaultlink dns zone show {ref}` shows it.",
                field="name",
            )
        rec = new_zone_record(acct, zone_name, svc.clock.now(), caller.arn, auto=False, group=group)
        rec["tags"] = dict(tags or {})
        txn.insert("dns_zone", rec["id"], rec)
        out = zone_view(txn, rec, full=True)
    svc.fire(DnsChanged())
    return out


def list_zones(svc: Service, caller: Caller, account_id: str | None = None) -> list[dict[str, Any]]:
    acct = resolve_account(caller, account_id)
    with svc.store.transaction() as txn:
        authorize(txn, caller, "dns.read", Scope(acct))
        return [zone_view(txn, z) for z in find_zones(txn, account_id=acct)]


def get_zone(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        z = find_zone(txn, ref, caller.account_id)
        authorize(txn, caller, "dns.read", account_scope(z))
        return zone_view(txn, z, full=True)


def delete_zone(svc: Service, caller: Caller, ref: str) -> dict[str, Any]:
    with svc.store.transaction() as txn:
        z = find_zone(txn, ref, caller.account_id)
        authorize(txn, caller, "dns.write", account_scope(z))
        if z["links"]:
            names = ", ".join(lk["name"] for lk in z["links"][:5])
            raise DnsZoneInUse(
                f"zone {z['name']} still has {len(z['links'])} virtual network link(s) ({names}); remove them "
                f"first (`vaultlink dns link remove {z['name']} LINK`).",
                field="zone",
                links=[lk["name"] for lk in z["links"]],
            )
        txn.delete("dns_zone", z["id"])
    svc.fire(DnsChanged())
    return {"id": z["id"], "name": z["name"], "deleted": True}


# --- record sets ----------------------------------------------------------------------------------
def _check_values(values: Any) -> list[str]:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidRecord("values must be a list of strings (addresses, a target name, or text).", field="values")
    return values


def set_record(
    svc: Service, caller: Caller, ref: str, name: str, rtype: str, values: Any, ttl: Any = model.DEFAULT_TTL
) -> dict[str, Any]:
    """Create or replace the record set (name, type) of a zone. A record set an endpoint wrote
    becomes yours (the endpoint no longer updates it)."""
    vals = _check_values(values)
    rtype = str(rtype).upper()
    with svc.store.transaction() as txn:
        z = find_zone(txn, ref, caller.account_id)
        authorize(txn, caller, "dns.write", account_scope(z))
        rs = model.make_record_set(z["name"], name, rtype, vals, ttl)
        new: RecordSetRecord = {"name": rs.name, "type": rs.rtype, "ttl": rs.ttl, "values": list(rs.values),
                                "managed_by": None}
        records = [r for r in z["records"] if not (r["name"] == rs.name and r["type"] == rs.rtype)]
        if len(records) >= MAX_RECORD_SETS:
            raise InvalidRecord(f"a zone holds at most {MAX_RECORD_SETS} record sets.", field="name")
        candidate = z.copy()
        candidate["records"] = [*records, new]
        candidate["serial"] = int(z.get("serial", 1)) + 1
        validate_zone(candidate, svc.config.domain)  # CNAME beside other data, …
        txn.update("dns_zone", z["id"], candidate)
        out = record_view(candidate, new)
    svc.fire(DnsChanged())
    return out


def list_records(svc: Service, caller: Caller, ref: str) -> list[dict[str, Any]]:
    with svc.store.transaction() as txn:
        z = find_zone(txn, ref, caller.account_id)
        authorize(txn, caller, "dns.read", account_scope(z))
        return soa_ns_views(z, svc.config.domain) + [record_view(z, r) for r in z["records"]]


def _fqdn(zone: str, name: str) -> str:
    raw = name.strip()
    if raw in ("", "@"):
        return zone
    return normalize(raw) if raw.endswith(".") else f"{normalize(raw)}.{zone}"


def delete_record(svc: Service, caller: Caller, ref: str, name: str, rtype: str) -> dict[str, Any]:
    rtype = str(rtype).upper()
    with svc.store.transaction() as txn:
        z = find_zone(txn, ref, caller.account_id)
        authorize(txn, caller, "dns.write", account_scope(z))
        fqdn = _fqdn(z["name"], name)
        if rtype in ("SOA", "NS") and fqdn == z["name"]:
            raise InvalidRecord(f"the zone keeps its {rtype} record; it cannot be deleted.", field="type")
        keep = [r for r in z["records"] if not (r["name"] == fqdn and r["type"] == rtype)]
        if len(keep) == len(z["records"]):
            raise NotFound(
                f"zone {z['name']} has no {rtype} record set named {name!r}; "
                f"`vaultlink dns record list {z['name']}` lists them.",
                field="name",
            )
        z["records"] = keep
        z["serial"] = int(z.get("serial", 1)) + 1
        txn.update("dns_zone", z["id"], z)
    svc.fire(DnsChanged())
    return {"zone": z["name"], "name": relative(fqdn, z["name"]), "fqdn": fqdn, "type": rtype, "deleted": True}


# --- links ------------------------------------------------------------------------------------------
def add_link(
    svc: Service,
    caller: Caller,
    ref: str,
    vnet_ref: str,
    name: str | None = None,
    fallback_to_public: bool = False,
    registration: bool = False,
) -> dict[str, Any]:
    """Link a zone to a vnet. ``registration``: the zone also holds an A record for each machine registered
    from that vnet (its hostname, its address: ``dns_registration.registration_records``); a vnet registers into one
    zone at most, as in Azure."""
    with svc.store.transaction() as txn:
        z = find_zone(txn, ref, caller.account_id)
        authorize(txn, caller, "dns.write", account_scope(z))
        vnet = find_vnet(txn, vnet_ref, caller.account_id)
        authorize(txn, caller, "network.write", vnet_scope(vnet))
        link_name = name or f"{vnet['name']}-link"
        check_name(link_name, "name", "link name")
        if any(lk["vnet_id"] == vnet["id"] for lk in z["links"]):
            raise ZoneLinkConflict(
                f"zone {z['name']} is already linked to virtual network {vnet['name']}; "
                f"`vaultlink dns link list {z['name']}` shows the link.",
                field="vnet",
            )
        if any(lk["name"] == link_name for lk in z["links"]):
            raise AlreadyExists(f"zone {z['name']} already has a link named {link_name!r}.", field="name")
        other = linked_elsewhere(txn, z, vnet["id"])
        if other is not None:
            raise ZoneLinkConflict(
                f"virtual network {vnet['name']} is already linked to another zone named {z['name']} "
                f"(account {other['account_id']}); a vnet can see one zone of a name. Remove that link first.",
                field="vnet",
            )
        if len(z["links"]) >= MAX_LINKS:
            raise InvalidInput(f"a zone has at most {MAX_LINKS} virtual network links.", field="vnet")
        if registration:
            for other_zone in find_zones(txn, account_id=z["account_id"]):
                if any(lk["vnet_id"] == vnet["id"] and lk.get("registration") for lk in other_zone["links"]):
                    raise ZoneLinkConflict(f"virtual network {vnet['name']} already registers its machines into zone "
                                           f"{other_zone['name']}; a vnet registers into one zone.", field="vnet")
        lk: ZoneLinkRecord = {
            "name": link_name,
            "vnet_id": vnet["id"],
            "fallback_to_public": bool(fallback_to_public),
            "managed_by": None,
            "registration": bool(registration),
        }
        z["links"].append(lk)
        txn.update("dns_zone", z["id"], z)
        out = link_view(txn, z, lk)
    svc.fire(DnsChanged())
    if registration:  # the automatic records follow (service/dns_auto.py)
        svc.fire(RegistrationLinksChanged())
    return out


def list_links(svc: Service, caller: Caller, ref: str) -> list[dict[str, Any]]:
    with svc.store.transaction() as txn:
        z = find_zone(txn, ref, caller.account_id)
        authorize(txn, caller, "dns.read", account_scope(z))
        return [link_view(txn, z, lk) for lk in z["links"]]


def remove_link(svc: Service, caller: Caller, ref: str, link: str) -> dict[str, Any]:
    """Remove a link by its name, or by the linked vnet's id or name."""
    with svc.store.transaction() as txn:
        z = find_zone(txn, ref, caller.account_id)
        authorize(txn, caller, "dns.write", account_scope(z))
        hit = next((lk for lk in z["links"] if link in (lk["name"], lk["vnet_id"])), None)
        if hit is None:
            vnet = find_vnets(txn, account_id=caller.account_id, name=link)
            if vnet:
                hit = next((lk for lk in z["links"] if lk["vnet_id"] == vnet[0]["id"]), None)
        if hit is None:
            raise NotFound(
                f"zone {z['name']} has no link {link!r}; `vaultlink dns link list {z['name']}` lists them.",
                field="link",
            )
        z["links"] = [lk for lk in z["links"] if lk is not hit]
        txn.update("dns_zone", z["id"], z)
        out = link_view(txn, z, hit)
    svc.fire(DnsChanged())
    if hit.get("registration"):  # its machines' records go (service/dns_auto.py)
        svc.fire(RegistrationLinksChanged())
    return {**out, "deleted": True}


def drop_links_to_vnet(event: VnetDeleting) -> None:
    """``VnetDeleting``: a deleted vnet leaves no links behind."""
    txn, vnet = event.txn, event.record
    for z in find_zones(txn):
        keep = [lk for lk in z["links"] if lk["vnet_id"] != vnet["id"]]
        if len(keep) != len(z["links"]):
            z["links"] = keep
            txn.update("dns_zone", z["id"], z)

