"""The automatic records walk a zone again only when its record or what is wanted of it changed (issue #13: a
subnet add or a vault create touches no zone and must not cost every zone's size), and still catch every change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vaultlink.adapters.sqlstore import SqlStore
from vaultlink.bootstrap import build_service
from vaultlink.config import Config
from vaultlink.service import dns, dns_auto, endpoints, networks, vaults
from vaultlink.service.events import EndpointsChanged
from vaultlink.service.identity import authenticate, bootstrap


def test_a_zone_in_line_is_not_walked_again_until_it_or_its_wants_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'meta.db'}")  # the record cache: records keep their identity
    store.migrate()
    svc = build_service(Config(data_dir=tmp_path), store=store)
    boot = bootstrap(svc)
    assert boot is not None
    owner = authenticate(svc, boot[1])
    vaults.create_vault(svc, owner, "v1", "local-1")
    networks.create_vnet(svc, owner, "net", "local-1", ["127.10.0.0/16"], [{"name": "s", "cidr": "127.10.1.0/24"}])
    body = {"region": "local-1", "vault": "v1", "group_id": "AzureBackup", "vnet": "net", "subnet": "s"}
    endpoints.create_endpoint(svc, owner, {"name": "pe1", **body})
    walked: list[str] = []
    real = dns_auto._sync_zone

    def counting(txn: Any, z: Any, want: Any, links: Any) -> list[str]:
        walked.append(z["name"])
        return real(txn, z, want, links)

    monkeypatch.setattr(dns_auto, "_sync_zone", counting)
    svc.fire(EndpointsChanged())  # the service's own automatic records: the zone is found in line, remembered
    assert len(walked) == 1
    svc.fire(EndpointsChanged())  # nothing changed: not walked
    networks.add_subnet(svc, owner, "net", "s2", "127.10.2.0/24")
    vaults.create_vault(svc, owner, "v2", "local-1")
    assert len(walked) == 1, "a subnet add and a vault create walk no zone"
    # a new endpoint takes the vault's name (the newest Approved one wins): the zone is walked and rewritten
    pe2 = endpoints.create_endpoint(svc, owner, {"name": "pe2", **body})
    assert len(walked) == 2
    zone = dns.list_zones(svc, owner)[0]["name"]
    answer = {r["fqdn"]: r["values"] for r in dns.list_records(svc, owner, zone) if r["type"] == "A"}
    assert [pe2["ip_configs"][0]["ip"]] in answer.values()
    # a zone rewritten by its owner (a new record object): walked again even though nothing more is wanted
    svc.fire(EndpointsChanged())  # (in line again after the endpoint's rewrite)
    dns.set_record(svc, owner, zone, "extra", "A", ["127.10.9.9"], 60)
    before = len(walked)
    svc.fire(EndpointsChanged())
    assert len(walked) == before + 1
    # a separate memo (``reconcile``'s callers keep their own) starts empty: everything is walked once
    in_line: dns_auto.InLine = {}
    assert dns_auto.reconcile(svc, in_line) == {} and len(walked) == before + 2 and len(in_line) == 1


def _one_vnet(tmp_path: Path) -> tuple[Any, Any, dict[str, str]]:
    """A service on a SQLite file (the record cache), its owner, one vnet, and an endpoint's body in that vnet."""
    store = SqlStore(f"sqlite:///{tmp_path / 'meta.db'}")
    store.migrate()
    svc = build_service(Config(data_dir=tmp_path), store=store)
    boot = bootstrap(svc)
    assert boot is not None
    owner = authenticate(svc, boot[1])
    networks.create_vnet(svc, owner, "net", "local-1", ["127.10.0.0/16"], [{"name": "s", "cidr": "127.10.1.0/24"}])
    return svc, owner, {"region": "local-1", "group_id": "AzureBackup", "vnet": "net", "subnet": "s"}


def test_an_endpoint_create_decodes_its_zone_at_most_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The zone an endpoint create rewrites holds a record set per vault (31 KB at 200 vaults): the create reads
    the account's zones from the cache and checks the zone unchanged by its digest, so the only decoding left is the
    cache reading the rewritten zone once (it was three: the create, the stale check, the cache)."""
    import json

    svc, owner, body = _one_vnet(tmp_path)
    for i in range(4):
        vaults.create_vault(svc, owner, f"v{i}", "local-1")
        endpoints.create_endpoint(svc, owner, {"name": f"pe{i}", "vault": f"v{i}", **body})
    zones: list[int] = []
    real = json.loads

    def counting(text: Any, *args: Any, **kwargs: Any) -> Any:
        out = real(text, *args, **kwargs)
        if isinstance(out, dict) and isinstance(out.get("records"), list) and "links" in out:
            zones.append(len(text))
        return out

    monkeypatch.setattr(json, "loads", counting)
    for i in range(3):
        endpoints.create_endpoint(svc, owner, {"name": f"pe-{i}", "vault": "v0", **body})
    monkeypatch.undo()
    assert len(zones) <= 3, zones  # one each: the cache's reading of the zone the last create rewrote
    answer = {r["fqdn"]: r["values"] for r in dns.list_records(svc, owner, dns.list_zones(svc, owner)[0]["name"])}
    assert len([n for n in answer if n.startswith("v") or "-" in n]) >= 4  # every vault's records still there


def test_a_rewritten_zone_is_converted_once_and_an_edited_copy_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The automatic records validate a zone (the engine's conversion) before they write it; the DNS view then
    converts the record read back, a new object of the same content: it gets the zone already made. A zone whose
    content differs in any way is converted (and checked) anew."""
    from vaultlink.dns import model
    from vaultlink.errors import VaultlinkError
    from vaultlink.service import dns_zones
    from vaultlink.service.dns_view import DnsMemo, build_dns_view

    svc, owner, body = _one_vnet(tmp_path)
    vaults.create_vault(svc, owner, "v1", "local-1")
    vaults.create_vault(svc, owner, "v2", "local-1")
    endpoints.create_endpoint(svc, owner, {"name": "pe1", "vault": "v1", **body})
    memo = DnsMemo()
    build_dns_view(svc, 1, memo)
    made: list[str] = []
    real = model.PrivateZone.create

    def counting(name: str, *args: Any, **kwargs: Any) -> model.PrivateZone:
        made.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(model.PrivateZone, "create", counting)
    endpoints.create_endpoint(svc, owner, {"name": "pe2", "vault": "v2", **body})  # validated before the write
    assert len(made) == 1
    view = build_dns_view(svc, 2, memo)  # the record read back: the zone already made
    assert len(made) == 1
    zone = next(z for z in view.zones if "backup" in z.name)
    assert len([rs for rs in zone.records if rs.rtype == "A"]) >= 2
    edited = dict(next(z for z in svc.store.scan("dns_zone") if "backup" in z["name"]))
    edited["records"] = [{**r, "values": list(r["values"])} for r in edited["records"]]
    assert dns_zones.engine_zone(edited, svc.config.domain) is zone  # the same content: not converted again
    assert len(made) == 1
    edited["records"][0]["name"] = "elsewhere.example"  # different content: converted, and refused
    with pytest.raises(VaultlinkError):
        dns_zones.engine_zone(edited, svc.config.domain)
    assert len(made) == 2
