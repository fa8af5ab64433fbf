"""Pure parts of the fabric: the network view, security-group rules, throttling, the view builder,
and the audit sink's batching."""

from __future__ import annotations

import ipaddress
import threading
from pathlib import Path
from typing import Any

import pytest

from vaultlink.adapters.memstore import MemoryStore
from vaultlink.bootstrap import build_service
from vaultlink.config import load_config
from vaultlink.domain.throttle import Throttle
from vaultlink.fabric.actions import is_read, management_action
from vaultlink.fabric.build import build_view
from vaultlink.fabric.view import EndpointView, NetworkView, SgRule, VnetView
from vaultlink.service import identity, vaults
from vaultlink.service.audit import AuditSink


def net(text: str) -> Any:
    return ipaddress.ip_network(text)


def vnet(vid: str, *cidrs: str, peers: tuple[str, ...] = ()) -> VnetView:
    return VnetView(vid, "111111111111", "local-1", tuple(net(c) for c in cidrs), frozenset(peers))


def test_longest_prefix_classification_and_reachability() -> None:
    a = vnet("vnet-a", "127.10.0.0/16")
    b = vnet("vnet-b", "127.10.5.0/24", peers=("vnet-c",))
    c = vnet("vnet-c", "127.20.0.0/16", peers=("vnet-b",))
    ep = EndpointView("pe-1", "111111111111", "resource", "v1", "AzureBackup", None, "local-1", "vnet-b",
                      frozenset({"127.10.5.4"}), "Approved", (), None)
    view = NetworkView(vnets={v.id: v for v in (a, b, c)}, endpoints={ep.id: ep})
    assert view.classify("127.10.5.9") is b  # the /24 wins over the /16
    assert view.classify("127.10.6.9") is a
    assert view.classify("127.0.0.1") is None  # the internet
    assert view.classify("not-an-ip") is None
    assert view.endpoint_at("127.10.5.4") is ep and view.endpoint_at("127.0.0.1") is None
    assert view.reachable(ep, b) and view.reachable(ep, c) and not view.reachable(ep, a)
    assert not view.reachable(ep, None)


def test_security_group_rules() -> None:
    rule = SgRule("tcp", 443, 443, net("127.10.0.0/16"))
    ip = ipaddress.ip_address
    assert rule.allows("tcp", 443, ip("127.10.9.9"))
    assert not rule.allows("udp", 443, ip("127.10.9.9"))
    assert not rule.allows("tcp", 80, ip("127.10.9.9"))
    assert not rule.allows("tcp", 443, ip("127.11.0.1"))
    assert SgRule("*", 0, 65535, net("0.0.0.0/0")).allows("udp", 53, ip("127.1.2.3"))


def test_throttle_bucket_refills() -> None:
    t = Throttle(rate=10, burst=3)
    assert [t.allow("p", 0.0) for _ in range(4)] == [True, True, True, False]
    assert t.allow("other", 0.0)  # per principal
    assert not t.allow("p", 0.05) and t.allow("p", 0.2)
    assert Throttle(rate=0, burst=0).allow("p", 0.0)  # 0 disables throttling


def test_management_actions() -> None:
    assert management_action("vault.create") == "backup:CreateBackupVault"
    assert management_action("vault.list") == "backup:ListBackupVaults"
    assert management_action("container.list") == "backup:ListContainers"
    assert management_action("widget.frob") == ""  # not a backup API route: not served by service endpoints
    assert is_read("backup:ListRecoveryPointsByBackupVault") and not is_read("backup:StartBackupJob")


def test_build_view_names_vaults_and_regional_services(tmp_path: Path) -> None:
    cfg = load_config(None, data_dir=str(tmp_path), blob_url="memory://")
    svc = build_service(cfg, store=MemoryStore())
    created = identity.bootstrap(svc)
    assert created is not None
    caller = identity.authenticate(svc, created[1])
    v = vaults.create_vault(svc, caller, "prod", "local-1", "Disabled", "Enabled")
    view = build_view(svc)
    t = view.target(f"{v['id']}.l1.backup.vaultlink.internal")
    assert t is not None and t.service == "backup" and t.vault_id == v["id"]
    assert view.target(f"{v['id']}.privatelink.l1.backup.vaultlink.internal") == t
    assert view.vaults[v["id"]].public_network_access == "Disabled"
    reg = view.target("backup.local-2.vaultlink.internal")
    assert reg is not None and reg.service == "regional" and reg.region == "local-2"
    assert view.target("nothing.vaultlink.internal") is None


class FlakyStore(MemoryStore):
    def append_audit(self, events: list[dict[str, Any]]) -> None:
        if any(e.get("poison") for e in events):
            raise ValueError("cannot store this one")
        super().append_audit(events)


def test_audit_sink_batches_and_one_bad_event_does_not_block_the_rest() -> None:
    store = FlakyStore()
    sink = AuditSink(store, interval=0.01)
    sink.start()
    threads = [threading.Thread(target=lambda i=i: [sink.emit({"action": f"a{i}", "n": n}) for n in range(200)])
               for i in range(4)]
    for th in threads:
        th.start()
    sink.emit({"action": "bad", "poison": True})
    for th in threads:
        th.join()
    sink.flush()
    events = store.query_audit({}, limit=10_000)
    assert len(events) == 800 and sink.failed == 1
    sink.close()


@pytest.mark.parametrize("events", [[], [{"action": "x", "decision": "allowed"}]])
def test_audit_sink_without_thread_writes_synchronously(events: list[dict[str, Any]]) -> None:
    store = MemoryStore()
    sink = AuditSink(store)
    for ev in events:
        sink.emit(ev)
    assert len(store.query_audit({})) == len(events)
