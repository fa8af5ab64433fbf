"""Stored private DNS zones (records ``dns_zone``; their schema is in ``service/dns.py``): conversions to
the DNS engine's model, their views, lookup and validation. Used by the zone handlers (``dns``), the
automatic records (``dns_auto``), the view the responder serves (``dns_view``) and the explanations."""

from __future__ import annotations

from typing import Any

from vaultlink.dns import model
from vaultlink.dns.names import normalize
from vaultlink.domain.identity import Scope, new_id
from vaultlink.domain.records import DnsZoneRecord, RecordSetRecord, ZoneLinkRecord, find_zones, read_vnet, read_zone
from vaultlink.errors import NotFound
from vaultlink.ports import Txn

# Record sets already built, by what they hold: a zone rewritten for one new name (every endpoint create) rebuilds
# the engine's record set of each of its names; shared here instead (they are immutable), so that costs a lookup
# per name and the zones' equality checks (``CompiledView``) meet the very same objects. Bounded: cleared when full.
_RECORD_SETS: dict[tuple[str, str, int, tuple[str, ...]], model.RecordSet] = {}
MAX_RECORD_SETS = 262_144


def to_record_sets(zone: DnsZoneRecord) -> list[model.RecordSet]:
    known = _RECORD_SETS
    if len(known) > MAX_RECORD_SETS:
        known.clear()
    out = []
    for r in zone["records"]:
        key = (r["name"], r["type"], int(r["ttl"]), tuple(r["values"]))
        rs = known.get(key)
        if rs is None:
            rs = known[key] = model.RecordSet(*key)
        out.append(rs)
    return out


def to_private_zone(zone: DnsZoneRecord, domain: str) -> model.PrivateZone:
    """The engine's validated zone for a stored zone record (raises on invalid data)."""
    links = [
        model.VnetLink(lk["vnet_id"], bool(lk.get("fallback_to_public")), lk.get("name", "")) for lk in zone["links"]
    ]
    soa = model.default_soa(domain, serial=int(zone.get("serial", 1)))
    return model.PrivateZone.create(zone["name"], to_record_sets(zone), links, soa=soa, domain=domain)


# The engine zone of each zone the automatic records last wrote, with the very record written: they validate a zone
# before they write it, then the DNS view converts the record read back (a new object of the same content); an
# equality check of the two records (C speed) replaces a second walk over every record set of the zone.
_WRITTEN: dict[str, tuple[str, DnsZoneRecord, model.PrivateZone]] = {}
MAX_WRITTEN = 4096


def remember_written(zone: DnsZoneRecord, domain: str, made: model.PrivateZone) -> None:
    """``made`` is the engine zone of ``zone``, which its writer never changes again (it is not copied)."""
    if len(_WRITTEN) >= MAX_WRITTEN:
        _WRITTEN.clear()
    _WRITTEN[zone["id"]] = (domain, zone, made)


def engine_zone(zone: DnsZoneRecord, domain: str) -> model.PrivateZone:
    """:func:`to_private_zone`, or the zone made when this very content was written."""
    got = _WRITTEN.get(zone["id"])
    if got is not None and got[0] == domain and got[1] == zone:
        return got[2]
    return to_private_zone(zone, domain)


def relative(fqdn: str, zone: str) -> str:
    return "@" if fqdn == zone else fqdn[: -len(zone) - 1]


def record_view(zone: DnsZoneRecord, r: RecordSetRecord) -> dict[str, Any]:
    return {
        "zone": zone["name"],
        "name": relative(r["name"], zone["name"]),
        "fqdn": r["name"],
        "type": r["type"],
        "ttl": r["ttl"],
        "values": list(r["values"]),
        "managed_by": r.get("managed_by"),
    }


def link_view(txn: Txn, zone: DnsZoneRecord, lk: ZoneLinkRecord) -> dict[str, Any]:
    vnet = read_vnet(txn, lk["vnet_id"])
    return {
        "zone": zone["name"],
        "name": lk["name"],
        "vnet_id": lk["vnet_id"],
        "vnet_name": vnet["name"] if vnet else None,
        "fallback_to_public": bool(lk.get("fallback_to_public")),
        "registration": bool(lk.get("registration")),
        "managed_by": lk.get("managed_by"),
    }


def zone_view(txn: Txn, zone: DnsZoneRecord, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": zone["id"],
        "name": zone["name"],
        "account_id": zone["account_id"],
        "resource_group": zone.get("parent_id") or "default",
        "record_sets": len(zone["records"]) + 2,  # + SOA and NS
        "links": len(zone["links"]),
        "serial": zone.get("serial", 1),
        "auto_created": bool(zone.get("auto_created")),
        "tags": zone.get("tags", {}),
        "created": zone.get("created"),
        "created_by": zone.get("created_by"),
    }
    if full:
        out["records"] = [record_view(zone, r) for r in zone["records"]]
        out["vnet_links"] = [link_view(txn, zone, lk) for lk in zone["links"]]
    return out


def soa_ns_views(zone: DnsZoneRecord, domain: str) -> list[dict[str, Any]]:
    soa = model.default_soa(domain, serial=int(zone.get("serial", 1)))
    times = f"{soa.serial} {soa.refresh} {soa.retry} {soa.expire} {soa.minimum}"
    base = {"zone": zone["name"], "name": "@", "fqdn": zone["name"], "ttl": soa.ttl, "managed_by": "zone"}
    return [
        {**base, "type": "SOA", "values": [f"{soa.mname}. {soa.rname}. {times}"]},
        {**base, "type": "NS", "values": [f"ns1.{normalize(domain)}."]},
    ]


def find_zone(txn: Txn, ref: str, account_id: str) -> DnsZoneRecord:
    """A zone by id, or by name within ``account_id``."""
    rec = read_zone(txn, ref) if ref.startswith("dz-") else None
    if rec is not None:
        return rec
    group, sep, name = ref.rpartition(":")  # RESOURCE-GROUP:NAME picks one instance of a name
    found = find_zones(txn, account_id=account_id, name=normalize(name if sep else ref))
    if sep:
        found = [z for z in found if (z.get("parent_id") or "default") == group]
    if found:
        return min(found, key=lambda z: (bool(z.get("parent_id")), z.get("created") or 0))
    raise NotFound(
        f"private DNS zone {ref!r} does not exist; `vaultlink dns zone list` shows yours, "
        f"`vaultlink dns zone create {ref}` creates it.",
        field="zone",
    )


def account_scope(zone: DnsZoneRecord) -> Scope:
    return Scope(zone["account_id"])


def new_zone_record(
    account_id: str, name: str, created: float, by: str, auto: bool, group: str = ""
) -> DnsZoneRecord:
    """``group`` is the zone instance's resource group ("" for the default one)."""
    return {
        "id": new_id("dz-"),
        "account_id": account_id,
        "parent_id": group,
        "name": name,
        "serial": 1,
        "records": [],
        "links": [],
        "auto_created": auto,
        "tags": {},
        "created": created,
        "created_by": by,
    }


def validate_zone(zone: DnsZoneRecord, domain: str) -> model.PrivateZone:
    """The engine's zone; raises the engine's error when the stored zone would not be a valid zone."""
    return to_private_zone(zone, domain)


def linked_elsewhere(txn: Txn, zone: DnsZoneRecord, vnet_id: str) -> DnsZoneRecord | None:
    """Another zone with the same name already linked to ``vnet_id`` (any account), or None."""
    for other in find_zones(txn, name=zone["name"]):
        if other["id"] != zone["id"] and any(lk["vnet_id"] == vnet_id for lk in other["links"]):
            return other
    return None

