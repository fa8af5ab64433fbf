"""The data path end to end: real listeners, real source addresses, every refusal and every allowed path.

A "VM" at 127.10.1.5 is a client socket bound to that source address. Each case sends one request and
then finds its audit event with the real CLI (``vaultlink audit list --endpoint … --code …``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import Server, start_server, stop_server

OWNER, TENANT_B, NOBODY, BOGUS, NONE = "owner", "tenant_b", "nobody", "bogus", "none"
_src = itertools.count(10)


def vm(source_ip: str) -> httpx.Client:
    """An HTTP client whose connections leave from ``source_ip`` (a machine in a vnet). The listeners speak TLS
    only; these crafted requests do not check the certificate (``tests/e2e/test_tls.py`` checks it)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source_ip, verify=False), trust_env=False,
                        timeout=15)


@dataclass
class World:
    s: Server
    port: int
    keys: dict[str, str]
    ids: dict[str, Any]

    def ip(self, ref: str) -> str:
        if ref == "public":
            return "127.0.0.1"
        return str(self.ids[ref]["ips"][0])

    def host(self, ref: str) -> str:
        if ref.startswith("name:"):
            return ref[5:]
        return f"{self.ids[ref]['id']}.privatelink.l1.backup.vaultlink.internal"

    def request(self, source: str, endpoint: str, host: str, key: str, path: str = "/") -> httpx.Response:
        headers = {"Host": self.host(host)}
        if key == BOGUS:
            headers["Authorization"] = "Bearer vlk_AK0000000000000000_not-a-real-key"
        elif key != NONE:
            headers["Authorization"] = f"Bearer {self.keys[key]}"
        with vm(source) as c:
            return c.get(f"https://{self.ip(endpoint)}:{self.port}{path}", headers=headers)

    def audit(self, *filters: str) -> list[dict[str, Any]]:
        out = self.s.ok("audit", "list", "--limit", "1000", *filters)
        assert isinstance(out, list)
        return out


def _post(c: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = c.post(path, json=body)
    assert r.status_code in (200, 201), (path, r.status_code, r.text)
    out: dict[str, Any] = r.json()
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    s = start_server(tmp_path_factory.mktemp("dp") / "data")
    try:
        yield _build_world(s)
    finally:
        stop_server(s)


def _build_world(s: Server) -> World:
    ids: dict[str, Any] = {}
    with s.http() as c:
        ids["va"] = _post(c, "/vaults", {"name": "va", "region": "local-1"})
        ids["vb"] = _post(c, "/vaults", {"name": "vb", "region": "local-1", "public_network_access": "Disabled"})
        ids["vc"] = _post(c, "/vaults", {"name": "vc", "region": "local-1"})
        _post(c, "/vnets", {"name": "n1", "region": "local-1", "address_spaces": ["127.10.0.0/16"],
                            "subnets": [{"name": "s1", "cidr": "127.10.1.0/24"}]})
        _post(c, "/vnets", {"name": "n2", "region": "local-1", "address_spaces": ["127.20.0.0/16"],
                            "subnets": [{"name": "s1", "cidr": "127.20.1.0/24"}]})
        _post(c, "/vnets", {"name": "n3", "region": "local-1", "address_spaces": ["127.30.0.0/16"],
                            "subnets": [{"name": "s1", "cidr": "127.30.1.0/24"}]})
        _post(c, "/vnets/n1/peerings", {"peer": "n2"})

        def ep(name: str, **kw: Any) -> dict[str, Any]:
            body = {"name": name, "region": "local-1", "vnet": kw.pop("vnet", "n1"), "subnet": "s1", **kw}
            return _post(c, "/endpoints", body)

        ids["e1"] = ep("e1", vault="va", group_id="AzureBackup")  # default group: TCP from VirtualNetwork
        # the explicit-CIDR group that endpoints created before VirtualNetwork hold: it ignores peerings
        ids["e_cidr"] = ep("e-cidr", vault="va", group_id="AzureBackup",
                           rules=[{"protocol": "tcp", "ports": "1-65535", "source": "127.10.0.0/16"}])
        ids["e_sg"] = ep("e-sg", vault="va", group_id="AzureBackup",
                         rules=[{"protocol": "tcp", "ports": "443", "source": "127.10.9.0/24"}])
        ids["e_b"] = ep("e-b", vault="vb", group_id="AzureBackup")
        ids["e_pol"] = ep("e-pol", vault="vc", group_id="AzureBackup")
        ids["se"] = ep("se1", service="backup", private_dns=True)
        tb = _post(c, "/accounts", {"name": "tenant-b"})
        nobody = _post(c, "/principals", {"name": "nobody"})
    keys = {OWNER: s.owner_key, TENANT_B: tb["owner_api_key"], NOBODY: nobody["api_key"]}
    ids["tenant_b"] = tb
    with s.http(keys[TENANT_B]) as c:  # another account asks for connections to va: they start Pending
        _post(c, "/vnets", {"name": "nb", "region": "local-1", "address_spaces": ["127.40.0.0/16"],
                            "subnets": [{"name": "s1", "cidr": "127.40.1.0/24"}]})
        for name in ("p-pending", "p-rejected", "p-disconnected"):
            ids[name] = _post(c, "/endpoints", {"name": name, "region": "local-1", "vnet": "nb", "subnet": "s1",
                                                "vault": ids["va"]["id"], "group_id": "AzureBackup"})
            assert ids[name]["status"] == "Pending"
    with s.http() as c:
        _post(c, f"/connections/{ids['p-rejected']['id']}/reject", {"vault": "va"})
        _post(c, f"/connections/{ids['p-disconnected']['id']}/remove", {"vault": "va"})
    return World(s, int(s.info["api_port"]), keys, ids)


# (case id, source address, endpoint, host, key, status, code)
CASES: list[tuple[str, str, str, str, str, int, str | None]] = [
    # refusals, in the order of the pipeline's checks
    ("unreachable-from-unpeered-vnet", "127.30.1.{n}", "e1", "va", OWNER, 403, "EndpointUnreachable"),
    ("unreachable-from-internet", "127.0.0.1", "e1", "va", OWNER, 403, "EndpointUnreachable"),
    ("security-group", "127.10.1.{n}", "e_sg", "va", OWNER, 403, "SecurityGroupDenied"),
    ("explicit-cidr-group-refuses-a-peered-vnet", "127.20.1.{n}", "e_cidr", "va", OWNER, 403,
     "SecurityGroupDenied"),
    ("connection-pending", "127.40.1.{n}", "p-pending", "va", TENANT_B, 403, "EndpointConnectionPending"),
    ("connection-rejected", "127.40.1.{n}", "p-rejected", "va", TENANT_B, 403, "EndpointConnectionRejected"),
    ("connection-disconnected", "127.40.1.{n}", "p-disconnected", "va", TENANT_B, 403,
     "EndpointConnectionDisconnected"),
    ("other-vaults-name", "127.10.1.{n}", "e1", "vb", OWNER, 403, "EndpointTargetMismatch"),
    ("regional-name-on-resource-endpoint", "127.10.1.{n}", "e1", "name:backup.local-1.vaultlink.internal",
     OWNER, 403, "EndpointTargetMismatch"),
    ("vault-that-does-not-exist", "127.10.1.{n}", "e1", "name:v000000000000.privatelink.l1.backup.vaultlink.internal",
     OWNER, 404, "UnknownServiceName"),
    ("spoofed-host", "127.10.1.{n}", "e1", "name:evil.example.com", OWNER, 404, "UnknownServiceName"),
    ("no-credential", "127.10.1.{n}", "e1", "va", NONE, 401, "Unauthenticated"),
    ("bad-credential", "127.10.1.{n}", "e1", "va", BOGUS, 401, "InvalidApiKey"),
    ("public-access-disabled", "127.0.0.1", "public", "vb", OWNER, 403, "PublicNetworkAccessDisabled"),
    ("public-access-disabled-from-a-vnet", "127.10.1.{n}", "public", "vb", OWNER, 403,
     "PublicNetworkAccessDisabled"),
    ("role-deny-no-role", "127.10.1.{n}", "e1", "va", NOBODY, 403, "AccessDenied"),
    ("role-deny-other-account", "127.10.1.{n}", "e1", "va", TENANT_B, 403, "AccessDenied"),
    # allowed paths
    ("from-the-endpoints-vnet", "127.10.1.{n}", "e1", "va", OWNER, 200, None),
    ("from-a-peered-vnet", "127.20.1.{n}", "e1", "va", OWNER, 200, None),  # peering alone suffices
    ("explicit-cidr-group-allows-its-vnet", "127.10.1.{n}", "e_cidr", "va", OWNER, 200, None),
    ("security-group-rule-allows", "127.10.9.{n}", "e_sg", "va", OWNER, 200, None),
    ("public-endpoint-public-vault", "127.0.0.1", "public", "va", OWNER, 200, None),
    ("azure-deny-public-still-private", "127.10.1.{n}", "e_b", "vb", OWNER, 200, None),
]


@pytest.mark.parametrize(("case", "source", "endpoint", "host", "key", "status", "code"), CASES,
                         ids=[c[0] for c in CASES])
def test_data_path_case(world: World, case: str, source: str, endpoint: str, host: str, key: str,
                        status: int, code: str | None) -> None:
    src = source.format(n=next(_src))
    r = world.request(src, endpoint, host, key)
    assert r.status_code == status, r.text
    if code is not None:
        body = r.json()
        assert body["error"]["code"] == code
        assert r.headers["x-error-code"] == code
        assert body["error"]["message"]  # says how to fix it
    else:
        got = r.json()
        assert got["source_ip"] == src
        assert got["endpoint_id"] == (None if endpoint == "public" else world.ids[endpoint]["id"])
    # its audit event, through the CLI filters
    filters = ["--code", code] if code else ["--decision", "allowed"]
    if endpoint == "public":
        filters += ["--vault", world.ids[host]["id"]] if host in world.ids else []
    else:
        filters += ["--endpoint", world.ids[endpoint]["id"]]
    events = [e for e in world.audit(*filters) if e["source_ip"] == src and e.get("plane") == "data"]
    assert events, f"no audit event for {case}"
    ev = events[-1]
    assert ev["decision"] == ("allowed" if code is None else "denied")
    assert ev["code"] == code
    assert ev["endpoint"] == (None if endpoint == "public" else world.ids[endpoint]["id"])
    assert isinstance(ev["time"], str) and ev["time"].endswith("Z") and ev["latency_ms"] >= 0
    assert ev["action"]
    if not host.startswith("name:"):
        assert ev["action"] == "backup:DescribeBackupVault"
        assert ev["resource"] == world.ids[host]["arn"]
    if key in (OWNER, NOBODY, TENANT_B) and code not in (
        "EndpointUnreachable", "SecurityGroupDenied", "EndpointConnectionPending", "EndpointConnectionRejected",
        "EndpointConnectionDisconnected", "EndpointTargetMismatch", "UnknownServiceName",
    ):
        assert ev["principal"] and ev["principal"].startswith("arn:")
    vnet_prefix = {"127.10.": "n1", "127.20.": "n2", "127.30.": "n3", "127.40.": "nb"}
    expected_vnet = next((v for p, v in vnet_prefix.items() if src.startswith(p)), None)
    assert (ev["vnet"] is None) == (expected_vnet is None)


def test_peering_and_unpeering_take_effect_at_once(world: World) -> None:
    """The MARS-agent story: peer the machine's network with the endpoint's vnet, and it can use the vault."""
    with world.s.http() as c:
        _post(c, "/vnets", {"name": "onprem", "region": "local-1", "address_spaces": ["127.31.0.0/16"]})
    src = "127.31.0.9"
    assert world.request(src, "e1", "va", OWNER).json()["error"]["code"] == "EndpointUnreachable"
    world.s.ok("vnet", "peer", "onprem", "n1")
    try:
        vn = world.s.ok("endpoint", "sg", "show", "e1")["virtual_network"]
        assert vn == ["127.10.0.0/16", "127.20.0.0/16", "127.31.0.0/16"]  # its own, then n2's and onprem's
        r = world.request(src, "e1", "va", OWNER)
        assert r.status_code == 200, r.text  # no security-group rule added by hand
        r = world.request(src, "e_cidr", "va", OWNER)
        assert r.json()["error"]["code"] == "SecurityGroupDenied"
        # address space added to the peer later is covered as well
        world.s.ok("vnet", "update", "onprem", "--add-address-space", "127.32.0.0/24")
        assert world.request("127.32.0.9", "e1", "va", OWNER).status_code == 200
    finally:
        world.s.ok("vnet", "unpeer", "onprem", "n1")
    assert world.request(src, "e1", "va", OWNER).json()["error"]["code"] == "EndpointUnreachable"
    assert world.s.ok("endpoint", "sg", "show", "e1")["virtual_network"] == ["127.10.0.0/16", "127.20.0.0/16"]


def test_azure_public_deny_keeps_management_reachable(world: World) -> None:
    """"You can still access the vault, but you can't move data to/from networks without private endpoints"."""
    with world.s.http() as c:
        r = c.get("/vaults/vb")
        assert r.status_code == 200 and r.json()["public_network_access"] == "Disabled"
    assert world.request("127.0.0.1", "public", "vb", OWNER).json()["error"]["code"] == "PublicNetworkAccessDisabled"
    assert world.request("127.10.1.250", "e_b", "vb", OWNER).status_code == 200


def _dns_answer(world: World, name: str, source: str) -> str | None:
    port = world.s.info.get("dns_port")
    if not port:
        return None
    import dns.message
    import dns.query

    q = dns.message.make_query(name, "A")
    resp = dns.query.udp(q, world.s.info.get("dns_address", "127.0.0.1"), port=int(port), source=source, timeout=5)
    for rrset in resp.answer:
        for rr in rrset:
            if rr.rdtype == 1:
                return str(rr.address)
    return ""


def test_service_endpoint_with_private_dns_reaches_the_regional_service(world: World) -> None:
    se = world.ids["se"]
    name = "backup.local-1.vaultlink.internal"
    answer = _dns_answer(world, name, "127.10.1.240")
    if answer is not None:  # private DNS: inside the vnet the regional name answers the endpoint's IP
        assert answer == world.ip("se")
    src = "127.10.1.241"
    with vm(src) as c:
        r = c.get(f"https://{world.ip('se')}:{world.port}/v1/vaults",
                  headers={"Host": name, "Authorization": f"Bearer {world.keys[OWNER]}"})
    assert r.status_code == 200, r.text
    assert {"va", "vb", "vc"} <= {v["name"] for v in r.json()}
    events = [e for e in world.audit("--endpoint", se["id"], "--decision", "allowed") if e["source_ip"] == src]
    assert events and events[-1]["plane"] == "regional" and events[-1]["vnet"]
    # the regional service is not reachable from a vnet that is not peered
    with vm("127.30.1.242") as c:
        r = c.get(f"https://{world.ip('se')}:{world.port}/v1/vaults",
                  headers={"Host": name, "Authorization": f"Bearer {world.keys[OWNER]}"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "EndpointUnreachable"
    assert world.audit("--endpoint", se["id"], "--code", "EndpointUnreachable")


def _set_policy(world: World, endpoint: str, doc: dict[str, Any]) -> None:
    with world.s.http() as c:
        r = c.put(f"/endpoints/{world.ids[endpoint]['id']}/policy", json=doc)
        assert r.status_code == 200, r.text


def test_aws_endpoint_policy_examples(world: World) -> None:
    """The AWS seed's two examples, with AWS's semantics: a Deny-only policy allows nobody else either."""
    ep = world.ids["e_pol"]["id"]
    owner_acct = world.ids["va"]["account_id"]
    tenant_b = world.ids["tenant_b"]["id"]
    # give tenant B a role on vc so only the endpoint policy decides
    world.s.ok("role", "assign", f"arn:vaultlink:iam::{tenant_b}:user/owner", "Reader", "--scope",
               f"/accounts/{owner_acct}/vaults/{world.ids['vc']['id']}")
    full_access = {"Statement": [{"Action": "backup:*", "Effect": "Allow", "Principal": "*", "Resource": "*"}]}
    _set_policy(world, "e_pol", full_access)
    assert world.request("127.10.1.200", "e_pol", "vc", OWNER).status_code == 200
    assert world.request("127.10.1.201", "e_pol", "vc", TENANT_B).status_code == 200
    deny_b = {"Id": "Policy1645236617225", "Version": "2012-10-17", "Statement": [
        {"Sid": "Stmt1645236612384", "Action": "backup:*", "Effect": "Deny", "Resource": "*",
         "Principal": {"AWS": [tenant_b]}}]}
    _set_policy(world, "e_pol", deny_b)
    r = world.request("127.10.1.202", "e_pol", "vc", TENANT_B)
    assert r.status_code == 403 and r.json()["error"]["code"] == "EndpointPolicyDenied"
    assert "explicit Deny" in r.json()["error"]["message"]
    # AWS: with no Allow statement everyone else is implicitly denied too
    r = world.request("127.10.1.203", "e_pol", "vc", OWNER)
    assert r.status_code == 403 and r.json()["error"]["code"] == "EndpointPolicyDenied"
    assert "explicit Deny" not in r.json()["error"]["message"]
    # adding an Allow statement lets the other accounts through; tenant B stays denied
    deny_b["Statement"].append({"Action": "*", "Effect": "Allow", "Principal": "*", "Resource": "*"})
    _set_policy(world, "e_pol", deny_b)
    assert world.request("127.10.1.204", "e_pol", "vc", OWNER).status_code == 200
    assert world.request("127.10.1.205", "e_pol", "vc", TENANT_B).json()["error"]["code"] == "EndpointPolicyDenied"
    evs = world.audit("--endpoint", ep, "--code", "EndpointPolicyDenied")
    by_src = {e["source_ip"]: e for e in evs}
    assert {"127.10.1.202", "127.10.1.203", "127.10.1.205"} <= set(by_src)
    assert by_src["127.10.1.202"]["principal"] == f"arn:vaultlink:iam::{tenant_b}:user/owner"
    assert by_src["127.10.1.202"]["action"] == "backup:DescribeBackupVault"
    allowed = world.audit("--endpoint", ep, "--decision", "allowed")
    assert {"127.10.1.200", "127.10.1.201", "127.10.1.204"} <= {e["source_ip"] for e in allowed}


def test_throttling_is_refused_with_429_and_audited(tmp_path: Path) -> None:
    cfg = tmp_path / "vaultlink.toml"
    cfg.write_text("throttle_rate = 1.0\nthrottle_burst = 3\n")
    s = start_server(tmp_path / "data", ("--config", str(cfg)))
    try:
        with s.http() as c:
            v = _post(c, "/vaults", {"name": "t", "region": "local-1"})
            _post(c, "/vnets", {"name": "n", "region": "local-1", "address_spaces": ["127.50.0.0/16"],
                                "subnets": [{"name": "s", "cidr": "127.50.1.0/24"}]})
            e = _post(c, "/endpoints", {"name": "e", "region": "local-1", "vnet": "n", "subnet": "s",
                                        "vault": "t", "group_id": "AzureBackup"})
        host = {"Host": f"{v['id']}.privatelink.l1.backup.vaultlink.internal",
                "Authorization": f"Bearer {s.owner_key}"}
        statuses = []
        with vm("127.50.1.9") as c:
            for _ in range(8):
                statuses.append(c.get(f"https://{e['ips'][0]}:{s.info['api_port']}/", headers=host))
        codes = [r.status_code for r in statuses]
        assert codes[:3] == [200, 200, 200] and 429 in codes, codes
        limited = [r for r in statuses if r.status_code == 429]
        assert all(r.json()["error"]["code"] == "RequestLimitExceeded" for r in limited)
        time.sleep(1.2)  # the summary of a second's repeated refusals is written once that second is over
        evs = s.ok("audit", "list", "--endpoint", e["id"], "--code", "RequestLimitExceeded", "--limit", "100")
        assert sum(int(ev.get("count", 1)) for ev in evs) == len(limited)  # repeats come as summaries
        assert all(ev["principal"].endswith(":user/owner") and ev["decision"] == "denied" for ev in evs)
    finally:
        stop_server(s)
