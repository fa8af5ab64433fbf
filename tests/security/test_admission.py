"""The admission cache (``fabric/admission.py``) never answers with a decision the current state would not
make: the same request, repeated until it is remembered, is refused as soon as its key is revoked, its role
removed, the endpoint policy or the connection changes; the throttle and the source address's anonymous
bucket still count every repeat."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import Server, start_server, stop_server
from tests.e2e.test_data_path import vm
from tests.e2e.test_private_backup import private_vault

VM = "127.10.1.10"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Server, dict[str, Any]]]:
    cfg = tmp_path / "serve.toml"
    cfg.write_text("throttle_rate = 5.0\nthrottle_burst = 30\nanon_throttle_rate = 0.5\nanon_throttle_burst = 20\n")
    s = start_server(tmp_path / "data", ("--config", str(cfg)))
    try:
        vid, _creds = private_vault(s, tmp_path)
        conf = next(c for c in s.ok("endpoint", "show", "pe1")["ip_configs"] if ".backup." in c["fqdn"])
        acct = s.ok("vault", "show", "prod")["account_id"]
        yield s, {"vid": vid, "ip": conf["ip"], "host": conf["fqdn"], "acct": acct}
    finally:
        stop_server(s)


def ask(s: Server, w: dict[str, Any], key: str, times: int = 3) -> list[tuple[int, str | None]]:
    """``GET /`` of the vault's backup service through its private endpoint, ``times`` times on one
    connection: (status, error code) of each."""
    out: list[tuple[int, str | None]] = []
    with vm(VM) as c:
        for _ in range(times):
            r = c.get(f"https://{w['ip']}:{s.info['api_port']}/",
                      headers={"Authorization": f"Bearer {key}", "Host": w["host"]})
            out.append((r.status_code, r.headers.get("x-error-code")))
    return out


def test_a_remembered_admission_ends_with_the_key_role_policy_or_connection(
        world: tuple[Server, dict[str, Any]], tmp_path: Path) -> None:
    s, w = world
    key = s.ok("principal", "create", "oscar")["api_key"]
    assert ask(s, w, key, 1) == [(403, "AccessDenied")]  # no role yet: refusals are never remembered
    s.ok("role", "assign", "oscar", "Reader", "--scope", f"/accounts/{w['acct']}/vaults/{w['vid']}")
    assert ask(s, w, key) == [(200, None)] * 3

    # a role removed: the very same request is refused at once
    assignment = next(a for a in s.ok("role", "list") if a.get("role") == "Reader")
    s.ok("role", "remove", assignment["id"])
    assert ask(s, w, key, 2) == [(403, "AccessDenied")] * 2
    s.ok("role", "assign", "oscar", "Reader", "--scope", f"/accounts/{w['acct']}/vaults/{w['vid']}")
    assert ask(s, w, key) == [(200, None)] * 3

    # the endpoint policy changed
    deny = tmp_path / "deny.json"
    deny.write_text(json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
        {"Sid": "NoDescribe", "Effect": "Deny", "Principal": "*", "Action": "backup:DescribeBackupVault",
         "Resource": "*"}]}))
    s.ok("endpoint", "policy", "set", "pe1", str(deny))
    assert ask(s, w, key, 2) == [(403, "EndpointPolicyDenied")] * 2
    s.ok("endpoint", "policy", "reset", "pe1")
    assert ask(s, w, key) == [(200, None)] * 3

    # a policy that reads the clock is asked every time: allowed until a moment, then not
    until = time.time() + 4
    clocked = tmp_path / "until.json"
    clocked.write_text(json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"DateLessThan": {
            "aws:CurrentTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(until))}}}]}))
    s.ok("endpoint", "policy", "set", "pe1", str(clocked))
    assert ask(s, w, key) == [(200, None)] * 3
    time.sleep(max(0.0, until - time.time()) + 1.1)
    assert ask(s, w, key, 2) == [(403, "EndpointPolicyDenied")] * 2
    s.ok("endpoint", "policy", "reset", "pe1")

    # the key revoked
    kid = s.ok("key", "list", "--principal", "oscar")[0]["id"]
    s.ok("key", "revoke", kid)
    assert ask(s, w, key, 2) == [(401, "InvalidApiKey")] * 2

    # the connection rejected by the vault's owner
    owner = s.owner_key
    assert ask(s, w, owner) == [(200, None)] * 3
    s.ok("endpoint", "connection", "reject", "pe1", "--vault", "prod", "--description", "no")
    assert ask(s, w, owner, 2) == [(403, "EndpointConnectionRejected")] * 2
    denied = {e["code"] for e in s.ok("audit", "list", "--decision", "denied", "--limit", "1000")}
    assert {"AccessDenied", "EndpointPolicyDenied", "InvalidApiKey", "EndpointConnectionRejected"} <= denied


def test_repeats_still_pay_the_throttle_and_the_anonymous_bucket(world: tuple[Server, dict[str, Any]]) -> None:
    s, w = world
    key = s.owner_key
    got = ask(s, w, key, 45)  # a burst of 30 at 5/s: the cached repeats are throttled like the first ones
    assert got[0] == (200, None)
    assert (429, "RequestLimitExceeded") in got and got.count((200, None)) <= 32

    # failed authentications from the machine's address empty its anonymous bucket; then even a request
    # the cache remembers is refused from that address, as it is without the cache
    bad = ask(s, w, "vlk_AKNOPE_secret", 25)
    assert (401, "InvalidApiKey") in bad and (429, "RequestLimitExceeded") in bad
    with vm(VM) as c:
        r = c.get(f"https://{w['ip']}:{s.info['api_port']}/",
                  headers={"Authorization": f"Bearer {key}", "Host": w["host"]})
    assert r.status_code == 429 and "failed-authentication requests from 127.10.1.10" in r.json()["error"]["message"]


def hits(s: Server) -> int:
    """Requests the fabric admitted from its admission cache so far (``/metrics``)."""
    text = httpx.get(s.url + "/metrics", trust_env=False, verify=s.verify).text
    return int(float(next(ln.split()[1] for ln in text.splitlines() if ln.startswith("vaultlink_admission_hits "))))


def test_repeats_are_admitted_from_the_cache_and_what_must_be_asked_each_time_is(
        world: tuple[Server, dict[str, Any]], tmp_path: Path) -> None:
    """The refusals above are only worth something if the cache really answers repeats: it does for a plain
    key under a policy that does not read the clock, and never for refusals or a clock-reading policy."""
    s, w = world
    h = hits(s)
    assert ask(s, w, s.owner_key, 4) == [(200, None)] * 4
    assert hits(s) - h == 3  # the first request ran every check; the three after it were remembered

    stranger = s.ok("principal", "create", "nobody")["api_key"]  # no role: refused every time, never remembered
    h = hits(s)
    assert ask(s, w, stranger, 3) == [(403, "AccessDenied")] * 3
    assert hits(s) == h

    clocked = tmp_path / "until.json"
    clocked.write_text(json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": {"DateLessThan": {
            "aws:CurrentTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))}}}]}))
    s.ok("endpoint", "policy", "set", "pe1", str(clocked))
    h = hits(s)
    assert ask(s, w, s.owner_key, 3) == [(200, None)] * 3
    assert hits(s) == h  # a policy that reads the clock is asked every time
    s.ok("endpoint", "policy", "reset", "pe1")
    h = hits(s)
    assert ask(s, w, s.owner_key, 3) == [(200, None)] * 3
    assert hits(s) - h == 2
