"""Which automatic record each zone instance should hold (``dns_auto`` applies it): :func:`wanted`, the walk of
``dns_walk`` remembered between calls.

The answer for a list that extends the last one walked is the last walk's state plus the new endpoints:
:class:`WantedMemo` keeps that state, and a change that adds an endpoint (the common one) walks only it. A
deletion takes the endpoint out of the last state when no endpoint met a clash (``dns_walk.drop``), an approval
or a rejection takes the old record out and puts the new one in where no clash can arise (``dns_walk.insert``);
anything else (such a change where vnets that do not reach each other share an instance) walks from the last
state kept before the first endpoint that differs, and a changed zone link, peering or vnet name from the start.
"""

from __future__ import annotations

import bisect
import threading
from itertools import count
from operator import itemgetter
from typing import Any

from vaultlink.domain.lists import changed, extends, position, removed, shared_prefix
from vaultlink.domain.records import DnsZoneRecord, EndpointRecord, VnetRecord
from vaultlink.service.dns_walk import Claims, Item, Links, Records, _Walk, drop, droppable, insert, item
from vaultlink.service.dns_walk import ordered as walk_order

# what ``order`` changed in the last list to make the new one: (where the two lists first differ, the items taken
# out, the one put in): (its length, [], None) for new items at the end
Change = tuple[int, list[Item], Item | None]

# states kept along a walk (copies of its state every ``_step`` endpoints): a deletion walks from the last one before it
CHECKPOINTS = 8


def _step(n: int) -> int:
    """Endpoints between two kept states of a walk over ``n``: a power of two times 128, at most CHECKPOINTS
    states (a longer walk keeps every other state of the shorter one's)."""
    step = 128
    while n > step * CHECKPOINTS:
        step *= 2
    return step


class WantedMemo:
    """The last walk (its inputs, its state, and its state at a few points along the way), to resume it: from its
    end when the next list extends it (an endpoint created), by changing its state when the next list lacks some
    endpoints or has one record replaced and the walk met no clash (an endpoint deleted, approved or rejected),
    else from the last point the two lists share (the walk is done again from there only)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._walked: list[Item] = []
        self._state: _Walk | None = None
        self._claims: Claims | None = None  # who claims what in ``_walked``: made at the first deletion, then kept
        self._points: list[tuple[int, _Walk]] = []  # (items walked, the state then), in order
        self._input: tuple[str, list[EndpointRecord], list[Item], float] | None = None
        # (the order before, the one made from it, what changed: ``Change``) of the last ``order``
        self._change: tuple[list[Item], list[Item], Change] | None = None
        self.resumed = self.restarted = self.dropped = 0  # how often each happened (tests, benchmarks)
        self.walked = 0  # endpoints walked in all (tests, benchmarks)

    def order(self, endpoints: list[EndpointRecord], domain: str, remember: bool) -> list[Item]:
        """``dns_walk.ordered``, extending the last answer when ``endpoints`` extends the last list with Approved
        endpoints no older than any before (a new endpoint), taking from it the endpoints that are gone when
        nothing else changed (an endpoint deleted), or moving one whose record changed in place (its connection
        approved or rejected). What it changed is kept for :meth:`walk` (``_change``), which then need not compare
        the two lists again."""
        with self._lock:
            last = self._input
            items: list[Item] | None = None
            change: Change | None = None
            if last is not None and last[0] == domain and extends(last[1], endpoints):
                tail = [item(e, domain) for e in endpoints[len(last[1]):]]
                tail = sorted((ep for ep in tail if ep[1][0]), key=lambda ep: ep[1][2])
                if all(p[1] and p[2] >= last[3] for _e, p in tail):
                    items, newest = last[2] + tail, max([last[3], *(p[2] for _e, p in tail)])
                    change = (len(last[2]), [], None)
            elif last is not None and last[0] == domain and (diff := changed(last[1], endpoints)) is not None:
                gone, came = diff
                if not came:  # records only removed: the last order less them
                    (items, change), newest = _without(last[2], gone), last[3]
                elif len(came) == 1 and (moved := _moved(last[2], gone[0], endpoints, came[0], domain)) is not None:
                    items, change = moved
                    prep = item(came[0], domain)[1]
                    newest = max(last[3], prep[2]) if prep[1] else last[3]
            if items is None:
                items = walk_order(endpoints, domain)
                newest = max((p[2] for _e, p in items if p[1]), default=float("-inf"))
            if remember:
                self._input = (domain, list(endpoints), items, newest)
                self._change = (last[2], items, change) if last is not None and change is not None else None
            return items

    def walk(self, key: tuple[Any, ...], items: list[Item], fresh: _Walk, remember: bool) -> _Walk:
        with self._lock:
            state, start, points = fresh, 0, []
            if self._state is not None and self._key == key:
                told = self._change  # what ``order`` changed, when it made ``items`` from the list last walked
                change = told[2] if told is not None and told[0] is self._walked and told[1] is items else None
                shared = change[0] if change is not None else shared_prefix(self._walked, items)
                if shared == len(self._walked):  # an extension: from the end
                    state, start, points = self._state.copy(), shared, list(self._points)
                elif remember and self._patch(items, shared, fresh, change):
                    return self._state.copy()
                else:  # from the last state kept before the first difference
                    points = [p for p in self._points if p[0] <= shared]
                    if points:
                        start, state = points[-1][0], points[-1][1].copy()
            self.resumed += bool(start)
            self.restarted += not start
            self.walked += len(items) - start
            if not remember:
                state.walk(items[start:])
                return state
            step = _step(len(items))
            points = [p for p in points if p[0] % step == 0]
            at = start
            while at < len(items):
                upto = min(len(items), (at // step + 1) * step)
                state.walk(items[at:upto])
                at = upto
                if at % step == 0 and at < len(items):
                    points.append((at, state.copy()))
            if start and start == len(self._walked) and self._claims is not None:
                self._claims.add(items[start:])  # an extension: the new endpoints' claims
            else:
                self._claims = None  # made again at the next deletion
            self._key, self._walked, self._state, self._points = key, items, state.copy(), points  # (never changed)
            return state

    def _patch(self, items: list[Item], shared: int, fresh: _Walk, change: Change | None) -> bool:
        """When ``items`` is the last walk's less some endpoints (deleted), or with one endpoint's record replaced
        (its connection approved or rejected: it may move in the order), take them out of its state and put the
        new record in (``dns_walk.drop``, ``dns_walk.insert``): True if done. The states kept past the first
        endpoint that differs no longer hold. ``change``: what ``order`` changed, else the two lists say."""
        state = self._state
        if state is None or state.clashed:
            return False
        if change is not None:
            gone, added = change[1], change[2]
        else:
            gone_or_none, added = removed(self._walked, items), None
            if gone_or_none is None:
                gone_or_none, added = _replaced(self._walked, items)
                if gone_or_none is None or added is None:
                    return False
            gone = gone_or_none
        if self._claims is None:
            self._claims = Claims(self._walked)
        stored = fresh.linked
        rank = dict(zip(map(id, items), count())) if added is not None else {}  # (C speed)
        if not droppable(state, self._claims, gone, stored) or (added is not None and not insert(
                state, self._claims, added, rank, stored, dry=True, without=frozenset(map(id, gone)))):
            return False
        try:
            drop(state, self._claims, gone, stored)
            if added is not None and not insert(state, self._claims, added, rank, stored):
                raise AssertionError(f"endpoint {added[0]['id']} could go into the walk's state and did not")
        except BaseException:
            self._state = self._claims = None  # half changed: the next call walks from nothing
            raise
        self._walked = items
        self._points = [p for p in self._points if p[0] <= shared]  # (the new record's place is not before it)
        self.resumed += 1
        self.dropped += 1
        return True


def _replaced(last: list[Item], items: list[Item]) -> tuple[list[Item] | None, Item | None]:
    """([the old item], the new one) when ``items`` is ``last`` with one endpoint's record replaced (the same id),
    moved or not, the others in the same order; else (None, None). C-speed passes: the two lists differ only
    between their common beginning and their common end, where one holds the old item at one side and the
    other the new item at the other side."""
    if len(items) != len(last) or not items:
        return None, None
    head = shared_prefix(last, items)
    if head == len(items):
        return None, None
    tail = shared_prefix(reversed(last), reversed(items))
    was, now = last[head:len(last) - tail], items[head:len(items) - tail]
    if len(was) == 1:
        old, new = was[0], now[0]
    elif extends(was[1:], now[:-1]):  # it moved towards the end
        old, new = was[0], now[-1]
    elif extends(was[:-1], now[1:]):  # towards the beginning
        old, new = was[-1], now[0]
    else:
        return None, None
    return ([old], new) if old[0]["id"] == new[0]["id"] else (None, None)


def _moved(items: list[Item], old: EndpointRecord, endpoints: list[EndpointRecord], rec: EndpointRecord,
           domain: str) -> tuple[list[Item], Change | None] | None:
    """``items`` (the order of the endpoints before ``rec`` replaced ``old`` in ``endpoints``) with the new record at
    its place: among the Approved ones by its creation, else among those that carry no traffic in the scan's order;
    and what changed, unless the old record was not in the order and the new one is. None where only a sort says
    (another Approved endpoint created at the same time)."""
    out, change = _without(items, [old])
    new = item(rec, domain)
    if not new[1][0]:
        return out, change  # no DNS integration: not walked
    carrying = bisect.bisect_left(out, True, key=lambda x: x[1][1])  # the first Approved one
    if new[1][1]:
        where = bisect.bisect_right(out, new[1][2], lo=carrying, key=lambda x: x[1][2])
        if where > carrying and out[where - 1][1][2] == new[1][2]:
            return None
    else:  # those that carry no traffic keep the scan's order: where it goes among them (one C-speed pass)
        scanned = dict(zip(map(id, endpoints), count()))
        where = bisect.bisect_left(out, scanned[id(rec)], hi=carrying, key=lambda x: scanned[id(x[0])])
    out.insert(where, new)
    return out, (min(change[0], where), change[1], new) if change[1] else None


def _without(items: list[Item], gone: list[EndpointRecord]) -> tuple[list[Item], Change]:
    """``items`` less those of the records ``gone`` (found by identity, at C speed), and what changed."""
    out = list(items)
    heads = list(map(itemgetter(0), out))
    first = len(items)
    taken: list[Item] = []
    for rec in gone:
        try:
            at = position(heads, rec)
        except ValueError:
            continue  # not in the order (no DNS integration)
        first = min(first, at)  # (its place in ``items`` is no earlier than in ``out``: ``first`` is not past it)
        taken.append(out[at])
        del out[at], heads[at]
    return out, (first, taken, None)


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
    items = walk_order(endpoints, domain) if memo is None else memo.order(endpoints, domain, remember)
    fresh = _Walk(zones, peers, vnets)
    if memo is None:
        fresh.walk(items)
        return fresh.records, fresh.links
    # a walk resumes only from the same zone instances and links, peerings and vnet names
    key = (domain, tuple(sorted(fresh.linked.items())), tuple(sorted(fresh.auto)),
           tuple(sorted((k, tuple(v)) for k, v in fresh.instances.items())),
           tuple(sorted((vid, tuple(sorted(p))) for vid, p in peers.items())),
           tuple(sorted((vid, str(v.get("name"))) for vid, v in vnets.items())))
    state = memo.walk(key, items, fresh, remember)
    return state.records, state.links
