"""The backup gateway's rules (domain/gateways.py) and its service over the in-memory store: activation keys,
the claim, bounds on anonymous activations, expiry, maintenance windows, the appliance's inventory."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from vaultlink.adapters.memstore import MemoryStore
from vaultlink.bootstrap import build_service
from vaultlink.config import Config
from vaultlink.domain import gateways as G
from vaultlink.errors import (
    AccessDenied,
    Conflict,
    GatewayNotCreated,
    InvalidApiKey,
    InvalidInput,
    NotFound,
    RequestLimitExceeded,
)
from vaultlink.service import gateways as S
from vaultlink.service.core import Caller, Service
from vaultlink.service.identity import authenticate, bootstrap

SECRET = "k" * 40


@pytest.fixture
def env(tmp_path: Path) -> tuple[Service, Caller]:
    svc = build_service(Config(data_dir=tmp_path, regions="aws"), store=MemoryStore())
    boot = bootstrap(svc)
    assert boot is not None
    return svc, authenticate(svc, boot[1])


def test_activation_keys_are_typed_by_hand_and_checked() -> None:
    keys = {G.new_activation_key() for _ in range(200)}
    assert len(keys) == 200
    for k in keys:
        assert G.check_activation_key(k.lower()) == k
        assert not set(k) & set("01OI")
    for bad in ("", "ABCDE", "ABCDE-FGHJK-LMNPQ-RSTUV-WXYZ", 7, "ABCDE-FGHJK-LMNPQ-RSTUV-WXYZ2-ABCDE"):
        with pytest.raises(InvalidInput):
            G.check_activation_key(bad)


def test_hosts_windows_inventories_and_arns() -> None:
    assert G.check_host("file:///srv/vms/") == "/srv/vms" == G.check_host("/srv/x/../vms")
    for bad in ("vcenter.example.com", "srv/vms", "/a\x00b", 5):
        with pytest.raises(InvalidInput):
            G.check_host(bad)
    assert G.check_maintenance(2, 30, None, 15) == {"HourOfDay": 2, "MinuteOfHour": 30, "DayOfMonth": 15}
    for args in ((24, 0, None, None), (1, 60, None, None), (1, 0, 7, None), (1, 0, 1, 1), (True, 0, None, None)):
        with pytest.raises(InvalidInput):
            G.check_maintenance(*args)
    vm = {"hypervisor": "hype-1", "name": "web.qcow2", "format": "qcow2", "size": 1 << 30}
    assert G.check_inventory([vm])[0]["last_backup"] is None
    for bad in ({**vm, "name": "../etc"}, {**vm, "format": "vmdk"}, {**vm, "size": -1}, {**vm, "hypervisor": "x"}):
        with pytest.raises(InvalidInput):
            G.check_inventory([bad])
    with pytest.raises(InvalidInput):
        G.check_inventory([vm] * (G.MAX_VMS + 1))
    assert G.vm_id("hype-1", "a") == G.vm_id("hype-1", "a") != G.vm_id("hype-2", "a")
    arn = G.arn("aws", "us-east-1", "111122223333", "gateway", "bgw-ABC")
    assert G.id_of_arn(arn, "gateway") == "bgw-ABC" == G.id_of_arn("bgw-ABC", "gateway")
    with pytest.raises(InvalidInput):
        G.id_of_arn(arn, "hypervisor")
    assert G.gateway_state(None, 100.0) == "PENDING"
    assert G.gateway_state(100.0, 100.0 + 3 * G.HEARTBEAT_SECONDS) == "ONLINE"
    assert G.gateway_state(100.0, 101.0 + 3 * G.HEARTBEAT_SECONDS) == "OFFLINE"


def test_the_claim_goes_once_to_the_secret_holder(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    key = S.start_activation(svc, hashlib.sha256(SECRET.encode()).hexdigest(), "us-east-1", "127.0.0.9",
                             None)["activation_key"]
    with pytest.raises(GatewayNotCreated):
        S.claim(svc, key, SECRET)
    with pytest.raises(InvalidInput):
        S.create_gateway(svc, owner, key, "gw", "BACKUP_VM", "us-west-2")
    gw = S.create_gateway(svc, owner, key, "gw", "BACKUP_VM", None)
    assert gw["region"] == "us-east-1" and gw["state"] == "PENDING" and "credential_hash" not in gw
    with pytest.raises(Conflict):
        S.create_gateway(svc, owner, key, "gw2", "BACKUP_VM", None)
    with pytest.raises(AccessDenied):
        S.claim(svc, key, "m" * 40)
    out = S.claim(svc, key, SECRET)
    caller = S.authenticate_gateway(svc, out["credential"])
    assert caller is not None and caller.kind == "gateway" and caller.principal_id == gw["id"]
    assert S.authenticate_gateway(svc, out["credential"][:-2] + "xx") is None
    with pytest.raises(NotFound):
        S.claim(svc, key, SECRET)
    beat = S.heartbeat(svc, caller, [])
    assert beat["hypervisors"] == [] and S.get_gateway(svc, owner, gw["arn"])["state"] == "ONLINE"
    with pytest.raises(AccessDenied):
        S.heartbeat(svc, owner, [])
    S.delete_gateway(svc, owner, gw["id"])
    assert S.authenticate_gateway(svc, out["credential"]) is None


def test_anonymous_activations_are_bounded_and_expire(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    h = "0" * 64
    for _ in range(G.MAX_PENDING_PER_SOURCE):
        S.start_activation(svc, h, "us-east-1", "127.0.0.7", None)
    with pytest.raises(RequestLimitExceeded):
        S.start_activation(svc, h, "us-east-1", "127.0.0.7", None)
    key = S.start_activation(svc, h, "us-east-1", "127.0.0.8", None)["activation_key"]  # another address
    with pytest.raises(InvalidInput):
        S.start_activation(svc, "short", "us-east-1", "127.0.0.8", None)
    with pytest.raises(InvalidInput):
        S.start_activation(svc, h, "mars-1", "127.0.0.8", None)
    svc.clock = type("Later", (), {"now": staticmethod(lambda: 10**12)})()
    with pytest.raises(NotFound):
        S.create_gateway(svc, owner, key, "late", "BACKUP_VM", None)
    S.start_activation(svc, h, "us-east-1", "127.0.0.7", None)  # the expired ones are swept
    with svc.store.transaction() as txn:
        assert len(txn.find("gateway_activation")) == 1


def test_hypervisors_and_their_vms_follow_the_heartbeat(env: tuple[Service, Caller]) -> None:
    svc, owner = env
    key = S.start_activation(svc, hashlib.sha256(SECRET.encode()).hexdigest(), "us-east-1", None,
                             None)["activation_key"]
    gw = S.create_gateway(svc, owner, key, "gw", "BACKUP_VM", "us-east-1")
    caller = S.authenticate_gateway(svc, S.claim(svc, key, SECRET)["credential"])
    assert caller is not None
    hyp = S.import_hypervisor(svc, owner, "lab", "/srv/vms", "us-east-1", "admin")
    with pytest.raises(Conflict):
        S.import_hypervisor(svc, owner, "lab", "/srv/other", "us-east-1")
    S.associate(svc, owner, gw["arn"], hyp["arn"])
    vm = {"hypervisor": hyp["id"], "name": "a.qcow2", "format": "qcow2", "size": 10}
    beat = S.heartbeat(svc, caller, [vm, {**vm, "name": "b.raw", "format": "raw"},
                                     {**vm, "hypervisor": "hype-OTHER"}])
    assert beat["ignored_hypervisors"] == ["hype-OTHER"] and [h["id"] for h in beat["hypervisors"]] == [hyp["id"]]
    assert sorted(v["name"] for v in S.list_vms(svc, owner, hyp["id"])) == ["a.qcow2", "b.raw"]
    S.heartbeat(svc, caller, [vm])  # b.raw left the directory
    vms = S.list_vms(svc, owner)
    assert [v["path"] for v in vms] == ["/srv/vms/a.qcow2"]
    assert S.get_vm(svc, owner, vms[0]["arn"])["name"] == "a.qcow2"
    assert S.get_hypervisor(svc, owner, hyp["id"])["state"] == "ONLINE"
    S.delete_hypervisor(svc, owner, hyp["arn"])
    assert S.list_vms(svc, owner) == [] and S.get_gateway(svc, owner, gw["id"])["hypervisor_id"] is None


class _Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


def test_a_heartbeat_replaces_a_day_old_credential_and_a_copy_stops_working(env: tuple[Service, Caller]) -> None:
    """A day after the claim the heartbeat answers a new credential; it is current from its first use, the old one
    serves five minutes more (a beat already on its way), then is refused saying so; a copy of the appliance's
    gateway.json stops there. Listings never show a credential's hash."""
    svc, owner = env
    clock = _Clock(1_000_000.0)
    svc.clock = clock  # type: ignore[assignment]
    key = S.start_activation(svc, hashlib.sha256(SECRET.encode()).hexdigest(), "us-east-1", None,
                             None)["activation_key"]
    gw = S.create_gateway(svc, owner, key, "gw", "BACKUP_VM", "us-east-1")
    old = S.claim(svc, key, SECRET)["credential"]
    caller = S.authenticate_gateway(svc, old)
    assert caller is not None and "credential" not in S.heartbeat(svc, caller, [])
    clock.t += G.ROTATE_SECONDS
    new = S.heartbeat(svc, caller, [])["credential"]
    assert new.startswith(f"vlgw_{gw['id']}.") and new != old
    assert S.authenticate_gateway(svc, old) is not None, "the old one works until the new one is used"
    newer = S.heartbeat(svc, caller, [])["credential"]  # the appliance died before saving it: another
    assert S.authenticate_gateway(svc, new) is None, "only the last one given is the next"
    fresh = S.authenticate_gateway(svc, newer)
    assert fresh is not None and "credential" not in S.heartbeat(svc, fresh, [])
    assert S.authenticate_gateway(svc, old) is not None, "five minutes for a beat already on its way"
    clock.t += 301
    with pytest.raises(InvalidApiKey, match="replaced by a newer one"):
        S.authenticate_gateway(svc, old)
    shown = [S.get_gateway(svc, owner, gw["id"]), *S.list_gateways(svc, owner)]
    assert not any(k.endswith("_hash") for g in shown for k in g)
