"""What a control-plane change costs the DNS side grows with the change, not with the deployment (issue #13):
the public zone takes added names without a rebuild, and the UDP worker is sent what changed. Each gives exactly
what building from nothing gives, whatever the sequence of changes."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultlink.dns.model import DnsView, PrivateZone, PublicRecord, VnetLink, make_record_set
from vaultlink.dns.resolve import CompiledView
from vaultlink.runtime.dns_worker import StaleBase, ZoneDelta, apply, update_for

DOMAIN = "vaultlink.internal"
# public names and targets drawn from a small pool so that additions, moves, removals and names that are
# another name's target all happen
LABELS = ("a", "b", "c", "d", "e", "f")
NAMES = [f"{x}.backup.{DOMAIN}" for x in LABELS] + [f"{x}.privatelink.backup.{DOMAIN}" for x in LABELS[:3]]
TARGETS = [f"{x}.privatelink.backup.{DOMAIN}" for x in LABELS] + [f"{x}.elsewhere.example" for x in LABELS[:2]]


def view(names: dict[str, str], generation: int, address: str = "127.0.0.1",
         zones: tuple[PrivateZone, ...] = ()) -> DnsView:
    precs = [PublicRecord(f"regional.l1.backup.{DOMAIN}", "A", 300, (address,))]
    return DnsView.create(public_address=address, public_names=names, public_records=precs, zones=zones,
                          domain=DOMAIN, generation=generation)


def same_zone(a: CompiledView, b: CompiledView) -> None:
    assert a.public.rrsets == b.public.rrsets
    assert a.public.existing == b.public.existing


change = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(NAMES), st.sampled_from(TARGETS)),
    st.tuples(st.just("remove"), st.sampled_from(NAMES)),
    st.tuples(st.just("address"), st.sampled_from(("127.0.0.1", "127.0.0.2"))),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(change, min_size=1, max_size=30))
def test_the_public_zone_after_any_changes_is_the_one_built_from_nothing(changes: list[tuple[str, ...]]) -> None:
    names: dict[str, str] = {}
    address = "127.0.0.1"
    compiled = CompiledView(view(names, 1))
    for gen, (kind, *args) in enumerate(changes, start=2):
        names = dict(names)
        if kind == "add":
            names[args[0]] = args[1]
        elif kind == "remove":
            names.pop(args[0], None)
        else:
            address = args[0]
        before = compiled.public
        kept = {owner: sets for owner, sets in before.rrsets.items()}
        compiled = CompiledView(view(names, gen, address), compiled)
        same_zone(compiled, CompiledView(view(names, gen, address)))
        assert before.rrsets == kept  # the old index was copied, never changed (the worker may still answer from it)


def test_adding_a_name_reuses_the_zone_and_only_adds() -> None:
    one = CompiledView(view({f"a.backup.{DOMAIN}": f"a.privatelink.backup.{DOMAIN}"}, 1))
    same = CompiledView(view({f"a.backup.{DOMAIN}": f"a.privatelink.backup.{DOMAIN}"}, 2), one)
    assert same.public is one.public  # nothing public changed: the very same index
    two = CompiledView(view({f"a.backup.{DOMAIN}": f"a.privatelink.backup.{DOMAIN}",
                             f"b.backup.{DOMAIN}": f"b.privatelink.backup.{DOMAIN}"}, 3), same)
    assert two.public is not one.public
    assert f"b.backup.{DOMAIN}" in two.public.rrsets and f"b.backup.{DOMAIN}" not in one.public.rrsets
    assert two.resolve(f"b.backup.{DOMAIN}", 1, None).answer[-1].rdata.toZone() == "127.0.0.1"


def zone(name: str, *hosts: str) -> PrivateZone:
    recs = [make_record_set(name, h, "A", ["127.10.0.4"]) for h in hosts]
    return PrivateZone.create(name, recs, [VnetLink("vnet-a")], domain=DOMAIN)


def test_the_worker_is_sent_what_changed_and_rebuilds_the_same_view() -> None:
    z1 = zone(f"privatelink.l1.backup.{DOMAIN}", "v1")
    z2 = zone(f"privatelink.blob.core.{DOMAIN}", *(f"sa{i}" for i in range(50)))  # unchanged, and large
    names = {f"{x}.backup.{DOMAIN}": f"{x}.privatelink.backup.{DOMAIN}" for x in LABELS[:4]}
    served = view(names, 1, zones=(z1, z2))
    worker_copy = apply(pickle.loads(pickle.dumps(update_for(served, None))), served)  # the first: whole
    assert worker_copy == served
    z1b = zone(f"privatelink.l1.backup.{DOMAIN}", "v1", "v2")
    names2 = {k: v for k, v in names.items() if not k.startswith("a.")} | {f"f.backup.{DOMAIN}": "f.example"}
    changed = view(names2, 2, zones=(z1b, z2))
    update = update_for(changed, served)
    assert update.zones[1] == 1 and update.zones[0] == z1b  # an unchanged zone goes as its position
    assert update.added == {f"f.backup.{DOMAIN}": "f.example"} and update.removed == (f"a.backup.{DOMAIN}",)
    assert len(pickle.dumps(update)) < len(pickle.dumps(changed)) / 2
    got = apply(pickle.loads(pickle.dumps(update)), worker_copy)
    assert got == changed
    assert got.zones[1] is worker_copy.zones[1]  # the worker's own object: its index is reused, not rebuilt
    with pytest.raises(StaleBase):  # made for another view than the worker serves
        apply(update, changed)


def test_a_zone_changed_at_one_name_goes_to_the_worker_as_that_name() -> None:
    big = zone(f"privatelink.l1.backup.{DOMAIN}", *(f"v{i}" for i in range(200)))
    served = view({}, 1, zones=(big,))
    worker_copy = apply(pickle.loads(pickle.dumps(update_for(served, None))), served)
    worker = CompiledView(worker_copy)
    new_set = make_record_set(big.name, "v-new", "A", ["127.10.0.9"])
    grown = PrivateZone.create(big.name, (*big.records, new_set), big.links, domain=DOMAIN)  # the same objects
    changed = view({}, 2, zones=(grown,))
    update = update_for(changed, served)
    delta = update.zones[0]
    assert isinstance(delta, ZoneDelta) and delta.base == 0
    assert delta.records[:200] == tuple(range(200)) and delta.records[200] == new_set
    assert len(pickle.dumps(update)) < len(pickle.dumps(update_for(changed, None))) / 4
    got = apply(pickle.loads(pickle.dumps(update)), worker_copy)
    assert got == changed
    assert got.zones[0].records[0] is worker_copy.zones[0].records[0]  # the worker's own record sets
    after = CompiledView(got, worker)
    (_z, old_idx), = worker.zone_indexes.values()
    (_z, new_idx), = after.zone_indexes.values()
    assert new_idx.rrsets[f"v0.{big.name}"] is old_idx.rrsets[f"v0.{big.name}"]  # indexed once, shared
    assert after.resolve(f"v-new.{big.name}", 1, "vnet-a").answer[-1].rdata.toZone() == "127.10.0.9"
    unrelated = zone(big.name, "other")  # nothing in common with what the worker holds: sent whole
    assert update_for(view({}, 3, zones=(unrelated,)), served).zones[0] == unrelated


def test_a_view_checks_only_the_public_names_added_to_the_last_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service hands a view the very names of the last one when no vault changed, and those plus the new vault's
    when one was created: only new names are checked, and the names are what checking all of them gives."""
    from vaultlink.dns import model
    from vaultlink.errors import VaultlinkError

    checked: list[str] = []
    real = model._public_pair

    def counting(public: str, target: str, domain: str) -> tuple[str, str]:
        checked.append(public)
        return real(public, target, domain)

    monkeypatch.setattr(model, "_public_pair", counting)
    base = {f"{x}.backup.{DOMAIN}": f"{x}.privatelink.backup.{DOMAIN}" for x in LABELS[:4]}
    one = view(base, 1)
    assert len(checked) == 4
    two = view(base, 2)  # the same mapping: nothing checked again
    assert len(checked) == 4 and two.public_names is one.public_names
    grown = {**base, f"E.backup.{DOMAIN}": f"e.privatelink.backup.{DOMAIN}"}  # a vault's names added
    three = view(grown, 3)
    assert checked[4:] == [f"E.backup.{DOMAIN}"] and three.public_names == {
        **one.public_names, f"e.backup.{DOMAIN}": f"e.privatelink.backup.{DOMAIN}"}
    assert len(one.public_names) == 4  # the earlier view's names are never changed
    with pytest.raises(VaultlinkError):  # an added name is checked as any other
        view({**grown, "outside.example": f"f.privatelink.backup.{DOMAIN}"}, 4)
    moved = {**base, f"a.backup.{DOMAIN}": f"b.privatelink.backup.{DOMAIN}"}  # not an addition: all checked
    before = len(checked)
    assert view(moved, 5).public_names[f"a.backup.{DOMAIN}"] == f"b.privatelink.backup.{DOMAIN}"
    assert len(checked) - before == 4
    mutable = dict(base)  # a caller that changes its mapping in place gets what it holds now
    view(mutable, 6)
    mutable[f"a.backup.{DOMAIN}"] = f"c.privatelink.backup.{DOMAIN}"
    assert view(mutable, 7).public_names[f"a.backup.{DOMAIN}"] == f"c.privatelink.backup.{DOMAIN}"
