"""A DNS view snapshot (pure): what the responder answers from.

A :class:`DnsView` holds
- private zones (:class:`PrivateZone`): record sets A/AAAA/CNAME/TXT with TTLs, the SOA and NS
  kept by the zone, and vnet links (:class:`VnetLink`), each with an optional
  ``fallback_to_public`` (Azure's NxDomainRedirect);
- service-managed zones (``PrivateZone(service_managed=True)``, see :func:`service_endpoint_zone`):
  a service endpoint with private DNS makes ``backup.<R>.D`` answer its IP inside its own vnet;
- vnets (:class:`Vnet`): address spaces used to classify the asker's source IP (longest prefix);
- the public side: every public name → its privatelink CNAME target, the public endpoint
  address (what privatelink names answer from outside), and other public records such as the
  endpoint-specific names that always resolve.

Everything is immutable and validated on construction; build a new view and hand it to
``Responder.update(view)`` when anything changes.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from vaultlink.dns.names import DEFAULT_DOMAIN, check_name, is_subdomain, is_valid_name, normalize
from vaultlink.errors import CnameConflict, InvalidCidr, InvalidRecord, RecordOutsideZone, ZoneLinkConflict

RecordType = Literal["A", "AAAA", "CNAME", "TXT"]
RECORD_TYPES: tuple[RecordType, ...] = ("A", "AAAA", "CNAME", "TXT")
MAX_TTL = 2_147_483_647
DEFAULT_TTL = 10  # Azure private DNS default for automatic records


@dataclass(frozen=True)
class RecordSet:
    """One record set: owner name (absolute, normalized), type, TTL and values."""

    name: str
    rtype: RecordType
    ttl: int
    values: tuple[str, ...]


def _check_ttl(ttl: object, where: str) -> int:
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 <= ttl <= MAX_TTL:
        raise InvalidRecord(f"{where}: TTL {ttl!r} must be an integer from 0 to {MAX_TTL}", field="ttl")
    return ttl


def _check_value(rtype: str, value: str, where: str) -> str:
    if rtype == "A":
        try:
            return str(ipaddress.IPv4Address(value))
        except ValueError:
            raise InvalidRecord(f"{where}: {value!r} is not an IPv4 address", field="values") from None
    if rtype == "AAAA":
        try:
            return str(ipaddress.IPv6Address(value))
        except ValueError:
            raise InvalidRecord(f"{where}: {value!r} is not an IPv6 address", field="values") from None
    if rtype == "CNAME":
        if not is_valid_name(value):
            raise InvalidRecord(f"{where}: CNAME target {value!r} is not a valid DNS name", field="values")
        return normalize(value)
    # TXT: each value is one character-string of at most 255 bytes
    if len(value.encode("utf-8")) > 255:
        raise InvalidRecord(
            f"{where}: TXT value is over 255 bytes; split it into several values", field="values"
        )
    return value


def make_record_set(
    zone: str, name: str, rtype: str, values: Iterable[str], ttl: int = DEFAULT_TTL
) -> RecordSet:
    """Validate one record set of ``zone``.

    ``name`` is relative to the zone (``@`` for the apex, ``vault1`` for ``vault1.<zone>``) or an
    absolute name ending with a dot, which must lie inside the zone.
    """
    zone = normalize(zone)
    raw = name.strip()
    if raw in ("", "@"):
        fqdn = zone
    elif raw.endswith("."):
        fqdn = normalize(raw)
        if not is_subdomain(fqdn, zone):
            raise RecordOutsideZone(
                f"record {raw!r} is not inside zone {zone!r}; use a relative name such as "
                f"'{raw.split('.')[0]}' or an absolute name ending in '.{zone}.'",
                field="name",
            )
    else:
        fqdn = f"{normalize(raw)}.{zone}"
    where = f"record {fqdn} {rtype}"
    if not is_valid_name(fqdn):
        raise InvalidRecord(f"record name {name!r} is not a valid DNS name in zone {zone!r}", field="name")
    if rtype not in RECORD_TYPES:
        raise InvalidRecord(
            f"{where}: type must be one of {', '.join(RECORD_TYPES)} (SOA and NS are kept by the zone)",
            field="type",
        )
    vals = tuple(_check_value(rtype, str(v), where) for v in values)
    if not vals:
        raise InvalidRecord(f"{where}: a record set needs at least one value", field="values")
    if rtype == "CNAME" and len(vals) != 1:
        raise InvalidRecord(f"{where}: a CNAME record set holds exactly one target", field="values")
    if rtype == "CNAME" and fqdn == zone:
        raise CnameConflict(f"{where}: a CNAME cannot sit at the zone apex, which holds the SOA and NS")
    return RecordSet(fqdn, rtype, _check_ttl(ttl, where), tuple(dict.fromkeys(vals)))


@dataclass(frozen=True)
class VnetLink:
    """A private zone's link to a virtual network."""

    vnet_id: str
    fallback_to_public: bool = False
    name: str = ""


@dataclass(frozen=True)
class Soa:
    """The SOA a zone keeps (``minimum`` is the negative-caching TTL)."""

    mname: str
    rname: str
    serial: int = 1
    refresh: int = 3600
    retry: int = 300
    expire: int = 2_419_200
    minimum: int = 10
    ttl: int = 3600


def default_soa(domain: str = DEFAULT_DOMAIN, serial: int = 1) -> Soa:
    return Soa(mname=f"ns1.{normalize(domain)}", rname=f"hostmaster.{normalize(domain)}", serial=serial)


@dataclass(frozen=True)
class PrivateZone:
    """A private DNS zone. Build with :meth:`create`, which validates."""

    name: str
    records: tuple[RecordSet, ...]
    links: tuple[VnetLink, ...]
    soa: Soa
    ns: tuple[str, ...]
    service_managed: bool = False

    @classmethod
    def create(
        cls,
        name: str,
        records: Iterable[RecordSet] = (),
        links: Iterable[VnetLink] = (),
        *,
        soa: Soa | None = None,
        ns: Iterable[str] | None = None,
        domain: str = DEFAULT_DOMAIN,
        service_managed: bool = False,
    ) -> PrivateZone:
        zone = check_name(name, "zone name")
        if len(zone.split(".")) < 2:
            raise InvalidRecord(f"zone name {name!r} needs at least two labels", field="name")
        recs = tuple(records)
        if not _plainly_valid(zone, recs):  # the common case is decided at C speed; the walk names the problem
            _check_record_sets(zone, recs)
        link_list = tuple(links)
        if len({lk.vnet_id for lk in link_list}) != len(link_list):
            raise ZoneLinkConflict(f"zone {zone} is linked twice to the same virtual network")
        ns_names = tuple(check_name(n, "name server") for n in (ns or (f"ns1.{normalize(domain)}",)))
        return cls(zone, recs, link_list, soa or default_soa(domain), ns_names, service_managed)

    def record_sets_at(self, fqdn: str) -> list[RecordSet]:
        return [rs for rs in self.records if rs.name == fqdn]


_NAME, _RTYPE = operator.attrgetter("name"), operator.attrgetter("rtype")


def _plainly_valid(zone: str, recs: tuple[RecordSet, ...]) -> bool:
    """Every record set inside ``zone``, no two of one type at one name, no CNAME beside anything: the checks of
    :func:`_check_record_sets` as set operations (a zone is rebuilt on every change of one of its names)."""
    names = list(map(_NAME, recs))
    if sum(map(str.endswith, names, itertools.repeat("." + zone))) + names.count(zone) != len(names):
        return False
    if len(set(zip(names, map(_RTYPE, recs), strict=True))) != len(recs):
        return False
    cnames = {rs.name for rs in recs if rs.rtype == "CNAME"}
    return not cnames or sum(1 for n in names if n in cnames) == len(cnames)


def _check_record_sets(zone: str, recs: tuple[RecordSet, ...]) -> None:
    """Raise the error of the first record set that breaks a zone's rules."""
    seen: dict[str, set[str]] = {}
    for rs in recs:
        if not is_subdomain(rs.name, zone):
            raise RecordOutsideZone(f"record {rs.name!r} is not inside zone {zone!r}", field="name")
        types = seen.setdefault(rs.name, set())
        if rs.rtype in types:
            raise InvalidRecord(
                f"zone {zone}: two {rs.rtype} record sets named {rs.name}; merge their values",
                field="name",
            )
        types.add(rs.rtype)
        if "CNAME" in types and len(types) > 1:
            raise CnameConflict(
                f"zone {zone}: {rs.name} has a CNAME beside "
                f"{', '.join(sorted(types - {'CNAME'}))} records; "
                "a CNAME must be alone at its name"
            )


def service_endpoint_zone(
    name: str, vnet_id: str, ips: Iterable[str], ttl: int = DEFAULT_TTL, domain: str = DEFAULT_DOMAIN
) -> PrivateZone:
    """The service-managed zone of a service endpoint with private DNS enabled.

    ``name`` is ``backup.<R>.D`` (or ``backup-gateway.<R>.D``); inside ``vnet_id`` it answers the
    endpoint's IPs; other names below it fall back to public resolution.
    """
    zone = check_name(name, "zone name")
    v4 = [ip for ip in ips if ipaddress.ip_address(ip).version == 4]
    v6 = [ip for ip in ips if ipaddress.ip_address(ip).version == 6]
    recs = []
    if v4:
        recs.append(make_record_set(zone, "@", "A", v4, ttl))
    if v6:
        recs.append(make_record_set(zone, "@", "AAAA", v6, ttl))
    return PrivateZone.create(
        zone, recs, [VnetLink(vnet_id, fallback_to_public=True)], domain=domain, service_managed=True
    )


@dataclass(frozen=True)
class Vnet:
    """A virtual network: id and address spaces (CIDRs)."""

    id: str
    address_spaces: tuple[str, ...]
    routing_domain: str = ""  # an address space of its own (network-namespace mode); see prefixes.py
    peers: tuple[str, ...] = ()

    @classmethod
    def create(
        cls, vnet_id: str, address_spaces: Iterable[str], routing_domain: str = "", peers: Iterable[str] = ()
    ) -> Vnet:
        spaces = []
        for cidr in address_spaces:
            try:
                spaces.append(str(ipaddress.ip_network(cidr, strict=False)))
            except ValueError:
                raise InvalidCidr(
                    f"vnet {vnet_id}: {cidr!r} is not a valid CIDR", field="address_spaces"
                ) from None
        return cls(vnet_id, tuple(spaces), routing_domain, tuple(sorted(peers)))


@dataclass(frozen=True)
class PublicRecord:
    """A record answered to everyone (e.g. an endpoint-specific name → the endpoint's IP)."""

    name: str
    rtype: Literal["A", "AAAA", "CNAME", "TXT"]
    ttl: int
    values: tuple[str, ...]


@functools.lru_cache(maxsize=65536)  # every view rebuild checks every public name again: most are known
def _public_pair(public: str, target: str, domain: str) -> tuple[str, str]:
    """A public name and its privatelink target, normalized; raises (never cached) when either is invalid."""
    p = check_name(public, "public name")
    t = check_name(target, "privatelink name")
    if not is_subdomain(p, domain):
        raise RecordOutsideZone(f"public name {p!r} is not under the service domain {domain!r}")
    return p, t


# The last public names checked (a copy) and what they gave: while no vault changed (an endpoint's change) the same
# names come again, and a view is not made to check every vault's names again (equality of two dicts: C speed).
_LAST_NAMES: list[tuple[dict[str, str], str, dict[str, str]]] = []


def _checked_names(public_names: Mapping[str, str], domain: str) -> dict[str, str]:
    """Every public name checked and normalized; names added to the last mapping (a vault created) are the only ones
    checked then (the last answer copied, the new names after it, as a walk in order would put them)."""
    last = _LAST_NAMES[0] if _LAST_NAMES else None
    if last is not None and last[1] == domain:
        before = last[0]
        if len(before) == len(public_names) and before == public_names:
            return last[2]
        if len(before) < len(public_names) and before.items() <= public_names.items() \
                and list(itertools.islice(public_names, len(before))) == list(before):
            names = dict(last[2])
            for public in itertools.islice(public_names, len(before), None):
                p, t = _public_pair(public, public_names[public], domain)
                names[p] = t
            _LAST_NAMES[:] = [(dict(public_names), domain, names)]
            return names
    names = {}
    for public, target in public_names.items():
        p, t = _public_pair(public, target, domain)
        names[p] = t
    _LAST_NAMES[:] = [(dict(public_names), domain, names)]
    return names


@dataclass(frozen=True)
class DnsView:
    """A full, validated snapshot of what the responder serves. Build with :meth:`create`."""

    domain: str
    public_address: str
    zones: tuple[PrivateZone, ...]
    vnets: tuple[Vnet, ...]
    public_names: Mapping[str, str] = field(default_factory=dict)
    public_records: tuple[PublicRecord, ...] = ()
    public_address_v6: str | None = None
    public_ttl: int = 300
    generation: int = 0

    @classmethod
    def create(
        cls,
        *,
        public_address: str,
        zones: Iterable[PrivateZone] = (),
        vnets: Iterable[Vnet] = (),
        public_names: Mapping[str, str] | None = None,
        public_records: Iterable[PublicRecord] = (),
        domain: str = DEFAULT_DOMAIN,
        public_address_v6: str | None = None,
        public_ttl: int = 300,
        generation: int = 0,
    ) -> DnsView:
        """Validate and freeze a view.

        ``public_names`` maps each public name (e.g. ``v1.ge.backup.D``) to its privatelink CNAME
        target (``v1.privatelink.ge.backup.D``). Links that name unknown vnets are kept but match
        no asker. Raises ZoneLinkConflict when one vnet links two zones with the same name.
        """
        dom = check_name(domain, "domain")
        pub = _check_value("A", public_address, "public address")
        pub6 = _check_value("AAAA", public_address_v6, "public address") if public_address_v6 else None
        zone_list = tuple(zones)
        linked: set[tuple[str, str]] = set()
        for z in zone_list:
            for lk in z.links:
                if (z.name, lk.vnet_id) in linked:
                    raise ZoneLinkConflict(
                        f"vnet {lk.vnet_id} is linked to two zones named {z.name}; remove one link"
                    )
                linked.add((z.name, lk.vnet_id))
        names = _checked_names(public_names or {}, dom)
        precs = []
        for rec in public_records:
            where = f"public record {rec.name} {rec.rtype}"
            n = check_name(rec.name, "public record name")
            if not is_subdomain(n, dom):
                raise RecordOutsideZone(f"{where} is not under the service domain {dom!r}")
            if n in names:
                raise CnameConflict(f"{where}: {n} is a public name (a CNAME); it cannot hold other records")
            if rec.rtype not in RECORD_TYPES:
                raise InvalidRecord(f"{where}: type must be one of {', '.join(RECORD_TYPES)}", field="type")
            vals = tuple(_check_value(rec.rtype, v, where) for v in rec.values)
            if not vals:
                raise InvalidRecord(f"{where}: a record needs at least one value", field="values")
            precs.append(PublicRecord(n, rec.rtype, _check_ttl(rec.ttl, where), vals))
        ttl = _check_ttl(public_ttl, "public names")
        return cls(dom, pub, zone_list, tuple(vnets), names, tuple(precs), pub6, ttl, generation)
