"""Resolution over a compiled DnsView (pure): split horizon, CNAME chase, negative answers.

:func:`compile_view` indexes a :class:`DnsView` once; :meth:`CompiledView.resolve` answers
(name, type) for an asker's vnet:

1. the most specific private zone that the asker's vnet is linked to and that contains the name
   answers it (data, CNAME, NODATA, or NXDOMAIN; NXDOMAIN falls back to public resolution when
   the link sets ``fallback_to_public``);
2. otherwise names under the service domain resolve publicly: public names CNAME to their
   privatelink names, which answer the public endpoint's address; other public records as given;
3. otherwise the name is none of ours: REFUSED.

CNAMEs are chased (at most :data:`MAX_CHAIN` links, loops stopped) through the same rules, so a
public name answered inside a linked vnet ends in the private IP.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dnslib import AAAA, CNAME, NS, QTYPE, RD, RR, SOA, TXT, A

from vaultlink.dns.model import DnsView, PrivateZone, Soa, VnetLink
from vaultlink.dns.names import is_subdomain
from vaultlink.dns.wire import NOERROR, NXDOMAIN, REFUSED, TYPE_ANY, TYPE_CNAME
from vaultlink.prefixes import DEFAULT_DOMAIN, PrefixIndex, vnet_entries

MAX_CHAIN = 8
PATCH_MAX = 64  # record sets added to a zone beyond which its index is built anew rather than patched
_TYPE_CODE = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "TXT": 16, "AAAA": 28}


def _rdata(rtype: str, value: str) -> RD:
    if rtype == "A":
        return A(value)
    if rtype == "AAAA":
        return AAAA(value)
    if rtype == "CNAME":
        return CNAME(value + ".")
    if rtype == "NS":
        return NS(value + ".")
    return TXT(value.encode("utf-8"))


@functools.lru_cache(maxsize=65536)
def _rrs(owner: str, rtype: str, ttl: int, values: tuple[str, ...]) -> tuple[RR, ...]:
    """The records of one record set, made once: a rebuilt view shares the RRs of every unchanged set (RRs
    are never modified once made; answers copy the lists that hold them)."""
    code = _TYPE_CODE[rtype]
    return tuple(RR(owner + ".", code, ttl=ttl, rdata=_rdata(rtype, v)) for v in values)


def _soa_rr(zone: str, soa: Soa, negative: bool) -> RR:
    ttl = min(soa.ttl, soa.minimum) if negative else soa.ttl
    times = (soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum)
    return RR(zone + ".", QTYPE.SOA, ttl=ttl, rdata=SOA(soa.mname + ".", soa.rname + ".", times))


@dataclass
class ZoneIndex:
    """One zone, indexed: name → type code → RRs; plus every name that exists (ENTs too)."""

    name: str
    soa: Soa
    rrsets: dict[str, dict[int, list[RR]]] = field(default_factory=dict)
    existing: set[str] = field(default_factory=set)

    def add(self, owner: str, rtype: str, ttl: int, values: Iterable[str]) -> None:
        code = _TYPE_CODE[rtype]
        rrs = _rrs(owner, rtype, ttl, tuple(values))
        self.rrsets.setdefault(owner, {}).setdefault(code, []).extend(rrs)
        name = owner
        while name != self.name and "." in name:
            self.existing.add(name)
            name = name.split(".", 1)[1]
        self.existing.add(self.name)

    @classmethod
    def from_zone(cls, zone: PrivateZone) -> ZoneIndex:
        idx = cls(zone.name, zone.soa)
        idx.rrsets[zone.name] = {6: [_soa_rr(zone.name, zone.soa, False)]}
        idx.add(zone.name, "NS", zone.soa.ttl, zone.ns)
        for rs in zone.records:
            idx.add(rs.name, rs.rtype, rs.ttl, rs.values)
        return idx

    @classmethod
    def patched(cls, old: ZoneIndex, old_zone: PrivateZone, zone: PrivateZone) -> ZoneIndex | None:
        """The index of ``zone`` made from ``old`` (the index of ``old_zone``, left unchanged): the names whose
        record sets changed are indexed again, the others shared. Record sets are told apart by identity (the
        service builds each stored one once: ``dns_zones.to_record_sets``). None when a name went away (which
        names still exist is then worked out again in full) or when most of the zone changed."""
        if zone.name != old.name or zone.ns != old_zone.ns:
            return None
        before, after = set(map(id, old_zone.records)), set(map(id, zone.records))
        added = [rs for rs in zone.records if id(rs) not in before]
        if len(added) > PATCH_MAX:
            return None
        changed = {rs.name for rs in added} | {rs.name for rs in old_zone.records if id(rs) not in after}
        changed.add(zone.name)  # the apex: its SOA carries the new serial
        idx = cls(zone.name, zone.soa, dict(old.rrsets), set(old.existing))
        for owner in changed:
            idx.rrsets.pop(owner, None)  # indexed again below, in new dicts: ``old``'s are never changed
        idx.rrsets[zone.name] = {6: [_soa_rr(zone.name, zone.soa, False)]}
        idx.add(zone.name, "NS", zone.soa.ttl, zone.ns)
        for rs in zone.records:
            if rs.name in changed:
                idx.add(rs.name, rs.rtype, rs.ttl, rs.values)
        if not changed <= idx.rrsets.keys():
            return None
        return idx


@dataclass
class Step:
    kind: str  # data | cname | nodata | nxdomain | refused
    rrs: list[RR] = field(default_factory=list)
    target: str = ""
    soa: RR | None = None


@dataclass
class Resolution:
    rcode: int
    aa: bool
    answer: list[RR]
    authority: list[RR]
    zone: str | None = None  # the zone that answered the last step (for explanations)
    private: bool = False  # whether the last step came from a private zone


def _lookup_zone(zone: ZoneIndex, name: str, qtype: int) -> Step:
    sets = zone.rrsets.get(name)
    if sets is None:
        kind = "nodata" if name in zone.existing else "nxdomain"
        return Step(kind, soa=_soa_rr(zone.name, zone.soa, True))
    cname = sets.get(TYPE_CNAME)
    if cname is not None and qtype != TYPE_CNAME:
        return Step("cname", rrs=list(cname), target=str(cname[0].rdata.label).rstrip(".").lower())
    if qtype == TYPE_ANY:
        return Step("data", rrs=[rr for rrs in sets.values() for rr in rrs])
    rrs = sets.get(qtype)
    if rrs:
        return Step("data", rrs=list(rrs))
    return Step("nodata", soa=_soa_rr(zone.name, zone.soa, True))


def _public_base(view: DnsView) -> tuple[Any, ...]:
    """What the public zone holds besides the public names."""
    return (view.domain, view.public_address, view.public_address_v6, view.public_ttl, view.public_records)


def _public_zone_after(previous: CompiledView, view: DnsView) -> ZoneIndex:
    """The public zone of ``view``, from the one ``previous`` served: the same zone when no public name changed
    (an endpoint's change), the old one plus the new names when names were only added (a vault created), else
    built anew. Adding gives what a build from nothing gives: a new name takes a CNAME unless a record or an
    earlier name's target holds it already (then: built anew), and a new target its address unless a name
    holds it; the old zone's dicts are copied, never changed."""
    old = previous.view
    if _public_base(old) != _public_base(view):
        return CompiledView._public_zone(view)
    before, after = old.public_names, view.public_names
    if before is after or before == after:
        return previous.public
    added = after.keys() - before.keys()
    if len(before) + len(added) != len(after) or not before.items() <= after.items():  # a name gone or moved
        return CompiledView._public_zone(view)
    prev = previous.public
    if any(name in prev.rrsets for name in added):
        return CompiledView._public_zone(view)
    pub = ZoneIndex(prev.name, prev.soa, dict(prev.rrsets), set(prev.existing))
    for name in sorted(added):
        pub.add(name, "CNAME", view.public_ttl, [after[name]])
    addresses = _public_addresses(view)
    for target in sorted({after[name] for name in added}):
        if is_subdomain(target, view.domain) and target not in pub.rrsets:
            for rtype, addr in addresses:
                pub.add(target, rtype, view.public_ttl, [addr])
    return pub


def _public_addresses(view: DnsView) -> list[tuple[str, str]]:
    addresses = [("A", view.public_address)]
    if view.public_address_v6:
        addresses.append(("AAAA", view.public_address_v6))
    return addresses


class CompiledView:
    """An indexed DnsView: classify source addresses and resolve names."""

    def __init__(self, view: DnsView, previous: CompiledView | None = None) -> None:
        """With ``previous`` (the view served until now), a zone equal to one it had keeps its index: a change
        re-indexes the zones it touched (indexes are read-only once built)."""
        self.view = view
        self.domain = view.domain
        self.generation = view.generation
        self.public: ZoneIndex = self._public_zone(view) if previous is None else _public_zone_after(previous, view)
        before = previous.zone_indexes if previous is not None else {}
        self.zone_indexes: dict[tuple[str, tuple[VnetLink, ...]], tuple[PrivateZone, ZoneIndex]] = {}
        indexes: dict[int, ZoneIndex] = {}
        for z in view.zones:
            key = (z.name, z.links)
            was = before.get(key)
            if was is None:
                idx = ZoneIndex.from_zone(z)
            elif was[0] is z or was[0] == z:
                idx = was[1]
            else:  # the zone of one change (an endpoint's name): its other names keep their index
                idx = ZoneIndex.patched(was[1], was[0], z) or ZoneIndex.from_zone(z)
            self.zone_indexes[key] = (z, idx)
            indexes[id(z)] = idx
        self.visible: dict[str, list[tuple[ZoneIndex, bool]]] = {}
        for z in view.zones:
            for link in z.links:
                self.visible.setdefault(link.vnet_id, []).append((indexes[id(z)], link.fallback_to_public))
        for zones in self.visible.values():
            zones.sort(key=lambda item: len(item[0].name), reverse=True)
        self._index = PrefixIndex.build(
            vnet_entries((v.id, v.routing_domain, v.address_spaces, v.peers) for v in view.vnets)
        )

    @staticmethod
    def _public_zone(view: DnsView) -> ZoneIndex:
        dom = view.domain
        soa = Soa(mname=f"ns1.{dom}", rname=f"hostmaster.{dom}")  # negative answers cached 10 s
        pub = ZoneIndex(dom, soa)
        pub.rrsets[dom] = {6: [_soa_rr(dom, soa, False)]}
        pub.add(dom, "NS", 3600, [f"ns1.{dom}"])
        addresses = _public_addresses(view)
        for rtype, addr in addresses:
            pub.add(f"ns1.{dom}", rtype, 3600, [addr])
        for rec in view.public_records:
            pub.add(rec.name, rec.rtype, rec.ttl, rec.values)
        for name, target in view.public_names.items():
            if name not in pub.rrsets:
                pub.add(name, "CNAME", view.public_ttl, [target])
        for target in set(view.public_names.values()):
            if is_subdomain(target, dom) and target not in pub.rrsets:
                for rtype, addr in addresses:
                    pub.add(target, rtype, view.public_ttl, [addr])
        return pub

    def classify(self, source_ip: str, domain: str = DEFAULT_DOMAIN) -> str | None:
        """The vnet id whose address space holds ``source_ip`` (the one prefix index); None = internet."""
        return self._index.lookup(source_ip, domain)

    def _step(self, name: str, qtype: int, vnet: str | None) -> tuple[Step, str | None, bool]:
        for zone, fallback in self.visible.get(vnet, ()) if vnet is not None else ():
            if is_subdomain(name, zone.name):
                step = _lookup_zone(zone, name, qtype)
                if step.kind == "nxdomain" and fallback:
                    break
                return step, zone.name, True
        if not is_subdomain(name, self.domain):
            return Step("refused"), None, False
        return _lookup_zone(self.public, name, qtype), self.domain, False

    def resolve(self, name: str, qtype: int, vnet: str | None) -> Resolution:
        answer: list[RR] = []
        seen = {name}
        zone: str | None = None
        private = False
        for _ in range(MAX_CHAIN + 1):
            step, zone, private = self._step(name, qtype, vnet)
            if step.kind == "cname":
                answer.extend(step.rrs)
                if step.target in seen or len(seen) > MAX_CHAIN:
                    return Resolution(NOERROR, True, answer, [], zone, private)
                seen.add(step.target)
                name = step.target
                continue
            if step.kind == "data":
                return Resolution(NOERROR, True, answer + step.rrs, [], zone, private)
            if step.kind == "refused":
                if answer:  # a chain that leaves our names: the client resolves the rest
                    return Resolution(NOERROR, True, answer, [], zone, private)
                return Resolution(REFUSED, False, [], [], None, False)
            rcode = NXDOMAIN if step.kind == "nxdomain" else NOERROR
            assert step.soa is not None
            return Resolution(rcode, True, answer, [step.soa], zone, private)
        return Resolution(NOERROR, True, answer, [], zone, private)
