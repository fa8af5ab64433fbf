"""The DNS doctor's one-click fixes (``service/dns_fix``, the console's Fix and Fix all) over the in-memory
store: each kind of problem is fixed by the service call its CLI fix names, a problem the doctor does not
report is refused, and a caller without the rights changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vaultlink.adapters.memstore import MemoryStore
from vaultlink.bootstrap import build_service
from vaultlink.config import Config
from vaultlink.errors import AccessDenied, NotFound
from vaultlink.service import dns, endpoints, identity, networks, vaults
from vaultlink.service.core import Caller, Service
from vaultlink.service.dns_doctor import doctor
from vaultlink.service.dns_fix import fix


@pytest.fixture
def env(tmp_path: Path) -> tuple[Service, Caller, dict[str, Any]]:
    svc = build_service(Config(data_dir=tmp_path), store=MemoryStore())
    boot = identity.bootstrap(svc)
    assert boot is not None
    owner = identity.authenticate(svc, boot[1])
    vaults.create_vault(svc, owner, "v1", "local-1")
    networks.create_vnet(svc, owner, "net1", "local-1", ["127.10.0.0/16"], [{"name": "s", "cidr": "127.10.1.0/24"}])
    pe = endpoints.create_endpoint(svc, owner, {"name": "pe1", "region": "local-1", "vault": "v1",
                                                "group_id": "AzureBackup", "vnet": "net1", "subnet": "s"})
    assert doctor(svc, owner, "v1")["ok"]
    return svc, owner, pe


def kinds(svc: Service, caller: Caller) -> list[str]:
    return [p["problem"] for p in doctor(svc, caller, "v1")["problems"]]


def names(pe: dict[str, Any]) -> tuple[str, str, str]:
    cfg = pe["ip_configs"][0]
    return cfg["zone"], cfg["fqdn"].removesuffix("." + cfg["zone"]), cfg["ip"]


def test_a_wrong_record_and_a_cname_in_its_place_are_fixed(env: tuple[Service, Caller, dict[str, Any]]) -> None:
    svc, owner, pe = env
    zone, rel, ip = names(pe)
    dns.set_record(svc, owner, zone, rel, "A", ["127.10.1.99"])  # yours now: the endpoint no longer writes it
    assert kinds(svc, owner) == ["record-wrong"]
    key = doctor(svc, owner, "v1")["problems"][0]["key"]
    out = fix(svc, owner, "v1", key)
    assert out["ok"] and len(out["fixed"]) == 1
    assert [r["values"] for r in dns.list_records(svc, owner, zone) if r["name"] == rel and r["type"] == "A"] \
        == [[ip]]
    dns.delete_record(svc, owner, zone, rel, "A")
    dns.set_record(svc, owner, zone, rel, "CNAME", ["elsewhere.example."])
    assert kinds(svc, owner) == ["record-conflict"]
    assert fix(svc, owner, "v1", "*")["ok"]


def test_a_removed_link_and_a_peered_vnet_without_one_are_linked(
        env: tuple[Service, Caller, dict[str, Any]]) -> None:
    svc, owner, pe = env
    zone, _rel, _ip = names(pe)
    networks.create_vnet(svc, owner, "net2", "local-1", ["127.11.0.0/16"], [{"name": "s", "cidr": "127.11.1.0/24"}])
    networks.peer(svc, owner, "net1", "net2")
    dns.remove_link(svc, owner, zone, "net1")
    assert sorted(kinds(svc, owner)) == ["link-missing", "peer-link-missing"]
    out = fix(svc, owner, "v1", "*")
    assert out["ok"] and len(out["fixed"]) == 2 and not out["left"]
    assert sorted(lk["vnet_name"] for lk in dns.list_links(svc, owner, zone)) == ["net1", "net2"]


def test_what_the_doctor_does_not_report_is_refused(env: tuple[Service, Caller, dict[str, Any]]) -> None:
    svc, owner, _pe = env
    with pytest.raises(NotFound):
        fix(svc, owner, "v1", "record|nope|nope")
    assert fix(svc, owner, "v1", "*") == {"vault": "v1", "fixed": [], "left": [], "ok": True}


def test_a_reader_fixes_nothing(env: tuple[Service, Caller, dict[str, Any]]) -> None:
    svc, owner, pe = env
    zone, rel, _ip = names(pe)
    dns.set_record(svc, owner, zone, rel, "A", ["127.10.1.99"])
    p = identity.create_principal(svc, owner, "reader")
    identity.assign_role(svc, owner, "reader", "Reader", None)
    reader = identity.authenticate(svc, p["api_key"])
    with pytest.raises(AccessDenied):
        fix(svc, reader, "v1", "*")
    assert kinds(svc, owner) == ["record-wrong"], "nothing changed"
