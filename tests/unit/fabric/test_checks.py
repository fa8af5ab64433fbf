"""The pipeline's checks (``fabric/checks.py``), in-process: one row per refusal, and the order of
refusals when a request fails several checks at once (the earlier check answers)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from vaultlink import errors as E
from vaultlink.domain.security_groups import SgRule
from vaultlink.fabric import checks
from vaultlink.fabric.checks import CHECKS, Decision, Facts, run_checks
from vaultlink.fabric.view import EndpointView, NetworkView, Target, VaultView, VnetView
from vaultlink.service.core import Caller

ACCT = "111111111111"
HOST_V1 = "v1.backup.vaultlink.internal"
HOST_V2 = "v2.backup.vaultlink.internal"
HOST_REGIONAL = "backup.local-1.vaultlink.internal"
IN_B = "127.10.5.9"  # vnet-b, where the endpoints live
IN_C = "127.20.0.9"  # vnet-c, peered with vnet-b
IN_A = "127.30.0.9"  # vnet-a, not peered
INTERNET = "127.0.0.1"


def _vnet(vid: str, cidr: str, peers: tuple[str, ...] = ()) -> VnetView:
    return VnetView(vid, ACCT, "local-1", (ipaddress.ip_network(cidr),), frozenset(peers))


def _ep(eid: str, ip: str, status: str = "Approved", kind: str = "resource", vault: str | None = "v1",
        sg_from: str = "127.0.0.0/8", policy: Any = "allow", service: str = "backup") -> EndpointView:
    return EndpointView(eid, ACCT, kind, vault if kind == "resource" else None, "AzureBackup", None if kind ==
                        "resource" else service, "local-1", "vnet-b", frozenset({ip}), status,
                        (SgRule("tcp", 443, 443, ipaddress.ip_network(sg_from)),), policy)


def _vault(vid: str, public: str = "Enabled") -> VaultView:
    return VaultView(vid, ACCT, vid, f"arn:aws:backup:local-1:{ACCT}:backup-vault:{vid}", "local-1", public, ())


ENDPOINTS = {
    "ok": _ep("pe-ok", "127.10.5.4"),
    "pending": _ep("pe-pending", "127.10.5.5", status="Pending"),
    "rejected": _ep("pe-rejected", "127.10.5.6", status="Rejected"),
    "disconnected": _ep("pe-disc", "127.10.5.7", status="Disconnected"),
    "narrow_sg": _ep("pe-narrow", "127.10.5.8", sg_from="127.10.5.9/32"),
    "narrow_pending": _ep("pe-narrow-pending", "127.10.5.10", status="Pending", sg_from="127.10.5.250/32"),
    "service": _ep("pe-svc", "127.10.5.11", kind="service"),
    "deny_policy": _ep("pe-deny", "127.10.5.12", policy="deny"),
    "gateway": _ep("pe-gw", "127.10.5.13", kind="service", service="backup-gateway"),
}
HOST_GATEWAY = "backup-gateway.local-1.vaultlink.internal"
VIEW = NetworkView(
    vnets={v.id: v for v in (_vnet("vnet-a", "127.30.0.0/16"), _vnet("vnet-b", "127.10.0.0/16", ("vnet-c",)),
                             _vnet("vnet-c", "127.20.0.0/16", ("vnet-b",)))},
    endpoints={e.id: e for e in ENDPOINTS.values()},
    vaults={v.id: v for v in (_vault("v1"), _vault("v2", public="Disabled"))},
    names={
        HOST_V1: Target("backup", vault_id="v1", region="local-1"),
        HOST_V2: Target("backup", vault_id="v2", region="local-1"),
        "gone.backup.vaultlink.internal": Target("backup", vault_id="deleted", region="local-1"),
        HOST_REGIONAL: Target("regional", region="local-1", regional_service="backup"),
        HOST_GATEWAY: Target("regional", region="local-1", regional_service="backup-gateway"),
    },
)
TOKENS = {
    "key-ok": Caller("p1", ACCT, f"arn:aws:iam::{ACCT}:user/alice", "alice", credential_id="k1"),
    "key-slow": Caller("p2", ACCT, f"arn:aws:iam::{ACCT}:user/slow", "slow", credential_id="k-slow"),
    "key-denied": Caller("p3", ACCT, f"arn:aws:iam::{ACCT}:user/mallory", "mallory", credential_id="k3"),
    "reg-v1": Caller("p4", ACCT, "arn:reg", "reg", kind="registration", credential_id="r1", vault_id="v1"),
    "ctr-v1": Caller("p5", ACCT, "arn:ctr", "ctr", kind="container", credential_id="c1", vault_id="v1",
                     container_id="c1"),
    "ctr-v2": Caller("p6", ACCT, "arn:ctr2", "ctr2", kind="container", credential_id="c2", vault_id="v2",
                     container_id="c2"),
    "gw-1": Caller("bgw-1", ACCT, "arn:gw", "gw", kind="gateway", credential_id="bgw-1"),
    "ctr-stale": Caller("p7", ACCT, "arn:ctr3", "ctr3", kind="container", credential_id="c3", vault_id="v1",
                        container_id="c3", reregistration_required=True),
}
ROUTES = {("GET", "/v1/items"): "backup:ListItems", ("POST", "/v1/register"): "backup:RegisterContainer",
          ("GET", "/v1/vaults/v9"): "backup:DescribeBackupVault",
          ("POST", "/v1/gateway/activations"): "backup-gateway:ActivateGateway",
          ("POST", "/v1/gateway/heartbeat"): "backup-gateway:SendHeartbeat",
          ("GET", "/v1/gateways"): "backup-gateway:ListGateways"}
GW = {"endpoint": "gateway", "host": HOST_GATEWAY}


@dataclass
class FakeGates:
    """The stateful parts, as plain rules: which token is whom, who is throttled, what policies deny."""

    throttle_rate: float = 10.0
    anonymous: list[str] = field(default_factory=list)

    def route(self, target: Target, method: str, path: str) -> tuple[Any, str, dict[str, str]]:
        return f"app:{target.service}", ROUTES.get((method, path), ""), {"vault": "v9"} if "vaults" in path else {}

    def count_anonymous(self, source_ip: str) -> None:
        self.anonymous.append(source_ip)

    def authenticate(self, token: str | None, source_ip: str, secure: bool) -> Caller:
        if token is None:
            self.count_anonymous(source_ip)
            raise E.Unauthenticated()
        if token not in TOKENS:
            raise E.InvalidApiKey()
        return replace(TOKENS[token], source_ip=source_ip, secure_transport=secure)

    def allow(self, key: str, now: float) -> bool:
        return key != "api_key:k-slow"

    def partition(self, region: str) -> str:
        return "aws"

    def endpoint_policy(self, ep: EndpointView, caller: Caller, action: str, resource: str, source_ip: str,
                        region: str) -> None:
        if ep.policy == "deny":
            raise E.EndpointPolicyDenied()

    def authorize(self, caller: Caller, vault: VaultView | None, action: str, resource: str,
                  ep: EndpointView | None, source_ip: str, region: str) -> None:
        if caller.name == "mallory":
            raise E.AccessDenied()


def request(endpoint: str | None = "ok", source: str = IN_B, host: str = HOST_V1, path: str = "/v1/items",
            method: str = "GET", token: str | None = "key-ok",
            headers: tuple[tuple[bytes, bytes], ...] = (), port: int = 443) -> tuple[Facts, Decision]:
    ep = ENDPOINTS[endpoint] if endpoint else None
    local = next(iter(ep.ips)) if ep else "127.0.0.1"
    hdrs = headers + (((b"authorization", f"Bearer {token}".encode()),) if token else ())
    return Facts(method, path, hdrs, local, source, host, 0.0, port=port), Decision(ep=ep, target=VIEW.target(host))


def outcome(**kw: Any) -> str:
    facts, d = request(**kw)
    try:
        run_checks(VIEW, facts, d, FakeGates())
    except E.VaultlinkError as err:
        return err.code
    return "allowed"


ROWS = [
    # (what, request, expected code)
    ("a caller in the endpoint's vnet", {}, "allowed"),
    ("a caller in a peered vnet", {"source": IN_C}, "allowed"),
    ("2: a vnet that is not peered", {"source": IN_A}, "EndpointUnreachable"),
    ("2: the internet, on a private endpoint", {"source": INTERNET}, "EndpointUnreachable"),
    ("3: an address the security group does not allow", {"endpoint": "narrow_sg", "source": "127.10.5.10"},
     "SecurityGroupDenied"),
    ("3: the address the security group allows, on its port", {"endpoint": "narrow_sg", "source": "127.10.5.9"},
     "allowed"),
    ("3: the same address on a port no rule covers (a gateway's 1031)",
     {"endpoint": "narrow_sg", "source": "127.10.5.9", "port": 1031}, "SecurityGroupDenied"),
    ("4: a Pending connection", {"endpoint": "pending"}, "EndpointConnectionPending"),
    ("4: a Rejected connection", {"endpoint": "rejected"}, "EndpointConnectionRejected"),
    ("4: a Disconnected connection", {"endpoint": "disconnected"}, "EndpointConnectionDisconnected"),
    ("5: a name nobody answers for", {"host": "nobody.example"}, "UnknownServiceName"),
    ("5: a deleted vault's name", {"host": "gone.backup.vaultlink.internal"}, "UnknownServiceName"),
    ("5: another vault's name on this vault's endpoint", {"host": HOST_V2}, "EndpointTargetMismatch"),
    ("5: the regional name on a resource endpoint", {"host": HOST_REGIONAL}, "EndpointTargetMismatch"),
    ("5: a vault's name on a service endpoint", {"endpoint": "service"}, "EndpointTargetMismatch"),
    ("5: no such operation", {"path": "/v1/nothing"}, "NotFound"),
    ("6: no credential", {"token": None}, "Unauthenticated"),
    ("6: a wrong credential", {"token": "nope"}, "InvalidApiKey"),
    ("6: two credentials", {"headers": ((b"x-api-key", b"key-ok"),)}, "AmbiguousCredentials"),
    ("6: a registration secret doing more than registering", {"token": "reg-v1"}, "AccessDenied"),
    ("6: a registration secret registering", {"token": "reg-v1", "method": "POST", "path": "/v1/register"},
     "allowed"),
    ("6: another vault's container credential", {"token": "ctr-v2"}, "AccessDenied"),
    ("6: a container credential naming another container",
     {"token": "ctr-v1", "headers": ((b"x-vaultlink-container", b"c9"),)}, "AccessDenied"),
    ("6: a container that must re-register", {"token": "ctr-stale"}, "ContainerReregistrationRequired"),
    ("6: an agent credential on the regional service",
     {"endpoint": "service", "host": HOST_REGIONAL, "path": "/v1/vaults/v9", "token": "ctr-v1"}, "AccessDenied"),
    ("7: a throttled credential", {"token": "key-slow"}, "RequestLimitExceeded"),
    ("8: public access to a vault that denies it", {"endpoint": None, "host": HOST_V2, "source": INTERNET},
     "PublicNetworkAccessDisabled"),
    ("8: public access to a vault that allows it", {"endpoint": None, "source": INTERNET}, "allowed"),
    ("9: the endpoint policy denies", {"endpoint": "deny_policy"}, "EndpointPolicyDenied"),
    ("10: no role or policy allows", {"token": "key-denied"}, "AccessDenied"),
    ("a service endpoint serves the regional API",
     {"endpoint": "service", "host": HOST_REGIONAL, "path": "/v1/vaults/v9"}, "allowed"),
    # the backup gateway: activation alone needs no credential; a gateway credential only beats
    ("6: an appliance activating without a credential",
     {**GW, "method": "POST", "path": "/v1/gateway/activations", "token": None}, "allowed"),
    ("6: no credential on another gateway route", {**GW, "path": "/v1/gateways", "token": None}, "Unauthenticated"),
    ("6: a gateway's heartbeat", {**GW, "method": "POST", "path": "/v1/gateway/heartbeat", "token": "gw-1"},
     "allowed"),
    ("6: a gateway credential on another route", {**GW, "path": "/v1/gateways", "token": "gw-1"}, "AccessDenied"),
    ("6: an API key on the heartbeat", {**GW, "method": "POST", "path": "/v1/gateway/heartbeat"}, "AccessDenied"),
    ("6: a gateway credential on a vault's data plane", {"token": "gw-1"}, "AccessDenied"),
    ("5: the backup API through a backup-gateway endpoint",
     {"endpoint": "gateway", "host": HOST_GATEWAY, "path": "/v1/vaults/v9"}, "EndpointTargetMismatch"),
    ("5: the gateway API through a backup endpoint",
     {"endpoint": "service", "host": HOST_REGIONAL, "method": "POST", "path": "/v1/gateway/activations",
      "token": None}, "EndpointTargetMismatch"),
]


@pytest.mark.parametrize("what, req, code", ROWS, ids=[r[0] for r in ROWS])
def test_each_refusal(what: str, req: dict[str, Any], code: str) -> None:
    assert outcome(**req) == code, what


ORDER = [
    # a request that fails several checks is refused by the first one, in DESIGN.md §5's order
    ("2 before 3", {"endpoint": "narrow_sg", "source": IN_A}, "EndpointUnreachable"),
    ("3 before 4", {"endpoint": "narrow_pending"}, "SecurityGroupDenied"),
    ("4 before 5", {"endpoint": "pending", "host": HOST_V2}, "EndpointConnectionPending"),
    ("5 before 6", {"host": "nobody.example", "token": None}, "UnknownServiceName"),
    ("6 before 7", {"token": "nope"}, "InvalidApiKey"),
    ("6 (kind) before 7", {"token": "reg-v1"}, "AccessDenied"),
    ("7 before 8", {"endpoint": None, "host": HOST_V2, "source": INTERNET, "token": "key-slow"},
     "RequestLimitExceeded"),
    ("8 before 10", {"endpoint": None, "host": HOST_V2, "source": INTERNET, "token": "key-denied"},
     "PublicNetworkAccessDisabled"),
    ("9 before 10", {"endpoint": "deny_policy", "token": "key-denied"}, "EndpointPolicyDenied"),
]


@pytest.mark.parametrize("what, req, code", ORDER, ids=[r[0] for r in ORDER])
def test_order_of_refusals(what: str, req: dict[str, Any], code: str) -> None:
    assert outcome(**req) == code, what


def test_the_tuple_is_in_design_order() -> None:
    assert [c.__name__ for c in CHECKS] == [
        "locate", "reachability", "security_group", "connection_status", "target", "authentication",
        "credential_kind", "throttling", "public_network_access", "regional_resource", "endpoint_policy",
        "authorization",
    ]


def test_anonymous_and_malformed_credentials_take_from_the_source_bucket() -> None:
    gates = FakeGates()
    for token, headers in ((None, ()), ("key-ok", ((b"x-api-key", b"key-ok"),))):
        facts, d = request(token=token, headers=headers)
        with pytest.raises(E.VaultlinkError):
            run_checks(VIEW, facts, d, gates)
    assert gates.anonymous == [IN_B, IN_B]


def test_a_refusal_keeps_what_was_learned_for_the_audit() -> None:
    facts, d = request(token="key-denied")
    with pytest.raises(E.AccessDenied):
        run_checks(VIEW, facts, d, FakeGates())
    audit = d.audit()
    assert audit["vnet"] == "vnet-b" and audit["vault"] == "v1" and audit["action"] == "backup:ListItems"
    assert audit["principal"].endswith("user/mallory") and audit["resource"].endswith("backup-vault:v1")


def test_the_caller_checked_is_the_one_the_handler_gets() -> None:
    facts, d = request(endpoint="service", host=HOST_REGIONAL, path="/v1/vaults/v9")
    run_checks(VIEW, facts, d, FakeGates())
    assert d.caller is not None and d.caller.source_ip == IN_B and d.caller.arn == TOKENS["key-ok"].arn
    assert d.resource == f"arn:aws:backup:local-1:{ACCT}:backup-vault:v9", "the regional call's real ARN"
    assert d.check_resource is not None  # the handler asks the endpoint policy about each resource it touches
    assert checks.SERVICE_PORT == 443


def test_an_anonymous_activation_takes_from_the_source_bucket() -> None:
    gates = FakeGates()
    facts, d = request(**GW, method="POST", path="/v1/gateway/activations", token=None)
    run_checks(VIEW, facts, d, gates)
    assert gates.anonymous == [IN_B]
    assert d.caller is not None and d.caller.kind == "anonymous" and d.caller.credential_id == f"anonymous:{IN_B}"
