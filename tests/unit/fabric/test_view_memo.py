"""A change rebuilds only what it touched (issue #13: control-plane changes must not cost O(N)): the views
are built from ``Store.scan`` (decoded records kept current by commits) and reuse what an unchanged record
gave last time, and the result is the same as a rebuild from nothing."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from vaultlink.adapters.sqlstore import SqlStore
from vaultlink.bootstrap import build_service
from vaultlink.config import Config
from vaultlink.dns.resolve import CompiledView
from vaultlink.fabric.build import Memo, build_view
from vaultlink.service import dns, endpoints, networks, vaults
from vaultlink.service.core import Caller, Service
from vaultlink.service.dns_view import DnsMemo, build_dns_view
from vaultlink.service.identity import authenticate, bootstrap


@pytest.fixture
def env(tmp_path: Path) -> tuple[Service, Caller]:
    store = SqlStore(f"sqlite:///{tmp_path / 'meta.db'}")
    store.migrate()
    svc = build_service(Config(data_dir=tmp_path), store=store)
    boot = bootstrap(svc)
    assert boot is not None
    return svc, authenticate(svc, boot[1])


def _endpoint(svc: Service, owner: Caller, name: str, vault: str = "v1", vnet: str = "net1") -> dict[str, Any]:
    return endpoints.create_endpoint(svc, owner, {"name": name, "region": "local-1", "vault": vault,
                                                  "group_id": "AzureBackup", "vnet": vnet, "subnet": "s"})


def test_a_change_rebuilds_what_it_touched_and_matches_a_full_rebuild(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    vaults.create_vault(svc, owner, "v1", "local-1")
    vaults.create_vault(svc, owner, "v2", "local-1")
    networks.create_vnet(svc, owner, "net1", "local-1", ["127.10.0.0/16"], [{"name": "s", "cidr": "127.10.1.0/24"}])
    networks.create_vnet(svc, owner, "net2", "local-1", ["127.11.0.0/16"], [{"name": "s", "cidr": "127.11.1.0/24"}])
    a, b = _endpoint(svc, owner, "a"), _endpoint(svc, owner, "b", vault="v2")
    memo = Memo()
    first = build_view(svc, 1, memo)

    c = _endpoint(svc, owner, "c", vnet="net2")
    second = build_view(svc, 2, memo)
    # the endpoints and vaults that did not change are the very objects of the last view
    assert second.endpoints[a["id"]] is first.endpoints[a["id"]]
    assert second.endpoints[b["id"]] is first.endpoints[b["id"]]
    assert second.vaults == first.vaults and all(second.vaults[k] is first.vaults[k] for k in first.vaults)
    assert c["id"] in second.endpoints and second.endpoint_at(c["ips"][0]) is second.endpoints[c["id"]]
    assert c["id"] not in first.endpoints and first.endpoint_at(c["ips"][0]) is None  # the last view is untouched
    again = build_view(svc, 2)  # from nothing: the same view
    assert (again.endpoints, again.by_ip, again.names) == (second.endpoints, second.by_ip, second.names)

    # a peering changes what VirtualNetwork means for both vnets' endpoints: their rules are recompiled
    networks.peer(svc, owner, "net1", "net2")
    third = build_view(svc, 3, memo)
    assert third.endpoints[a["id"]].sg_rules != first.endpoints[a["id"]].sg_rules
    assert third.endpoints[c["id"]].sg_rules != second.endpoints[c["id"]].sg_rules

    endpoints.delete_endpoint(svc, owner, b["id"])
    fourth = build_view(svc, 4, memo)
    assert b["id"] not in fourth.endpoints and fourth.endpoint_at(b["ips"][0]) is None
    fresh = build_view(svc, 4)  # from nothing: the same view
    assert fresh.endpoints == fourth.endpoints and fresh.vaults == fourth.vaults and fresh.names == fourth.names
    assert fresh.by_ip == fourth.by_ip


def test_the_dns_view_reuses_unchanged_zones_and_their_indexes(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    vaults.create_vault(svc, owner, "v1", "local-1")
    vaults.create_vault(svc, owner, "v2", "local-1")
    networks.create_vnet(svc, owner, "net1", "local-1", ["127.10.0.0/16"], [{"name": "s", "cidr": "127.10.1.0/24"}])
    _endpoint(svc, owner, "a")
    dns.create_zone(svc, owner, "corp.example")  # a zone of the user's that nothing below touches
    dns.set_record(svc, owner, "corp.example", "www", "A", ["127.10.1.80"])
    dns.add_link(svc, owner, "corp.example", "net1")
    memo = DnsMemo()
    one = build_dns_view(svc, 1, memo)
    compiled_one = CompiledView(one)
    vaults.create_vault(svc, owner, "v3", "local-1")  # no zone changes
    two = build_dns_view(svc, 2, memo)
    assert [id(z) for z in two.zones] == [id(z) for z in one.zones]
    compiled_two = CompiledView(two, compiled_one)
    assert all(compiled_two.zone_indexes[k][1] is compiled_one.zone_indexes[k][1] for k in compiled_one.zone_indexes)

    _endpoint(svc, owner, "b", vault="v2")  # the backup zone gets v2's records: that zone alone is re-indexed
    three = build_dns_view(svc, 3, memo)
    compiled_three = CompiledView(three, compiled_two)
    changed = [k for k in compiled_three.zone_indexes
               if k not in compiled_two.zone_indexes
               or compiled_three.zone_indexes[k][1] is not compiled_two.zone_indexes[k][1]]
    assert changed and len(changed) < len(compiled_three.zone_indexes)
    # the public side: a new vault's names made a new public zone; an endpoint changes no public name
    assert compiled_two.public is not compiled_one.public and compiled_three.public is compiled_two.public
    # the answers are those of a view compiled from nothing
    fresh = CompiledView(build_dns_view(svc, 3))
    vnet = next(iter(compiled_three.visible))
    for z in three.zones:
        for rs in z.records:
            got, want = compiled_three.resolve(rs.name, 1, vnet), fresh.resolve(rs.name, 1, vnet)
            assert [str(r) for r in got.answer] == [str(r) for r in want.answer]


def test_automatic_records_never_overwrite_a_zone_from_a_stale_scan(
    env: tuple[Service, Caller], tmp_path: Path
) -> None:
    """Several servers on one database: another server's write reaches this one's cached scans only with its
    notification. The automatic records check each zone they rewrite against the database and scan again."""
    svc, owner = env
    vaults.create_vault(svc, owner, "v1", "local-1")
    vaults.create_vault(svc, owner, "v2", "local-1")
    networks.create_vnet(svc, owner, "net1", "local-1", ["127.10.0.0/16"], [{"name": "s", "cidr": "127.10.1.0/24"}])
    a = _endpoint(svc, owner, "a")
    zone = next(z for z in svc.store.scan("dns_zone") if "backup" in z["name"])
    other = SqlStore(f"sqlite:///{tmp_path / 'meta.db'}")  # another server: this one is not told
    try:
        with other.transaction() as txn:
            rec = txn.require("dns_zone", zone["id"])
            rec["records"] = [*rec["records"], {"name": f"manual.{rec['name']}", "type": "A", "ttl": 60,
                                                "values": ["127.10.1.99"], "managed_by": None}]
            txn.update("dns_zone", rec["id"], rec)
    finally:
        other.close()
    b = _endpoint(svc, owner, "b", vault="v2")  # its automatic records go into the same zone
    with svc.store.transaction() as txn:
        now = txn.require("dns_zone", zone["id"])
    names = {r["name"] for r in now["records"]}
    assert f"manual.{zone['name']}" in names  # the other server's record survived
    assert {r.get("managed_by") for r in now["records"]} == {None, a["id"], b["id"]}  # and both endpoints' names


def test_no_rebuild_mutates_the_shared_records(env: tuple[Service, Caller]) -> None:
    """``Store.scan`` hands every rebuild the same decoded records: a caller that changed one in place would
    change what every later rebuild sees. Each record still held is exactly what was committed."""
    svc, owner = env
    vaults.create_vault(svc, owner, "v1", "local-1")
    networks.create_vnet(svc, owner, "net1", "local-1", ["127.10.0.0/16"], [{"name": "s", "cidr": "127.10.1.0/24"}])
    networks.create_vnet(svc, owner, "net2", "local-1", ["127.11.0.0/16"], [{"name": "s", "cidr": "127.11.1.0/24"}])
    _endpoint(svc, owner, "a")
    kinds = ("vault", "vnet", "endpoint", "dns_zone")
    held = {k: [(r, copy.deepcopy(dict(r))) for r in svc.store.scan(k)] for k in kinds}
    memo, dmemo = Memo(), DnsMemo()
    build_view(svc, 1, memo)
    compiled = CompiledView(build_dns_view(svc, 1, dmemo))
    vaults.create_vault(svc, owner, "v2", "local-1")
    _endpoint(svc, owner, "b", vault="v2", vnet="net2")  # another instance of the zone, a moved link
    networks.peer(svc, owner, "net1", "net2")
    endpoints.create_endpoint(svc, owner, {"name": "c", "region": "local-1", "vault": "v1", "group_id": "AzureBackup",
                                           "vnet": "net2", "subnet": "s"}, dry_run=True)
    build_view(svc, 2, memo)
    CompiledView(build_dns_view(svc, 2, dmemo), compiled)
    for kind in kinds:
        for rec, was in held[kind]:
            assert dict(rec) == was, f"a {kind} record was changed in place"


def test_a_change_of_no_endpoint_keeps_the_very_address_dicts(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    vaults.create_vault(svc, owner, "v1", "local-1")
    networks.create_vnet(svc, owner, "net1", "local-1", ["127.10.0.0/16"], [{"name": "s", "cidr": "127.10.1.0/24"}])
    _endpoint(svc, owner, "a")
    memo = Memo()
    first = build_view(svc, 1, memo)
    vaults.create_vault(svc, owner, "v2", "local-1")  # no endpoint changed
    second = build_view(svc, 2, memo)
    assert second.by_ip is first.by_ip and second.gateway_ips is first.gateway_ips
    assert "v2" in {v.name for v in second.vaults.values()}
    _endpoint(svc, owner, "b", vault="v2")
    third = build_view(svc, 3, memo)
    assert third.by_ip is not first.by_ip and len(third.by_ip) == len(first.by_ip) + 1
    assert len(first.by_ip) == 1  # the earlier view's dict is never changed


def test_an_endpoint_change_reuses_every_vault_s_view_and_public_names(
    env: tuple[Service, Caller], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An endpoint create (the common change) changes no vault: the views take the vaults' part of the last
    view whole instead of walking every vault (O(vaults) on every create, issue #13)."""
    import vaultlink.fabric.build as fabric_build
    import vaultlink.service.dns_view as dns_view

    svc, owner = env
    vaults.create_vault(svc, owner, "v1", "local-1")
    vaults.create_vault(svc, owner, "v2", "local-1")
    networks.create_vnet(svc, owner, "net1", "local-1", ["127.10.0.0/16"], [{"name": "s", "cidr": "127.10.1.0/24"}])
    _endpoint(svc, owner, "a")
    memo, dmemo = Memo(), DnsMemo()
    first, one = build_view(svc, 1, memo), build_dns_view(svc, 1, dmemo)
    walked: list[str] = []
    real_vault, real_names = fabric_build._vault, dns_view._vault_names
    monkeypatch.setattr(fabric_build, "_vault", lambda s, v: walked.append(v["name"]) or real_vault(s, v))
    monkeypatch.setattr(dns_view, "_vault_names", lambda s, v: walked.append(v["name"]) or real_names(s, v))
    dns_view_names = dmemo.names
    b = _endpoint(svc, owner, "b")  # v1's second endpoint (a vault's first marks the vault)
    second, two = build_view(svc, 2, memo), build_dns_view(svc, 2, dmemo)
    assert walked == [] and second.vaults is first.vaults and dmemo.names is dns_view_names
    assert second.names == first.names and second.names is not first.names
    # the very names, checked once: the responder's worker is sent no name at all
    assert two.public_names is one.public_names
    from vaultlink.runtime.dns_worker import update_for
    assert (update_for(two, one).added, update_for(two, one).removed) == ({}, ())
    assert b["id"] in second.endpoints and b["id"] not in first.endpoints
    vaults.create_vault(svc, owner, "v3", "local-1")  # a vault change: that vault alone is looked at
    third, three = build_view(svc, 3, memo), build_dns_view(svc, 3, dmemo)
    assert walked == ["v3", "v3"]
    assert {v.name for v in third.vaults.values()} == {"v1", "v2", "v3"} and len(first.vaults) == 2
    assert len(three.public_names) > len(two.public_names) and len(one.public_names) == len(two.public_names)
    assert set(update_for(three, two).added) == three.public_names.keys() - two.public_names.keys()
    fresh, fresh_dns = build_view(svc, 3), build_dns_view(svc, 3)  # from nothing: the same views
    assert (fresh.vaults, fresh.names) == (third.vaults, third.names)
    assert (fresh.vaults_by_name, fresh.vaults_by_arn) == (third.vaults_by_name, third.vaults_by_arn)
    assert len(first.vaults_by_name) == len(first.vaults_by_arn) == 2  # the earlier view's dicts never change
    assert fresh_dns.public_names == three.public_names and fresh_dns.public_records == three.public_records
    vaults.delete_vault(svc, owner, "v3")  # not an addition: everything is made anew, and the same again
    fourth, four = build_view(svc, 4, memo), build_dns_view(svc, 4, dmemo)
    fresh, fresh_dns = build_view(svc, 4), build_dns_view(svc, 4)
    assert (fresh.vaults, fresh.names, fresh.vaults_by_arn) == (fourth.vaults, fourth.names, fourth.vaults_by_arn)
    assert fresh_dns.public_names == four.public_names == two.public_names


def test_an_endpoint_deleted_is_taken_out_of_the_last_views(
    env: tuple[Service, Caller], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deletion leaves every other endpoint's record as it was: the views copy the last dicts and take out the
    deleted endpoint's entries (no per-endpoint work for the others), and equal views built from nothing."""
    import vaultlink.fabric.build as fabric_build

    svc, owner = env
    vaults.create_vault(svc, owner, "v1", "local-1")
    networks.create_vnet(svc, owner, "net1", "local-1", ["127.10.0.0/16"], [{"name": "s", "cidr": "127.10.1.0/24"}])
    made = [_endpoint(svc, owner, f"e{i}") for i in range(6)]
    service = endpoints.create_endpoint(svc, owner, {"name": "se1", "region": "local-1", "service": "backup",
                                                     "vnet": "net1", "subnet": "s", "private_dns_enabled": True})
    memo, dmemo = Memo(), DnsMemo()
    first, one = build_view(svc, 1, memo), build_dns_view(svc, 1, dmemo)
    calls: list[str] = []
    real = fabric_build._endpoint
    monkeypatch.setattr(fabric_build, "_endpoint", lambda s, e, sp: calls.append(e["id"]) or real(s, e, sp))
    for gen, gone in enumerate((made[2], service, made[5]), start=2):
        endpoints.delete_endpoint(svc, owner, gone["id"])
        calls.clear()
        kept, service_part = memo.endpoints, dmemo.endpoints
        view, dview = build_view(svc, gen, memo), build_dns_view(svc, gen, dmemo)
        # no other endpoint looked at again: the memo is the same, less the deleted endpoint's entry
        assert calls == [] and memo.endpoints is kept and len(kept) == len(view.endpoints)
        if gone is not service:  # only a service endpoint gives the DNS view zones and records
            assert service_part is not None and dmemo.endpoints is not None
            assert dmemo.endpoints[2] is service_part[2] and dmemo.endpoints[3] is service_part[3]
        fresh, fresh_dns = build_view(svc, gen), build_dns_view(svc, gen)
        assert gone["id"] not in view.endpoints and gone["id"] not in memo.endpoints
        assert all(view.endpoint_at(ip) is None for ip in gone.get("ips") or [])
        assert (view.endpoints, view.names, view.by_ip, view.gateway_ips) == \
            (fresh.endpoints, fresh.names, fresh.by_ip, fresh.gateway_ips)
        assert (dview.zones, dview.public_records) == (fresh_dns.zones, fresh_dns.public_records)
    assert len(first.endpoints) == 7  # the first view is never changed
    assert any(z.service_managed for z in one.zones) and not any(z.service_managed for z in dview.zones)


def test_a_connection_change_remakes_only_that_endpoint_s_view(
    env: tuple[Service, Caller], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection approved or rejected changes one endpoint's record in place: the network view copies the last
    dicts, takes that endpoint's entries out and makes its view again (no other endpoint looked at), and equals a
    view built from nothing."""
    import vaultlink.fabric.build as fabric_build
    from vaultlink.service import connections

    svc, owner = env
    vaults.create_vault(svc, owner, "v1", "local-1")
    networks.create_vnet(svc, owner, "net1", "local-1", ["127.10.0.0/16"], [{"name": "s", "cidr": "127.10.1.0/24"}])
    made = [_endpoint(svc, owner, f"e{i}") for i in range(6)]
    memo, dmemo = Memo(), DnsMemo()
    build_view(svc, 1, memo)
    build_dns_view(svc, 1, dmemo)
    calls: list[str] = []
    real = fabric_build._endpoint
    monkeypatch.setattr(fabric_build, "_endpoint", lambda s, e, sp: calls.append(e["id"]) or real(s, e, sp))
    for gen, ep in enumerate((made[1], made[4]), start=2):
        connections.set_connection(svc, owner, ep["id"], "reject", "no")
        calls.clear()
        service_part = dmemo.endpoints
        view, dview = build_view(svc, gen, memo), build_dns_view(svc, gen, dmemo)
        assert calls == [ep["id"]]
        assert view.endpoints[ep["id"]].status == "Rejected"
        assert service_part is not None and dmemo.endpoints is not None and dmemo.endpoints[2] is service_part[2]
        fresh, fresh_dns = build_view(svc, gen), build_dns_view(svc, gen)
        assert (view.endpoints, view.names, view.by_ip, view.gateway_ips) == \
            (fresh.endpoints, fresh.names, fresh.by_ip, fresh.gateway_ips)
        assert (dview.zones, dview.public_records) == (fresh_dns.zones, fresh_dns.public_records)


def test_the_addresses_token_changes_exactly_when_an_address_may_move(env: tuple[Service, Caller]) -> None:
    """``Memo.addresses`` (what the listener plan compares by identity instead of every address): the same object
    after a connection change, which keeps the endpoint's addresses, and after a change of no endpoint; a new one
    after a create and a delete."""
    from vaultlink.service import connections

    svc, owner = env
    vaults.create_vault(svc, owner, "v1", "local-1")
    networks.create_vnet(svc, owner, "net1", "local-1", ["127.10.0.0/16"], [{"name": "s", "cidr": "127.10.1.0/24"}])
    made = [_endpoint(svc, owner, f"e{i}") for i in range(4)]
    memo = Memo()
    build_view(svc, 1, memo)
    token = memo.addresses
    connections.set_connection(svc, owner, made[2]["id"], "reject", "no")
    view = build_view(svc, 2, memo)
    assert memo.addresses is token and view.endpoints[made[2]["id"]].status == "Rejected"
    vaults.create_vault(svc, owner, "v2", "local-1")
    build_view(svc, 3, memo)
    assert memo.addresses is token
    new = _endpoint(svc, owner, "e9")
    view = build_view(svc, 4, memo)
    assert memo.addresses is not token
    assert memo.moved == (token, memo.addresses, [], [view.endpoints[new["id"]]])  # what the listener plan reads
    token, old = memo.addresses, view.endpoints[made[0]["id"]]
    endpoints.delete_endpoint(svc, owner, made[0]["id"])
    view = build_view(svc, 5, memo)
    assert memo.addresses is not token and made[0]["id"] not in view.endpoints
    assert memo.moved is not None and memo.moved[:2] == (token, memo.addresses) and memo.moved[2] == [old]
    assert memo.moved[3] == []
    networks.create_vnet(svc, owner, "net2", "local-1", ["127.11.0.0/16"], [{"name": "s", "cidr": "127.11.1.0/24"}])
    token = memo.addresses
    build_view(svc, 6, memo)  # (a new vnet: the address spaces changed, every endpoint's view made again)
    assert memo.addresses is not token and memo.moved is None
