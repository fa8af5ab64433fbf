"""A zone changed by one name (every endpoint create rewrites its privatelink zone) is indexed again only at the
names that changed (``ZoneIndex.patched``); whatever the sequence of changes, the index must be the one a build
from nothing gives, and the index it was made from must stay as it was (a query may be reading it)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vaultlink.dns.model import DnsView, PrivateZone, VnetLink, default_soa
from vaultlink.dns.resolve import CompiledView, ZoneIndex
from vaultlink.service.dns_zones import to_record_sets

DOMAIN = "vaultlink.internal"
ZONE = f"privatelink.blob.{DOMAIN}"
OWNERS = [ZONE, f"a.{ZONE}", f"b.{ZONE}", f"c.deep.{ZONE}", f"d.deep.{ZONE}", f"e.x.y.{ZONE}"]
VALUES = {"A": ["127.0.0.1", "127.0.0.2"], "TXT": ["one", "two"]}

change = st.tuples(st.sampled_from(("set", "remove")), st.sampled_from(OWNERS), st.sampled_from(sorted(VALUES)),
                   st.sampled_from((0, 1)))


def _view(records: dict[tuple[str, str], str], serial: int) -> DnsView:
    stored: Any = {"name": ZONE, "records": [{"name": n, "type": t, "ttl": 10, "values": [v]}
                                             for (n, t), v in sorted(records.items())]}
    zone = PrivateZone.create(ZONE, to_record_sets(stored), [VnetLink("vnet-1")], soa=default_soa(DOMAIN, serial),
                              domain=DOMAIN)
    return DnsView.create(public_address="127.0.0.1", zones=[zone], domain=DOMAIN, generation=serial)


def _index(cv: CompiledView) -> ZoneIndex:
    (_zone, idx), = cv.zone_indexes.values()
    return idx


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(change, min_size=1, max_size=3), min_size=1, max_size=8))
def test_a_patched_index_is_the_index_built_from_nothing(steps: list[list[tuple[str, str, str, int]]]) -> None:
    records: dict[tuple[str, str], str] = {(f"a.{ZONE}", "A"): "127.0.0.1", (f"c.deep.{ZONE}", "A"): "127.0.0.2"}
    cv = CompiledView(_view(records, 1))
    for serial, step in enumerate(steps, start=2):
        for op, owner, rtype, which in step:
            if op == "set":
                records[(owner, rtype)] = VALUES[rtype][which]
            else:
                records.pop((owner, rtype), None)
        before = _index(cv)
        kept = (copy.deepcopy(before.rrsets), set(before.existing))
        cv = CompiledView(_view(records, serial), cv)
        fresh = ZoneIndex.from_zone(cv.view.zones[0])
        assert _index(cv).rrsets == fresh.rrsets
        assert _index(cv).existing == fresh.existing
        assert _index(cv).soa == fresh.soa
        assert (before.rrsets, before.existing) == kept  # the previous view's index is untouched


def test_one_new_name_shares_the_index_of_every_other_name() -> None:
    records = {(f"{x}.{ZONE}", "A"): "127.0.0.1" for x in "abcdefgh"}
    cv = CompiledView(_view(records, 1))
    records[(f"new.{ZONE}", "A")] = "127.0.0.9"
    after = CompiledView(_view(records, 2), cv)
    old, new = _index(cv), _index(after)
    assert new.rrsets[f"a.{ZONE}"] is old.rrsets[f"a.{ZONE}"]  # not indexed again
    assert f"new.{ZONE}" in new.rrsets and f"new.{ZONE}" not in old.rrsets
    assert new.rrsets[ZONE][6] != old.rrsets[ZONE][6]  # the apex's SOA carries the new serial
