"""The walk that says which automatic record each zone instance should hold (``dns_wanted`` remembers it).

Azure's model: a zone name may exist more than once (in different resource groups), each instance
linked to its own vnets, and a vnet is linked to at most one instance of a name. An endpoint's
records go into the instance linked to its vnet; else into the first instance whose linked vnets
can all reach the endpoint wherever it would replace another endpoint's record; else into a new
instance (resource group ``vnet-<vnet name>``) linked to the endpoint's vnet only. So every vnet
keeps resolving each name to an endpoint it can reach.

The endpoints are walked one by one in a fixed order (:func:`ordered`: those that carry no traffic first, then
the Approved ones oldest first). A walk in which no endpoint met a clash (the common case) places every
endpoint by its vnet alone, so a deletion can be taken out of its state (:func:`drop`, with :class:`Claims`)
instead of walking again every endpoint after it.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable, Mapping

from vaultlink.dns import names
from vaultlink.domain.lists import position
from vaultlink.domain.records import DnsZoneRecord, EndpointRecord, VnetRecord

Key = tuple[str, str, str]  # (account id, resource group, zone name): one zone instance
Records = dict[Key, dict[str, tuple[str, str]]]  # instance -> {fqdn: (ip, endpoint id)}
Links = dict[Key, dict[str, str]]  # instance -> {vnet id: endpoint id}
Prepared = tuple[bool, bool, float, tuple[tuple[str, tuple[tuple[str, str], ...]], ...]]
Item = tuple[EndpointRecord, Prepared]  # one endpoint of a walk
_PREPARED: dict[tuple[str, str], Item] = {}


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


def item(e: EndpointRecord, domain: str) -> Item:
    """(the record, (integrated, approved, created, ((zone, ((fqdn, ip), ...)), ...))) of an endpoint: the very
    same tuple for an unchanged record (``Store.scan`` keeps its identity), so that the walk's memo tells by
    identity which endpoints changed."""
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
    return got


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
        self.clashed = False  # did any endpoint meet a clash (then only a walk says what a deletion changes)
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
        out.clashed = self.clashed
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
                self.clashed = True
                return True
        return False

    def walk(self, items: list[Item]) -> None:
        for e, prep in items:
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


def ordered(endpoints: list[EndpointRecord], domain: str) -> list[Item]:
    """An Approved endpoint always wins a shared name over one that carries no traffic (Pending, Rejected,
    Disconnected): someone's unapproved endpoint must not take a vault's name away from the vnets that
    reach it. Among equals, oldest first: the newer endpoint's IP wins."""
    items = [item(e, domain) for e in endpoints]
    return [ep for ep in items if ep[1][0] and not ep[1][1]] + sorted(
        (ep for ep in items if ep[1][0] and ep[1][1]), key=lambda ep: ep[1][2])


class Claims:
    """Who claims what, in the walk's order: the endpoints of each (zone, vnet), and the claimants of each
    (zone, fqdn). Kept beside the last walk's state so that :func:`drop` and :func:`insert` find a name's holder
    among its few claimants instead of walking every endpoint."""

    def __init__(self, items: Iterable[Item] = ()) -> None:
        self.by_vnet: dict[tuple[str, str], list[Item]] = {}
        self.by_name: dict[tuple[str, str], list[Item]] = {}
        self.add(items)

    def add(self, items: Iterable[Item]) -> None:
        for item in items:
            e, prep = item
            for zone, pairs in prep[3]:
                self.by_vnet.setdefault((zone, e["vnet_id"]), []).append(item)
                for fqdn in dict.fromkeys(f for f, _ip in pairs):
                    self.by_name.setdefault((zone, fqdn), []).append(item)


def _ip(item: Item, zone: str, fqdn: str) -> str:
    """The address ``item`` gives ``fqdn`` in ``zone`` (its last, as the walk's assignments leave it)."""
    return next(ip for z, pairs in item[1][3] if z == zone for f, ip in reversed(pairs) if f == fqdn)


def droppable(state: _Walk, claims: Claims, gone: list[Item], stored: Mapping[tuple[str, str], Key]) -> bool:
    """Can :func:`drop` take ``gone`` out (nothing changed)?"""
    if state.clashed:
        return False
    ids = set(map(id, gone))
    for e, prep in gone:
        for zone, _pairs in prep[3]:
            mates = claims.by_vnet[(zone, e["vnet_id"])]
            if (zone, e["vnet_id"]) in stored or id(mates[0]) not in ids:
                continue
            nxt = next((x for x in mates if id(x) not in ids), None)
            if nxt is None:
                continue
            if nxt[0]["account_id"] != mates[0][0]["account_id"]:
                return False
            # the vnet's next endpoint now links it, later in the walk: it must not clash with what is held by then
            vnet, links = e["vnet_id"], state.links.get(state.linked[(zone, e["vnet_id"])], {})
            if any(v != vnet and vnet not in state.peers.get(v, ()) for v in links):
                return False
    return True


def drop(state: _Walk, claims: Claims, gone: list[Item], stored: Mapping[tuple[str, str], Key]) -> bool:
    """Take the endpoints ``gone`` out of a walk's ``state`` (and out of ``claims``) as if they had never been
    walked; ``stored``: the links the zones in the store hold. Each name they held goes to its latest other
    claimant in the same instance, each vnet's link to that vnet's next endpoint. Only for a walk that met no
    clash: a walk without them checks for clashes where this one did, on no more held names and linked vnets, so
    it meets none either, and every endpoint goes where its vnet is linked. Except where a vnet's first endpoint
    of a zone goes: its next one links the vnet, later in the walk. False, nothing changed, where that next one
    is another account's (whose own instance the vnet would be linked to) or could meet a clash (the instance
    links a vnet that cannot reach it): a walk is needed."""
    if not droppable(state, claims, gone, stored):
        return False
    for item in gone:
        e, prep = item
        eid, vnet = e["id"], e["vnet_id"]
        for zone, pairs in prep[3]:
            key = state.linked[(zone, vnet)]
            mates = claims.by_vnet[(zone, vnet)]
            first = mates[0] is item
            del mates[position(mates, item)]
            if first and mates:  # the vnet's link to the instance now comes from its next endpoint
                state.links[key][vnet] = mates[0][0]["id"]
            elif first:  # no endpoint of this vnet left in the instance
                del state.links[key][vnet]
                if (zone, vnet) not in stored:
                    del state.linked[(zone, vnet)]
                for gone_reach in [k for k in state.reach if k[0] == key]:
                    del state.reach[gone_reach]  # counted by the linked vnets' number: not valid once one goes
            held = state.records[key]
            for fqdn in dict.fromkeys(f for f, _ip in pairs):
                rivals = claims.by_name[(zone, fqdn)]
                del rivals[position(rivals, item)]
                if held[fqdn][1] != eid:
                    continue  # a later endpoint holds it
                nxt = _holder(state, rivals, zone, key)
                if nxt is None:
                    del held[fqdn]
                else:
                    held[fqdn] = (_ip(nxt, zone, fqdn), nxt[0]["id"])
            if not held:  # no endpoint left in the instance
                del state.records[key], state.links[key]
        state.carries.discard(eid)
    return True


def _holder(state: _Walk, rivals: list[Item], zone: str, key: Key) -> Item | None:
    """The latest of a name's claimants that went into instance ``key``: it holds the name there."""
    return next((x for x in reversed(rivals) if state.linked.get((zone, x[0]["vnet_id"])) == key), None)


def _place(items: list[Item], rank: Mapping[int, int], at: int) -> int:
    """Where an item ranked ``at`` goes in ``items`` (in the walk's order)."""
    return bisect.bisect_left(items, at, key=lambda x: rank[id(x)])


def insert(state: _Walk, claims: Claims, item: Item, rank: Mapping[int, int], stored: Mapping[tuple[str, str], Key],
           dry: bool = False, without: frozenset[int] = frozenset()) -> bool:
    """Put endpoint ``item`` into a walk's ``state`` (and ``claims``) at its place in the order (``rank``: the id of
    each item of the new order -> its place), as a walk through it would. Only where that walk meets no clash
    either: every instance it goes into links only vnets that reach each other, so no endpoint of those vnets can
    clash there, and it changes no other instance. False, nothing changed, otherwise (or where its vnet's first
    endpoint of a zone would become it while another account's). ``dry``: only say whether it could, as if the
    items ``without`` were gone (a :func:`drop` to come)."""
    if state.clashed:
        return False
    e, prep = item
    vnet, acct, at = e["vnet_id"], e["account_id"], rank[id(item)]
    keys: list[Key] = []
    for zone, _pairs in prep[3]:
        head = next((m for m in claims.by_vnet.get((zone, vnet), ()) if id(m) not in without), None)  # its first
        if (zone, vnet) in stored:
            key = stored[(zone, vnet)]
        elif head is not None:
            key = state.linked[(zone, vnet)]
            if rank[id(head)] > at and head[0]["account_id"] != acct:
                return False
        else:
            cands = state.instances.get((acct, zone)) or [(acct, "", zone)]
            key = cands[0]
        vnets = {*state.links.get(key, ()), vnet}
        if any(v != w and w not in state.peers.get(v, ()) for v in vnets for w in vnets):
            return False
        keys.append(key)
    if dry:
        return True
    for (zone, pairs), key in zip(prep[3], keys, strict=True):
        mates = claims.by_vnet.setdefault((zone, vnet), [])
        where = _place(mates, rank, at)
        mates.insert(where, item)
        first = where == 0
        if (zone, vnet) not in state.linked:
            state.linked[(zone, vnet)] = key
            if key not in state.instances.setdefault((acct, zone), []):
                state.instances[(acct, zone)].append(key)
        links = state.links.setdefault(key, {})
        if first:
            if vnet not in links:
                for stale in [k for k in state.reach if k[0] == key]:
                    del state.reach[stale]
            links[vnet] = e["id"]
        held = state.records.setdefault(key, {})
        for fqdn in dict.fromkeys(f for f, _ip in pairs):
            rivals = claims.by_name.setdefault((zone, fqdn), [])
            rivals.insert(_place(rivals, rank, at), item)
            holder = _holder(state, rivals, zone, key)
            assert holder is not None  # ``item`` itself at least
            held[fqdn] = (_ip(holder, zone, fqdn), holder[0]["id"])
    if prep[1]:
        state.carries.add(e["id"])
    return True
