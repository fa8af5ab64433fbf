"""Lists of the very records: how a new scan relates to the last one (the views' incremental rebuilds).

``MetadataStore.scan`` keeps an unchanged record's identity and its place (oldest first; a created record goes
last, a deleted one leaves the others in order, an updated one keeps its place), so a rebuild can tell "only
created", "only deleted" or "changed in place" from the objects alone, at C speed, without comparing records.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from itertools import chain, islice, repeat
from typing import Any

_END = (False,)  # what ``shared_prefix`` meets past the end of the shorter list
MAX_GONE = 16  # past this many removed items the set-based answer is cheaper than one pass per item


def extends(last: Sequence[Any], new: Sequence[Any]) -> bool:
    """Does ``new`` begin with every item of ``last``, the very objects? One C-speed pass."""
    return len(new) >= len(last) and all(map(operator.is_, last, new))


def shared_prefix(a: Iterable[Any], b: Iterable[Any]) -> int:
    """How many first items ``a`` and ``b`` share (the very objects). One C-speed pass that stops at the first
    difference (the end of the shorter one stands for one)."""
    return operator.indexOf(chain(map(operator.is_, a, b), _END), False)


def position(items: Iterable[Any], item: Any) -> int:
    """Where ``item`` (the very object) is in ``items``; ValueError if it is not (``list.index`` compares with ``==``,
    which for records that differ may compare every field). One C-speed pass that stops where it is."""
    return operator.indexOf(map(operator.is_, items, repeat(item)), True)


def removed(last: Sequence[Any], now: Sequence[Any]) -> list[Any] | None:
    """The items of ``last`` gone from ``now`` when ``now`` is ``last`` without them, in the same order (the very
    objects), else None. One C-speed pass per item gone (up to MAX_GONE of them)."""
    count = len(last) - len(now)
    if count <= 0:
        return None
    if count > MAX_GONE:
        alive = set(map(id, now))
        if len(alive) != len(now) or not alive <= set(map(id, last)):
            return None
        return [x for x in last if id(x) not in alive]
    gone: list[Any] = []
    i = j = 0  # where the two are compared next, in ``last`` and in ``now``
    while j < len(now):
        k = shared_prefix(islice(last, i, None), islice(now, j, None))
        i, j = i + k, j + k
        if j == len(now):
            break
        gone.append(last[i])  # ``last[i]`` is not ``now[j]``: gone, unless ``now`` is not ``last`` less some
        i += 1
        if len(gone) > count:
            return None
    gone.extend(islice(last, i, None))
    return gone if len(gone) == count else None


def replaced(last: Sequence[Any], now: Sequence[Any]) -> list[int] | None:
    """Where ``now`` holds other objects than ``last`` (records changed in place: ``MetadataStore.scan`` keeps an
    updated record's place), when the two are as long and differ in at most MAX_GONE places; else None."""
    if len(now) != len(last):
        return None
    same = list(map(operator.is_, last, now))
    out: list[int] = []
    at = 0
    while len(out) <= MAX_GONE:
        try:
            at = same.index(False, at)
        except ValueError:
            return out
        out.append(at)
        at += 1
    return None


def changed(last: Sequence[Any], now: Sequence[Any]) -> tuple[list[Any], list[Any]] | None:
    """(the items of ``last`` gone, the items of ``now`` that came in their places) when ``now`` is ``last`` with
    some items only removed (then none came) or only replaced in place (at most MAX_GONE), else None: the two
    changes a rebuild takes out of its last result (and puts the new items in) instead of starting again."""
    if (gone := removed(last, now)) is not None:
        return gone, []
    at = replaced(last, now)
    return ([last[i] for i in at], [now[i] for i in at]) if at else None
