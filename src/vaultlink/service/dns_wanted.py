"""Which automatic record each zone instance should hold (``dns_auto`` applies it): :func:`wanted`.

Azure's model: a zone name may exist more than once (in different resource groups), each instance
linked to its own vnets, and a vnet is linked to at most one instance of a name. An endpoint's
records go into the instance linked to its vnet; else into the first instance whose linked vnets
can all reach the endpoint wherever it would replace another endpoint's record; else into a new
instance (resource group ``vnet-<vnet name>``) linked to the endpoint's vnet only. So every vnet
keeps resolving each name to an endpoint it can reach.

The endpoints are walked one by one in a fixed order (those that carry no traffic first, then the
Approved ones oldest first), so the answer for a list that extends the last one walked is the last
walk's state plus the new endpoints: :class:`WantedMemo` keeps that state, and a change that adds an
endpoint (the common one) walks only it instead of every endpoint again. Anything else (a changed
endpoint, a zone link, a peering) walks from the start.
"""

from __future__ import annotations

import ipaddress
import threading
from typing import Any

from vaultlink.dns import names
from vaultlink.domain.records import DnsZoneRecord, EndpointRecord, VnetRecord, extends, removed

Key = tuple[str, str, str]  # (account id, resource group, zone name): one zone instance
Records = dict[Key, dict[str, tuple[str, str]]]  # instance -> {fqdn: (ip, endpoint id)}
Links = dict[Key, dict[str, str]]  # instance -> {vnet id: endpoint id}
Prepared = tuple[bool, bool, float, tuple[tuple[str, tuple[tuple[str, str], ...]], ...]]
_PREPARED: dict[tuple[str, str], tuple[Any, Prepared]] = {}


def endpoint_names(e: EndpointRecord, domain: str) -> list[tuple[str, str, str]]:
    """(zone, fqdn, ip) for every privatelink name of a resource endpoint."""
    out = []
    for cfg in e.get("ip_configs") or []:
        fqdn, ip = cfg.get("fqdn"), cfg.get("ip")
        if not fqdn or not ip:
            continue
        try:
            ipaddress.IPv4Address(ip)
        except ValueError:
            continue
        zone = cfg.get("zone") or names.zone_of(fqdn, domain)
        if zone:
            out.append((names.normalize(zone), names.normalize(fqdn), ip))
    return out


def integrated(e: EndpointRecord) -> bool:
    return e.get("kind") == "resource" and bool(e.get("dns_integration"))


def instance_group(vnet: VnetRecord | None, vnet_id: str) -> str:
    """The resource group of the zone instance made for a vnet whose endpoints the default one cannot serve."""
    return f"vnet-{(vnet.get('name') if vnet else None) or vnet_id}"[:128]


def _prepared(e: EndpointRecord, domain: str) -> Prepared:
    """(integrated, approved, created, ((zone, ((fqdn, ip), ...)), ...)) of an endpoint, remembered for an
    unchanged record (``Store.scan`` keeps its identity)."""
    got = _PREPARED.get((e["id"], domain))
    if got is None or got[0] is not e:
        if len(_PREPARED) > 262_144:  # bounded: the records of deleted endpoints go at some point
            _PREPARED.clear()
        by_zone: dict[str, list[tuple[str, str]]] = {}
        for zone, fqdn, ip in endpoint_names(e, domain):
            by_zone.setdefault(zone, []).append((fqdn, ip))
        conn = e.get("connection")
        prep = (integrated(e), bool(conn) and conn is not None and conn.get("status") == "Approved",
                float(e.get("created") or 0), tuple((z, tuple(p)) for z, p in by_zone.items()))
        got = _PREPARED[(e["id"], domain)] = (e, prep)
    return got[1]


class _Walk:
    """The state of a walk over the ordered endpoints."""

    def __init__(self, zones: list[DnsZoneRecord], peers: dict[str, set[str]], vnets: dict[str, VnetRecord]) -> None:
        self.peers, self.vnets = peers, vnets
        self.records: Records = {}
        self.links: Links = {}
        self.linked: dict[tuple[str, str], Key] = {}  # (zone name, vnet) -> instance, from the store
        self.auto: set[tuple[str, str]] = set()  # of those, the links made for an endpoint (not by a user)
        self.instances: dict[tuple[str, str], list[Key]] = {}  # (account, zone name) -> its instances
        self.carries: set[str] = set()  # Approved endpoints (they carry traffic)
        self.reach: dict[tuple[Key, str], tuple[int, bool]] = {}
        for z in sorted(zones, key=lambda z: (z.get("parent_id") or "", z.get("created") or 0)):
            zkey: Key = (z["account_id"], z.get("parent_id") or "", z["name"])
            self.instances.setdefault((z["account_id"], z["name"]), []).append(zkey)
            for lk in z.get("links") or []:  # a vnet stays with the instance it is linked to (stable answers)
                self.linked.setdefault((z["name"], lk["vnet_id"]), zkey)
                if lk.get("managed_by"):
                    self.auto.add((z["name"], lk["vnet_id"]))

    def copy(self) -> _Walk:
        out = _Walk.__new__(_Walk)
        out.peers, out.vnets, out.auto = self.peers, self.vnets, self.auto  # never changed by a walk
        out.records = {k: dict(v) for k, v in self.records.items()}
        out.links = {k: dict(v) for k, v in self.links.items()}
        out.linked = dict(self.linked)
        out.instances = {k: list(v) for k, v in self.instances.items()}
        out.carries = set(self.carries)
        out.reach = dict(self.reach)
        return out

    def _reached_by_all(self, cand: Key, vnet_id: str) -> bool:
        """Can every vnet linked to instance ``cand`` reach an endpoint in ``vnet_id``?"""
        linked_vnets = self.links.get(cand, {})  # only grows during a walk: its size says whether to look again
        got = self.reach.get((cand, vnet_id))
        if got is None or got[0] != len(linked_vnets):
            ok = all(v == vnet_id or vnet_id in self.peers.get(v, ()) for v in linked_vnets)
            got = self.reach[(cand, vnet_id)] = (len(linked_vnets), ok)
        return got[1]

    def _clash(self, cand: Key, eid: str, vnet_id: str, pairs: tuple[tuple[str, str], ...]) -> bool:
        """Would endpoint ``eid`` (in ``vnet_id``) take a name from vnets that cannot reach it? (An Approved
        endpoint takes a name from one that carries no traffic: no clash.)"""
        held = self.records.get(cand)
        if not held or self._reached_by_all(cand, vnet_id):
            return False
        carries = self.carries
        for fqdn, _ip in pairs:
            holder = held.get(fqdn)
            if holder is not None and holder[1] != eid and (holder[1] in carries or eid not in carries):
                return True
        return False

    def walk(self, ordered: list[tuple[EndpointRecord, Prepared]]) -> None:
        for e, prep in ordered:
            if prep[1]:
                self.carries.add(e["id"])
            self.step(e, prep)

    def step(self, e: EndpointRecord, prep: Prepared) -> None:
        eid, acct, vnet_id = e["id"], e["account_id"], e["vnet_id"]
        for zone, pairs in prep[3]:
            key: Key | None = self.linked.get((zone, vnet_id))
            if key is not None and (zone, vnet_id) in self.auto and self._clash(key, eid, vnet_id, pairs):
                # linked automatically (e.g. while this endpoint was Pending), now it would take the name
                # from vnets that cannot reach it: the vnet moves to an instance that can serve it
                key = None
            if key is None:
                for cand in self.instances.get((acct, zone), []) or [(acct, "", zone)]:
                    if not self._clash(cand, eid, vnet_id, pairs):
                        key = cand
                        break
                if key is None:
                    key = (acct, instance_group(self.vnets.get(vnet_id), vnet_id), zone)
                if key not in self.instances.setdefault((acct, zone), []):
                    self.instances[(acct, zone)].append(key)
                self.linked[(zone, vnet_id)] = key
            held = self.records.setdefault(key, {})
            for fqdn, ip in pairs:
                held[fqdn] = (ip, eid)
            self.links.setdefault(key, {}).setdefault(vnet_id, eid)


def _ordered(endpoints: list[EndpointRecord], domain: str) -> list[tuple[EndpointRecord, Prepared]]:
    """An Approved endpoint always wins a shared name over one that carries no traffic (Pending, Rejected,
    Disconnected): someone's unapproved endpoint must not take a vault's name away from the vnets that
    reach it. Among equals, oldest first: the newer endpoint's IP wins."""
    prepared = [(e, _prepared(e, domain)) for e in endpoints]
    return [ep for ep in prepared if ep[1][0] and not ep[1][1]] + sorted(
        (ep for ep in prepared if ep[1][0] and ep[1][1]), key=lambda ep: ep[1][2])


# states kept along a walk (copies of its state every ``_step`` endpoints): a deletion walks from the last one before it
CHECKPOINTS = 8


def _step(n: int) -> int:
    """Endpoints between two kept states of a walk over ``n``: a power of two times 128, at most CHECKPOINTS
    states (a longer walk keeps every other state of the shorter one's)."""
    step = 128
    while n > step * CHECKPOINTS:
        step *= 2
    return step


def _common_prefix(a: list[Any], b: list[Any]) -> int:
    """How many first items ``a`` and ``b`` share (the very objects)."""
    if extends(a, b):
        return len(a)
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x is not y), min(len(a), len(b)))


class WantedMemo:
    """The last walk (its inputs, its state, and its state at a few points along the way), to resume it: from its
    end when the next list extends it (an endpoint created), else from the last point the two lists share (an
    endpoint deleted or changed: the walk is done again from there only)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._walked: list[tuple[EndpointRecord, Prepared]] = []
        self._state: _Walk | None = None
        self._points: list[tuple[int, _Walk]] = []  # (items walked, the state then), in order
        self._input: tuple[str, list[EndpointRecord], list[tuple[EndpointRecord, Prepared]], float] | None = None
        self.resumed = self.restarted = 0  # how often each happened (tests, benchmarks)
        self.walked = 0  # endpoints walked in all (tests, benchmarks)

    def order(self, endpoints: list[EndpointRecord], domain: str, remember: bool) -> list[tuple[EndpointRecord,
                                                                                                Prepared]]:
        """:func:`_ordered`, extending the last answer when ``endpoints`` extends the last list with Approved
        endpoints no older than any before (a new endpoint), or taking from it the endpoints that are gone when
        nothing else changed (an endpoint deleted)."""
        with self._lock:
            last = self._input
            ordered = None
            if last is not None and last[0] == domain and extends(last[1], endpoints):
                tail = [(e, _prepared(e, domain)) for e in endpoints[len(last[1]):]]
                tail = sorted((ep for ep in tail if ep[1][0]), key=lambda ep: ep[1][2])
                if all(p[1] and p[2] >= last[3] for _e, p in tail):
                    ordered, newest = last[2] + tail, max([last[3], *(p[2] for _e, p in tail)])
            elif last is not None and last[0] == domain and (gone := removed(last[1], endpoints)) is not None:
                dropped = set(map(id, gone))  # records only removed: the last order without them
                ordered, newest = [ep for ep in last[2] if id(ep[0]) not in dropped], last[3]
            if ordered is None:
                ordered = _ordered(endpoints, domain)
                newest = max((p[2] for _e, p in ordered if p[1]), default=float("-inf"))
            if remember:
                self._input = (domain, list(endpoints), ordered, newest)
            return ordered

    def walk(self, key: tuple[Any, ...], ordered: list[tuple[EndpointRecord, Prepared]], fresh: _Walk,
             remember: bool) -> _Walk:
        with self._lock:
            state, start, points = fresh, 0, []
            if self._state is not None and self._key == key:
                shared = _common_prefix(self._walked, ordered)
                if shared == len(self._walked):  # an extension: from the end
                    state, start, points = self._state.copy(), shared, list(self._points)
                else:  # from the last state kept before the first difference
                    points = [p for p in self._points if p[0] <= shared]
                    if points:
                        start, state = points[-1][0], points[-1][1].copy()
            self.resumed += bool(start)
            self.restarted += not start
            self.walked += len(ordered) - start
            if not remember:
                state.walk(ordered[start:])
                return state
            step = _step(len(ordered))
            points = [p for p in points if p[0] % step == 0]
            at = start
            while at < len(ordered):
                upto = min(len(ordered), (at // step + 1) * step)
                state.walk(ordered[at:upto])
                at = upto
                if at % step == 0 and at < len(ordered):
                    points.append((at, state.copy()))
            self._key, self._walked, self._state, self._points = key, list(ordered), state.copy(), points
            return state


_MEMO = WantedMemo()


def wanted(
    endpoints: list[EndpointRecord],
    domain: str,
    peers: dict[str, set[str]] | None = None,
    zones: list[DnsZoneRecord] | None = None,
    vnets: dict[str, VnetRecord] | None = None,
    memo: WantedMemo | None = _MEMO,
    remember: bool = True,
) -> tuple[Records, Links]:
    """Records {instance: {fqdn: (ip, endpoint)}} and links {instance: {vnet: endpoint}} (module docstring).
    ``remember=False``: a what-if (``--dry-run``'s probe) that a later call must not resume from."""
    peers = peers or {}
    vnets = vnets or {}
    zones = zones or []
    ordered = _ordered(endpoints, domain) if memo is None else memo.order(endpoints, domain, remember)
    fresh = _Walk(zones, peers, vnets)
    if memo is None:
        fresh.walk(ordered)
        return fresh.records, fresh.links
    # a walk resumes only from the same zone instances and links, peerings and vnet names
    key = (domain, tuple(sorted(fresh.linked.items())), tuple(sorted(fresh.auto)),
           tuple(sorted((k, tuple(v)) for k, v in fresh.instances.items())),
           tuple(sorted((vid, tuple(sorted(p))) for vid, p in peers.items())),
           tuple(sorted((vid, str(v.get("name"))) for vid, v in vnets.items())))
    state = memo.walk(key, ordered, fresh, remember)
    return state.records, state.links
