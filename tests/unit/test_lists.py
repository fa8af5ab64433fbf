"""``domain.lists``: how a new scan relates to the last one, by identity (the views' incremental rebuilds)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultlink.domain.lists import MAX_GONE, extends, position, removed


def records(n: int) -> list[dict[str, int]]:
    return [{"n": i % 3} for i in range(n)]  # equal records that are not the same objects


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 60), st.data())
def test_removed_names_exactly_the_records_taken_out_in_order(n: int, data: st.DataObject) -> None:
    last = records(n)
    keep = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    now = [r for r, k in zip(last, keep, strict=True) if k]
    gone = removed(last, now)
    if len(now) == len(last):
        assert gone is None  # nothing taken out is not a removal
    else:
        assert gone is not None and [id(r) for r in gone] == [id(r) for r, k in zip(last, keep, strict=True) if not k]


@settings(max_examples=200, deadline=None)
@given(st.integers(5, 40), st.integers(1, 3), st.data())
def test_removed_refuses_anything_but_a_removal(n: int, drop: int, data: st.DataObject) -> None:
    last = records(n)
    now = list(last[drop:])
    at = data.draw(st.integers(0, len(now) - 1))
    how = data.draw(st.sampled_from(["replace", "swap", "foreign"]))
    if how == "replace":
        now[at] = dict(now[at])  # an equal record, another object: changed, not removed
    elif how == "swap" and len(now) > 1:
        j = (at + 1) % len(now)
        now[at], now[j] = now[j], now[at]
    else:
        now.insert(at, {"n": 0})
        now.pop()
    if how == "swap" and len(now) <= 1:
        return
    assert removed(last, now) is None


def test_removed_many_and_extends_and_position() -> None:
    last = records(100)
    now = last[::2]
    assert len(last) - len(now) > MAX_GONE  # the set-based answer
    assert removed(last, now) == last[1::2]
    assert extends(last[:10], last) and not extends(last, last[:10]) and not extends(records(10), last)
    assert position(last, last[57]) == 57
    with pytest.raises(ValueError):
        position(last, dict(last[57]))  # equal is not the same


def test_replaced_names_the_places_changed_in_place() -> None:
    from vaultlink.domain.lists import replaced

    last = records(40)
    now = list(last)
    assert replaced(last, now) == []
    now[3], now[30] = dict(now[3]), dict(now[30])  # updated records: new objects at their places
    assert replaced(last, now) == [3, 30]
    assert replaced(last, now[:-1]) is None  # not as long: not a change in place
    assert replaced(last, [dict(r) for r in last]) is None  # more than MAX_GONE places: the full rebuild is cheaper


def test_changed_is_a_removal_or_a_change_in_place_and_shared_prefix_counts_the_same_objects() -> None:
    from vaultlink.domain.lists import changed, shared_prefix

    last = records(10)
    assert changed(last, last[:3] + last[4:]) == ([last[3]], [])
    now = list(last)
    now[5] = dict(now[5])
    assert changed(last, now) == ([last[5]], [now[5]])
    assert changed(last, list(last)) is None and changed(last, last + records(1)) is None
    assert (shared_prefix(last, now), shared_prefix(last, last[:4]), shared_prefix(last, list(last))) == (5, 4, 10)
