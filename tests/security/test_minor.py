"""The security issue's minor breaks, each held."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest
from tests.conftest import raw_connection, start_server, stop_server
from tests.e2e.test_private_backup import Vm
from tests.security.conftest import VM_A, World

from vaultlink.agent.state import exclusive
from vaultlink.errors import PolicyInvalid
from vaultlink.policy import compile_policy


def test_an_action_with_whitespace_is_refused() -> None:
    for bad in (" backup:GetBackupData", "backup:GetBackupData ", "backup: GetBackupData"):
        with pytest.raises(PolicyInvalid):
            compile_policy({"Statement": [{"Effect": "Allow", "Action": bad, "Resource": "*"}]}, "identity")


def test_deeply_nested_json_gets_a_stable_code(world: World) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    r = world.send("127.0.0.1", "127.0.0.1", {"Authorization": f"Bearer {world.s.owner_key}",
                                             "Content-Type": "application/json"},
                   "POST", "/v1/vaults", body, ip="127.0.0.1")
    assert r.status_code == 400 and r.json()["error"]["code"] == "MalformedJSON", r.text


def test_errors_reveal_no_other_tenants_names(world: World) -> None:
    with world.s.http(world.tenant_key) as c:
        r = c.post("/vnets", json={"name": "mine", "region": "local-1", "address_spaces": ["127.10.0.0/16"]})
        assert r.status_code == 400 and r.json()["error"]["code"] == "CidrOverlap"
        text = r.text
        assert "vm-net" not in text and "127.10.0.0/16 of" not in text and "other_vnet" not in text
        assert c.post("/vnets", json={"name": "tv", "region": "local-1", "address_spaces": ["127.88.0.0/16"],
                                      "subnets": [{"name": "s", "cidr": "127.88.1.0/24"}]}).status_code == 201
        r = c.post("/endpoints?dry_run=true", json={"name": "x", "region": "local-2", "vault": world.vault["id"],
                                                    "group_id": "AzureBackup", "vnet": "tv", "subnet": "s"})
        assert "prod" not in r.text, r.text
        r = c.post("/endpoints", json={"name": "x", "region": "local-1", "vault": world.vault["id"],
                                       "group_id": "AzureBackup", "vnet": "tv", "subnet": "s"})
        assert r.status_code == 201 and r.json()["vault_name"] != "prod", r.text
        c.delete("/endpoints/x")


def test_a_trickled_body_meets_a_total_deadline(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("body_deadline = 2.0\nbody_timeout = 30.0\n")
    s = start_server(tmp_path / "data", ("--config", str(cfg)))
    try:
        port = int(s.info["api_port"])
        with raw_connection("127.0.0.1", port) as sk:
            sk.sendall(b"POST /v1/vaults HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                       + s.owner_key.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
            t0 = time.monotonic()
            reply = b""
            while time.monotonic() - t0 < 10:  # one byte every half second: never idle long enough for body_timeout
                try:
                    sk.sendall(b" ")
                except OSError:
                    break
                sk.settimeout(0.5)
                try:
                    got = sk.recv(4096)
                except TimeoutError:
                    continue
                reply += got
                if not got or b"\r\n\r\n" in reply:
                    break
        assert b" 408 " in reply.split(b"\r\n")[0], reply[:200]
        assert time.monotonic() - t0 < 6
    finally:
        stop_server(s)


def test_a_pre_existing_data_dir_is_tightened(tmp_path: Path) -> None:
    d = tmp_path / "data"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    s = start_server(d)
    try:
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    finally:
        stop_server(s)


def test_a_second_backup_of_one_machine_is_refused_at_start(world: World, tmp_path: Path) -> None:
    m = Vm(world.s, world.tmp, "vm-a", VM_A)
    assert json.loads((m.state / "state.json").read_text())["container_id"] == world.a["container_id"]
    src = tmp_path / "s"
    src.mkdir()
    (src / "f").write_text("x")
    with exclusive(m.state, "backup"):  # another backup of this machine is running
        r = m.run("backup", str(src))
    assert (r.exit_code, r.error_code) == (4, "BackupInProgress"), (r.stdout, r.stderr)


def test_huge_or_malformed_path_patterns_are_refused_before_anything_is_queued(world: World) -> None:
    """A restore's ``include`` and ``exclude`` and a plan selection's ``exclude`` reach an agent's work item: at
    most 1,000 patterns of at most 4,096 characters, each refused with its code before a job or a plan is
    stored."""
    with world.s.http(world.s.owner_key) as c:
        jobs = c.get("/vaults/prod/jobs").json()
        plans = c.get("/plans").json()
        for key in ("include", "exclude"):
            for patterns in (["*"] * 1001, ["x" * 4097], ["a\0b"], ["/"], "src"):
                r = c.post("/recovery-points/rp-0000000000000000/restore",
                           json={"container": "vm-a", "target": "/tmp/x", key: patterns})
                assert r.status_code in (400, 422) and r.json()["error"]["code"] in ("InvalidInput", "InvalidType")
                assert r.json()["error"].get("field", key).endswith(key), r.text
        sel = {"name": "s", "container": "vm-a", "paths": ["/srv"], "exclude": ["*"] * 1001}
        rule = {"name": "r", "vault": "prod", "schedule": "cron(0 5 ? * * *)"}
        r = c.post("/plans", json={"name": "p", "plan": {"rules": [rule], "selections": [sel]}})
        assert r.status_code == 400 and r.json()["error"]["field"] == "selections.exclude", r.text
        assert c.get("/vaults/prod/jobs").json() == jobs and c.get("/plans").json() == plans
