"""The foundation, end to end: a real `vaultlink serve` process driven by the real CLI."""

from __future__ import annotations

import os
import stat
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from tests.conftest import Server, start_server, stop_server


def test_first_start_is_fast_creates_owner_key_0600_and_stops_cleanly(tmp_path: Path) -> None:
    t0 = time.monotonic()
    srv = start_server(tmp_path / "d")
    started = time.monotonic() - t0
    try:
        assert started < 2.0 + 1.0, f"start took {started:.2f}s"  # 2 s target, 1 s slack for a loaded CI box
        key_file = tmp_path / "d" / "owner.key"
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        assert srv.owner_key in srv.log(), "the owner key is printed once at first start"
        assert srv.ok("vault", "list") == []
    finally:
        assert stop_server(srv) == 0
    assert "stopped" in srv.log()
    assert not (tmp_path / "d" / "server.json").exists()
    # second start: same data, key not printed again
    srv2 = start_server(tmp_path / "d")
    try:
        assert srv2.log().count(srv2.owner_key) == 1
        assert srv2.ok("vault", "list") == []
    finally:
        stop_server(srv2)


def test_sigint_also_stops_cleanly(tmp_path: Path) -> None:
    import signal

    srv = start_server(tmp_path / "d")
    srv.proc.send_signal(signal.SIGINT)
    assert srv.proc.wait(timeout=15) == 0


def test_vault_lifecycle_through_cli(shared_server: Server) -> None:
    s = shared_server
    v = s.ok(
        "vault",
        "create",
        "life",
        "--region",
        "local-1",
        "--cross-region-restore",
        "Enabled",
        "--tag",
        "env=prod",
    )
    assert v["name"] == "life" and v["region"] == "local-1" and v["public_network_access"] == "Enabled"
    assert v["cross_region_restore"] == "Enabled" and v["secondary_region"] == "local-2"
    assert v["has_protection_history"] is False and v["tags"] == {"env": "prod"}
    assert v["arn"].endswith(":backup-vault:life")
    assert any(x["id"] == v["id"] for x in s.ok("vault", "list"))
    shown = s.ok("vault", "show", "life")
    assert shown["id"] == v["id"] and shown["recovery_points"] == 0
    upd = s.ok("vault", "update", "life", "--public-network-access", "Disabled")
    assert upd["public_network_access"] == "Disabled"
    assert s.ok("vault", "show", v["id"])["public_network_access"] == "Disabled"
    assert s.ok("vault", "delete", "life")["deleted"] is True
    r = s.cli("vault", "show", "life")
    assert r.exit_code == 4 and r.error_code == "NotFound"


def test_table_output_is_default(shared_server: Server) -> None:
    r = shared_server.cli("region", "list", json_out=False)
    assert r.exit_code == 0 and "local-1" in r.stdout and "local-2" in r.stdout and "┃" in r.stdout


def test_regions_presets(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "aws", extra_args=("--regions", "aws"))
    try:
        regions = {r["name"]: r for r in srv.ok("region", "list")}
        assert len(regions) == 26
        bj = regions["cn-north-1"]
        assert bj["partition"] == "aws-cn" and bj["service_prefix"] == "cn.com.amazonaws"
        assert bj["services"] == {"backup": True, "backup-gateway": False}
        assert regions["ap-southeast-3"]["services"]["backup-gateway"] is False
        assert regions["us-east-1"]["service_names"]["backup"] == "com.amazonaws.us-east-1.backup"
        assert regions["us-gov-west-1"]["partition"] == "aws-us-gov"
        v = srv.ok("vault", "create", "cn", "--region", "cn-north-1")
        assert v["arn"].startswith("arn:aws-cn:backup:cn-north-1:")
    finally:
        stop_server(srv)
    srv = start_server(tmp_path / "az", extra_args=("--regions", "azure"))
    try:
        regions = {r["name"]: r for r in srv.ok("region", "list")}
        assert regions["eastus"]["geo"] == "eus" and regions["northeurope"]["geo"] == "ne"
        assert regions["northeurope"]["paired_region"] == "westeurope"
    finally:
        stop_server(srv)


def _stored_vaults(s: Server) -> list[dict[str, object]]:
    return list(s.ok("vault", "list"))


@pytest.mark.parametrize(
    ("args", "code", "exit_code", "field"),
    [
        (("vault", "create", "Bad_Name", "--region", "local-1"), "InvalidName", 2, "name"),
        (("vault", "create", "ok-name", "--region", "mars-1"), "UnknownRegion", 2, "region"),
        (
            ("vault", "create", "ok-name", "--region", "local-1", "--public-network-access", "Maybe"),
            "InvalidInput",
            2,
            "public_network_access",
        ),
        (("principal", "create", "9starts-with-digit"), "InvalidName", 2, "name"),
        (("role", "assign", "owner", "Superuser"), "InvalidInput", 2, "role"),
        (("role", "assign", "owner", "Reader", "--scope", "/accounts/12"), "InvalidInput", 2, "scope"),
        (("vault", "show", "no-such-vault"), "NotFound", 4, "vault"),
    ],
)
def test_bad_input_refused_with_code_and_nothing_stored(
    shared_server: Server, args: tuple[str, ...], code: str, exit_code: int, field: str
) -> None:
    s = shared_server
    before = _stored_vaults(s)
    r = s.cli(*args)
    assert r.exit_code == exit_code, r.stdout + r.stderr
    err = r.json["error"]
    assert err["code"] == code and err.get("field") == field and len(err["message"]) > 20
    assert _stored_vaults(s) == before
    ev = s.ok("audit", "list", "--code", code, "--limit", "1000")
    assert ev and ev[-1]["decision"] == "denied"
    # human output names the code and says how to fix it
    r2 = s.cli(*args, json_out=False)
    assert r2.exit_code == exit_code and f"error: {code}:" in r2.stderr


def test_duplicate_name_refused(shared_server: Server) -> None:
    s = shared_server
    s.ok("vault", "create", "dup", "--region", "local-1")
    before = _stored_vaults(s)
    r = s.cli("vault", "create", "dup", "--region", "local-2")
    assert r.exit_code == 4 and r.error_code == "AlreadyExists"
    assert _stored_vaults(s) == before


def test_http_malformed_json_wrong_types_missing_and_unknown_fields(shared_server: Server) -> None:
    s = shared_server
    before = _stored_vaults(s)
    with s.http() as h:
        r = h.post("/vaults", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "MalformedJSON"
        r = h.post("/vaults", json={"name": 5, "region": "local-1"})
        assert r.status_code == 400 and r.json()["error"] == {
            **r.json()["error"],
            "code": "InvalidType",
            "field": "name",
        }
        r = h.post("/vaults", json={"region": "local-1"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "MissingField"
        assert r.json()["error"]["field"] == "name"
        r = h.post("/vaults", json={"name": "x", "region": "local-1", "colour": "red"})
        assert r.status_code == 400 and r.json()["error"]["field"] == "colour"
        r = h.post("/vaults", json=[1, 2])
        assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidType"
        r = h.patch("/vaults/dup", json={"protection_history": {"attempted": False}})
        assert r.status_code == 400
        r = h.get("/nowhere")
        assert r.status_code == 404 and r.json()["error"]["code"] == "NotFound"
    assert _stored_vaults(s) == before
    codes = [e["code"] for e in s.ok("audit", "list", "--decision", "denied", "--limit", "1000")]
    assert "MalformedJSON" in codes and "InvalidType" in codes and "MissingField" in codes


def test_missing_malformed_and_revoked_keys(shared_server: Server) -> None:
    s = shared_server
    with httpx.Client(base_url=s.url + "/v1", trust_env=False, verify=s.verify) as h:
        r = h.get("/vaults")
        assert r.status_code == 401 and r.json()["error"]["code"] == "Unauthenticated"
        r = h.get("/vaults", headers={"Authorization": "Bearer vlk_AKNOPE_secret"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidApiKey"
        r = h.get("/vaults", headers={"Authorization": "Bearer garbage"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidApiKey"
    p = s.ok("principal", "create", "temp-user")
    key = p["api_key"]
    assert s.ok("vault", "list", api_key=key) == []  # no role: sees nothing, but is authenticated
    keys = s.ok("key", "list", "--principal", "temp-user")
    assert len(keys) == 1 and "secret_hash" not in keys[0] and "api_key" not in keys[0]
    s.ok("key", "revoke", keys[0]["id"])
    r = s.cli("vault", "list", api_key=key)
    assert r.exit_code == 3 and r.error_code == "InvalidApiKey" and "revoked" in r.json["error"]["message"]
    denied = s.ok("audit", "list", "--code", "InvalidApiKey", "--limit", "1000")
    assert denied


def test_roles_gate_every_call(shared_server: Server) -> None:
    s = shared_server
    reader = s.ok("principal", "create", "rita")["api_key"]
    operator = s.ok("principal", "create", "oscar")["api_key"]
    contrib = s.ok("principal", "create", "carl")["api_key"]
    s.ok("role", "assign", "rita", "Reader")
    s.ok("role", "assign", "carl", "Contributor")
    v = s.ok("vault", "create", "gated", "--region", "local-1")
    acct = v["account_id"]
    s.ok("role", "assign", "oscar", "Backup Operator", "--scope", f"/accounts/{acct}/vaults/{v['id']}")
    # Reader: can read, cannot write
    assert any(x["name"] == "gated" for x in s.ok("vault", "list", api_key=reader))
    r = s.cli("vault", "create", "nope", "--region", "local-1", api_key=reader)
    assert r.exit_code == 3 and r.error_code == "AccessDenied"
    r = s.cli("vault", "update", "gated", "--public-network-access", "Disabled", api_key=reader)
    assert r.error_code == "AccessDenied"
    # Backup Operator at vault scope: sees only that vault, cannot delete it
    assert [x["name"] for x in s.ok("vault", "list", api_key=operator)] == ["gated"]
    assert s.cli("vault", "delete", "gated", api_key=operator).error_code == "AccessDenied"
    # Contributor: can create vaults but cannot assign roles or create principals
    s.ok("vault", "create", "by-carl", "--region", "local-2", api_key=contrib)
    assert s.cli("role", "assign", "rita", "Owner", api_key=contrib).error_code == "AccessDenied"
    assert s.cli("principal", "create", "eve", api_key=contrib).error_code == "AccessDenied"
    assert s.ok("vault", "show", "gated")["public_network_access"] == "Enabled"  # unchanged
    ev = s.ok("audit", "list", "--code", "AccessDenied", "--limit", "1000")
    assert any(e["principal"].endswith("user/rita") and e["action"] == "vault.create" for e in ev)


def test_accounts_and_cross_account_isolation(shared_server: Server) -> None:
    s = shared_server
    acct = s.ok("account", "create", "tenant-b")
    assert len(acct["id"]) == 12 and acct["id"].isdigit()
    key_b = acct["owner_api_key"]
    s.ok("vault", "create", "b-vault", "--region", "local-1", api_key=key_b)
    # the root owner's account does not see tenant B's vault by default
    assert all(v["name"] != "b-vault" for v in s.ok("vault", "list"))
    # tenant B cannot create accounts
    assert s.cli("account", "create", "tenant-c", api_key=key_b).error_code == "AccessDenied"
    assert {a["id"] for a in s.ok("account", "list", api_key=key_b)} == {acct["id"]}
    # tenant B only sees its own audit events
    evs = s.ok("audit", "list", "--limit", "1000", api_key=key_b)
    assert evs and all(e["account_id"] == acct["id"] for e in evs)


def test_audit_filters_and_follow(shared_server: Server) -> None:
    import json
    import subprocess

    from tests.conftest import VAULTLINK

    s = shared_server
    since = time.time()
    p = subprocess.Popen(
        [VAULTLINK, "audit", "list", "--follow", "-o", "json", "--action", "vault.create"],
        env=s.env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)
        s.ok("vault", "create", "followed", "--region", "local-1")
        deadline = time.monotonic() + 15
        seen = []
        assert p.stdout is not None
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            ev = json.loads(line)
            seen.append(ev)
            if ev.get("target") and "followed" in ev["target"]:
                break
        assert any("followed" in (e.get("target") or "") for e in seen)
    finally:
        p.terminate()
        p.wait(timeout=10)
    recent = s.ok("audit", "list", "--since", str(since), "--action", "vault.create")
    # JSON times are ISO 8601 in UTC (``Z``)
    assert recent and all(e["time"].endswith("Z") for e in recent)
    assert all(
        datetime.fromisoformat(e["time"]).timestamp() >= since - 0.001 and e["action"] == "vault.create"
        for e in recent
    )
    assert all(e["decision"] == "allowed" for e in s.ok("audit", "list", "--decision", "allowed"))
    bad = s.cli("audit", "list", "--decision", "maybe")
    assert bad.error_code == "InvalidInput"


def test_openapi_is_served(shared_server: Server) -> None:
    with httpx.Client(trust_env=False, verify=shared_server.verify) as h:
        doc = h.get(shared_server.url + "/v1/openapi.json").json()
        assert doc["info"]["title"] == "vaultlink" and "/v1/vaults" in doc["paths"]
        assert h.get(shared_server.url + "/healthz").json()["status"] == "ok"


def test_cli_without_server_says_how_to_start_one(tmp_path: Path) -> None:
    import subprocess

    from tests.conftest import VAULTLINK

    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULTLINK_")}
    env["VAULTLINK_DATA_DIR"] = str(tmp_path)
    p = subprocess.run([VAULTLINK, "vault", "list"], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 5 and "vaultlink serve" in p.stderr
