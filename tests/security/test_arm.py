"""Azure Resource Manager under attack (issue #20): no token, a bad or agent credential, another account's
subscription, an oversized body, ARM through a service endpoint, a Host header made to steer the
long-running operation's URLs: each refused with its ARM code, audited, nothing stored."""

from __future__ import annotations

import time

import httpx
from tests.security.conftest import APP_VM, World

V = "api-version=2025-04-01"


def test_arm_refuses_what_it_must(world: World) -> None:
    s = world.s
    acct = world.vault["account_id"]
    url = f"{s.url}/subscriptions/{acct}/resourcegroups"
    before, since = world.blobs_digest(), time.time()
    with httpx.Client(verify=s.verify, timeout=10) as c:
        r = c.get(f"{url}?{V}")
        assert r.status_code == 401 and r.json()["error"]["code"] == "AuthenticationFailed"
        agent = {"authorization": f"Bearer {world.a['credential']}"}
        r = c.get(f"{url}?{V}", headers=agent)
        assert r.status_code == 403 and r.json()["error"]["code"] == "AuthorizationFailed", r.text
        tenant = {"authorization": f"Bearer {world.tenant_key}"}
        r = c.put(f"{url}/stolen?{V}", headers=tenant, json={"location": "local-1"})
        assert r.json()["error"]["code"] == "InvalidAuthenticationTokenTenant", r.text
        owner = {"authorization": f"Bearer {s.owner_key}"}
        r = c.put(f"{url}/big?{V}", headers=owner, content=b"{" + b" " * (2 << 20) + b"}")
        assert r.status_code == 413, r.text
        r = c.get(f"{url}?api-version=2015-01-01", headers=owner)
        assert r.json()["error"]["code"] == "InvalidApiVersionParameter"
        r = c.get(f"{s.url}/subscriptions/{acct}/providers/Microsoft.Compute/virtualMachines?{V}", headers=owner)
        assert r.status_code == 404 and r.json()["error"]["code"] == "InvalidResourceType"
        # a Host header that is not a plain host:port never reaches a Location header
        r = c.put(f"{url}/rg-x?{V}", headers=owner, json={"location": "local-1"})
        assert r.status_code == 201
        r = c.delete(f"{url}/rg-x?{V}", headers={**owner, "host": "evil.example/x?"})
        assert r.status_code == 202 and "evil" not in r.headers["location"], r.headers
    # ARM is not served through a service endpoint
    r = world.send(APP_VM, "backup.local-1.vaultlink.internal", {"authorization": f"Bearer {s.owner_key}"}, "GET",
                   f"/subscriptions/{acct}/resourcegroups?{V}", ip=world.se["ips"][0])
    assert r.status_code == 403 and "does not serve Azure Resource Manager" in r.json()["error"]["message"], r.text
    assert world.audited("Unauthenticated", "127.0.0.1", since)
    assert world.blobs_digest() == before
