"""Lists of the very records: how a new scan relates to the last one (the views' incremental rebuilds).

``MetadataStore.scan`` keeps an unchanged record's identity and its place (oldest first; a created record goes
last, a deleted one leaves the others in order), so a rebuild can tell "only created" or "only deleted" from
the objects alone, at C speed, without comparing records.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from itertools import islice, repeat
from typing import Any

MAX_GONE = 16  # past this many removed items the set-based answer is cheaper than one pass per item


def extends(last: Sequence[Any], new: Sequence[Any]) -> bool:
    """Does ``new`` begin with every item of ``last``, the very objects? One C-speed pass."""
    return len(new) >= len(last) and all(map(operator.is_, last, new))


def position(items: Sequence[Any], item: Any) -> int:
    """Where ``item`` (the very object) is in ``items``; ValueError if it is not (``list.index`` compares with ``==``,
    which for records that differ may compare every field)."""
    return list(map(operator.is_, items, repeat(item))).index(True)


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
        same = list(map(operator.is_, islice(last, i, None), islice(now, j, None)))
        try:
            k = same.index(False)
        except ValueError:
            k = len(same)
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
