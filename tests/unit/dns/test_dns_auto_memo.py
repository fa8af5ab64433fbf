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
