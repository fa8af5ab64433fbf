"""A zone's record sets are checked at C speed first (``model._plainly_valid``) and walked one by one only to name
the problem: the two must agree on every zone, or a zone the walk refuses would be served (or the reverse)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultlink.dns import model
from vaultlink.errors import CnameConflict, InvalidRecord, RecordOutsideZone
from vaultlink.service.dns_zones import to_record_sets

ZONE = "privatelink.blob.vaultlink.internal"
NAMES = [ZONE, f"a.{ZONE}", f"b.{ZONE}", f"c.d.{ZONE}", "a.blob.vaultlink.internal", f"x{ZONE}"]
record_sets = st.lists(st.builds(model.RecordSet, st.sampled_from(NAMES), st.sampled_from(model.RECORD_TYPES),
                                 st.just(10), st.just(("127.0.0.1",))), max_size=8)


@settings(max_examples=400, deadline=None)
@given(record_sets)
def test_the_quick_check_agrees_with_the_walk(recs: list[model.RecordSet]) -> None:
    try:
        model._check_record_sets(ZONE, tuple(recs))
        walk_ok = True
    except (RecordOutsideZone, InvalidRecord, CnameConflict):
        walk_ok = False
    assert model._plainly_valid(ZONE, tuple(recs)) is walk_ok


@pytest.mark.parametrize(("recs", "error"), [
    ([(f"a.{ZONE}", "A"), (f"a.{ZONE}", "CNAME")], CnameConflict),
    ([(f"a.{ZONE}", "CNAME"), (f"a.{ZONE}", "TXT")], CnameConflict),
    ([(f"a.{ZONE}", "A"), (f"a.{ZONE}", "A")], InvalidRecord),
    ([(f"x{ZONE}", "A")], RecordOutsideZone),  # a name that only ends like the zone is outside it
])
def test_a_zone_that_breaks_a_rule_is_refused_with_its_reason(recs: list[tuple[str, str]], error: type) -> None:
    sets = [model.RecordSet(n, t, 10, ("127.0.0.1",)) for n, t in recs]  # type: ignore[arg-type]
    with pytest.raises(error):
        model.PrivateZone.create(ZONE, sets)


def _zone(*records: dict[str, Any]) -> Any:
    return {"name": ZONE, "records": list(records)}


def test_record_sets_of_a_stored_zone_are_shared_and_equal_to_new_ones() -> None:
    rec = {"name": f"a.{ZONE}", "type": "A", "ttl": 10, "values": ["127.0.0.5"]}
    first, again = to_record_sets(_zone(rec)), to_record_sets(_zone(dict(rec)))
    assert first == [model.RecordSet(f"a.{ZONE}", "A", 10, ("127.0.0.5",))]
    assert again[0] is first[0]  # the same content gives the very same (immutable) object
    assert to_record_sets(_zone({**rec, "values": ["127.0.0.6"]}))[0].values == ("127.0.0.6",)
