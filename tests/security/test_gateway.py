"""The backup gateway under attack (issue #19): the two calls that take no credential (activation, claim)
are the only ones, each a refusal when it should be; a backup-gateway endpoint carries the gateway API
only and a backup endpoint not it; a gateway's credential does nothing but its heartbeat, on no data
plane; a stranger outside the endpoint's network reaches nothing. Each refusal has its stable code, is
audited, and leaves stored data untouched."""

from __future__ import annotations

import hashlib
import json
import time

from tests.security.conftest import APP_VM, VM_A, World

GW_HOST = "backup-gateway.local-1.vaultlink.internal"
API_HOST = "backup.local-1.vaultlink.internal"
SECRET = "c" * 48


def _gateway_endpoint(world: World) -> str:
    s = world.s
    shown = s.cli("endpoint", "show", "gwe")
    if shown.exit_code != 0:
        rules = [a for p in ("443", "1026-1028", "1031", "2222") for a in ("--sg-rule", f"tcp:{p}:VirtualNetwork")]
        s.ok("endpoint", "create", "--name", "gwe", "--service", "backup-gateway", "--region", "local-1",
             "--vnet", "app-net", "--subnet", "a", "--private-dns", *rules)
    ep = s.ok("endpoint", "show", "gwe")
    return str(ep["ips"][0])


def _post(world: World, ip: str, host: str, path: str, body: object, token: str | None = None,
          source: str = APP_VM) -> tuple[int, dict[str, object]]:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    r = world.send(source, host, headers, "POST", path, json.dumps(body).encode(), ip=ip)
    return r.status_code, r.json() if r.content else {}


def test_only_activation_and_claim_take_no_credential_and_each_endpoint_serves_its_own_api(world: World) -> None:
    ip = _gateway_endpoint(world)
    before, since = world.blobs_digest(), time.time()
    claim_hash = hashlib.sha256(SECRET.encode()).hexdigest()
    status, made = _post(world, ip, GW_HOST, "/v1/gateway/activations", {"claim_hash": claim_hash})
    assert status == 201, made
    key = str(made["activation_key"])
    # every other route on the gateway endpoint still needs a credential
    r = world.send(APP_VM, GW_HOST, {}, "GET", "/v1/gateways", ip=ip)
    assert r.status_code == 401 and r.json()["error"]["code"] == "Unauthenticated"
    assert world.audited("Unauthenticated", APP_VM, since)
    # the gateway endpoint does not carry the backup API, nor the backup endpoint the gateway's
    owner = {"authorization": f"Bearer {world.s.owner_key}"}
    r = world.send(APP_VM, GW_HOST, owner, "GET", "/v1/vaults", ip=ip)
    assert r.json()["error"]["code"] == "EndpointTargetMismatch", r.text
    status, body = _post(world, world.se["ips"][0], API_HOST, "/v1/gateway/activations", {"claim_hash": claim_hash})
    assert body["error"]["code"] == "EndpointTargetMismatch", body  # type: ignore[index]
    assert world.audited("EndpointTargetMismatch", APP_VM, since)
    # a machine outside the endpoint's network reaches nothing, credential or not
    status, body = _post(world, ip, GW_HOST, "/v1/gateway/activations", {"claim_hash": claim_hash}, source=VM_A)
    assert status in (403, 404) and body["error"]["code"] in ("EndpointUnreachable", "SecurityGroupDenied"), body  # type: ignore[index]
    # malformed activations store nothing
    for bad in ({"claim_hash": "x" * 5000}, {"claim_hash": claim_hash, "extra": 1}, {"claim_hash": 7}):
        status, body = _post(world, ip, GW_HOST, "/v1/gateway/activations", bad)
        assert status in (400, 422), (bad, body)

    # the gateway, created by the owner; its credential goes to the claim secret's holder only
    with world.s.http() as c:
        gw = c.post("/gateways", json={"activation_key": key, "name": "edge"}).json()
    assert gw["id"].startswith("bgw-"), gw
    status, body = _post(world, ip, GW_HOST, f"/v1/gateway/activations/{key}/claim", {"claim_secret": "d" * 48})
    assert status == 403 and body["error"]["code"] == "AccessDenied"  # type: ignore[index]
    status, body = _post(world, ip, GW_HOST, f"/v1/gateway/activations/{key}/claim", {"claim_secret": SECRET})
    assert status == 200, body
    cred = str(body["credential"])
    # it beats; it acts on no data plane and on no management route
    status, body = _post(world, ip, GW_HOST, "/v1/gateway/heartbeat", {"vms": []}, token=cred)
    assert status == 200, body
    r = world.send(VM_A, world.backup_host(), {"authorization": f"Bearer {cred}"}, "GET", "/recovery-points")
    assert r.status_code == 403 and r.json()["error"]["code"] == "AccessDenied", r.text
    r = world.send(APP_VM, GW_HOST, {"authorization": f"Bearer {cred}"}, "GET", "/v1/gateways", ip=ip)
    assert r.status_code == 403 and r.json()["error"]["code"] == "AccessDenied", r.text
    # a forged credential for the same gateway id is nobody
    forged = cred.rsplit(".", 1)[0] + "." + "A" * 43
    status, body = _post(world, ip, GW_HOST, "/v1/gateway/heartbeat", {"vms": []}, token=forged)
    assert status == 401 and body["error"]["code"] == "InvalidApiKey"  # type: ignore[index]
    assert world.blobs_digest() == before
