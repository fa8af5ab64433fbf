"""The first-hour issue: what broke or misled a new user following the README, each held by a test that
drives the real ``vaultlink`` CLI against a real ``vaultlink serve``."""

from __future__ import annotations

import contextlib
import json
import queue
import re
import subprocess
import threading
import time
from pathlib import Path

from tests.conftest import VAULTLINK, Server
from tests.e2e.test_private_backup import VM, D, Vm, dig, make_data, private_vault, tree


def test_a_deleted_endpoint_can_be_recreated_and_old_points_restore(server: Server, tmp_path: Path) -> None:
    s = server
    _vid, creds = private_vault(s, tmp_path)
    dns = f"127.0.0.1:{s.info['dns_port']}"
    vm = Vm(s, tmp_path, "vm1", VM)
    assert vm.register(creds, dns).exit_code == 0
    src = make_data(tmp_path / "src", 4)
    rp = vm.ok("backup", str(src))["recovery_point"]["id"]
    s.ok("endpoint", "delete", "pe1")  # the vault's only private endpoint
    again = s.cli("endpoint", "create", "--name", "pe2", "--region", "local-1", "--vault", "prod", "--group-id",
                  "AzureBackup", "--vnet", "vm-net", "--subnet", "default", "--dns-integration")
    assert again.exit_code == 0, again.stdout
    assert vm.register(creds, dns).exit_code == 0
    vm.ok("restore", rp, "--target", str(tmp_path / "out"))
    assert tree(tmp_path / "out" / "src") == tree(src)
    # a vault that was protected before it ever had an endpoint is still refused
    s.ok("vault", "create", "old", "--region", "local-1")
    oc = tmp_path / "old.json"
    assert s.cli("vault", "credentials", "old", "-o", str(oc), json_out=False).exit_code == 0
    assert Vm(s, tmp_path, "vm2", "127.0.0.1").register(oc, dns).exit_code == 0
    refused = s.cli("endpoint", "create", "--name", "pe3", "--region", "local-1", "--vault", "old",
                    "--group-id", "AzureBackup", "--vnet", "vm-net", "--subnet", "default")
    assert refused.error_code == "VaultHasProtectionHistory"


def test_the_public_name_hint_names_the_fqdn_zone_and_doctor(server: Server, tmp_path: Path) -> None:
    s = server
    _vid, creds = private_vault(s, tmp_path)
    dns = f"127.0.0.1:{s.info['dns_port']}"
    zone = f"privatelink.blob.{D}"
    vm0 = Vm(s, tmp_path, "vm0", "127.10.1.99")
    assert vm0.register(creds, dns).exit_code == 0  # the first registration gives the vault its blob names
    link = s.ok("dns", "link", "list", zone)[0]["name"]
    s.ok("dns", "link", "remove", zone, link)
    # a registration that fails half-way (the repository cannot be created: blob names resolve publicly)
    # leaves no agent state behind
    vm = Vm(s, tmp_path, "vm1", VM)
    half = vm.register(creds, dns)
    assert half.error_code == "PublicNetworkAccessDisabled", (half.stdout, half.stderr)
    assert not (vm.state / "state.json").exists()
    vm = Vm(s, tmp_path, "vm0", "127.10.1.99")
    src = make_data(tmp_path / "src", 4)
    r = vm.run("backup", str(src))
    assert r.error_code == "PublicNetworkAccessDisabled", (r.stdout, r.stderr)
    msg = r.json["error"]["message"]
    assert f".blob.{D}" in msg and zone in msg and "vaultlink dns doctor prod" in msg
    doctor = s.cli("dns", "doctor", "prod", json_out=False)
    assert doctor.exit_code == 6 and "DnsProblemsFound" in doctor.stderr
    as_json = s.cli("dns", "doctor", "prod")
    assert as_json.exit_code == 6 and as_json.json["ok"] is False
    s.ok("dns", "link", "add", zone, "--vnet", "vm-net")
    assert s.cli("dns", "doctor", "prod", json_out=False).exit_code == 0


def test_audit_list_is_the_newest_like_tail_with_a_cursor(shared_server: Server) -> None:
    s = shared_server
    for i in range(5):
        s.ok("vault", "create", f"tail-{i}", "--region", "local-1")
    last = s.ok("audit", "list", "--action", "vault.create", "--limit", "2")
    assert [e["target"].rsplit(":", 1)[-1] for e in last] == ["tail-3", "tail-4"]
    older = s.ok("audit", "list", "--action", "vault.create", "--limit", "2", "--before", str(last[0]["seq"]))
    assert [e["target"].rsplit(":", 1)[-1] for e in older] == ["tail-1", "tail-2"]


def _lines(p: subprocess.Popen[str]) -> queue.Queue[str]:
    """The process's stdout lines on a queue (a reader thread), so that a test never blocks on readline."""
    q: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert p.stdout is not None
        for line in p.stdout:
            q.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return q


def test_audit_follow_shows_only_other_activity(shared_server: Server) -> None:
    s = shared_server
    s.ok("vault", "create", "before-follow", "--region", "local-1")
    p = subprocess.Popen([VAULTLINK, "audit", "list", "--follow", "-o", "json", "--limit", "1"], env=s.env(),
                         stdout=subprocess.PIPE, text=True)
    try:
        lines = _lines(p)
        seen: list[dict[str, object]] = [json.loads(lines.get(timeout=20))]  # the tail (--limit 1)
        time.sleep(3.0)  # several poll intervals of an old-style follower
        s.ok("vault", "create", "follow-me", "--region", "local-1")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "follow-me" not in str(seen[-1].get("target")):
            with contextlib.suppress(queue.Empty):
                seen.append(json.loads(lines.get(timeout=1)))
    finally:
        p.terminate()
        p.wait(timeout=10)
    actions = [e["action"] for e in seen[1:]]
    assert "vault.create" in actions
    assert "audit.list" not in actions and "audit.stream" not in actions, actions
    seqs = [int(str(e["seq"])) for e in seen]
    assert seqs == sorted(set(seqs)), "no event repeated or out of order"


def test_vaults_by_arn_and_iso_times(shared_server: Server) -> None:
    s = shared_server
    v = s.ok("vault", "create", "by-arn", "--region", "local-1")
    shown = s.ok("vault", "show", v["arn"])
    assert shown["id"] == v["id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", shown["created"])
    table = s.cli("account", "list", json_out=False)
    assert table.exit_code == 0 and re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", table.stdout)
    assert s.ok("audit", "list", "--vault", v["arn"], "--limit", "5")
    n = s.ok("vnet", "create", "arn-net", "--region", "local-1", "--address-space", "127.44.0.0/16",
             "--subnet", "a=127.44.1.0/24")
    assert s.ok("vnet", "show", n["arn"])["id"] == n["id"]
    e = s.ok("endpoint", "create", "--name", "arn-pe", "--region", "local-1", "--vault", v["arn"],
             "--group-id", "AzureBackup", "--vnet", n["arn"], "--subnet", "a")
    assert s.ok("endpoint", "show", e["arn"])["id"] == e["id"]


def test_endpoint_policy_denial_names_layer_statement_and_arn(server: Server, tmp_path: Path) -> None:
    s = server
    s.ok("vault", "create", "prod", "--region", "local-1")
    s.ok("vnet", "create", "app-net", "--region", "local-1", "--address-space", "127.20.0.0/16",
         "--subnet", "a=127.20.1.0/24")
    ep = s.ok("endpoint", "create", "--name", "api", "--service", "backup", "--region", "local-1",
              "--vnet", "app-net", "--subnet", "a", "--private-dns")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"Statement": [
        {"Sid": "NoListing", "Effect": "Deny", "Principal": "*", "Action": "backup:ListBackupVaults",
         "Resource": "*"},
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
    ]}))
    s.ok("endpoint", "policy", "set", ep["id"], str(policy))
    via = ("--source-ip", "127.20.1.5", "--dns", f"127.0.0.1:{s.info['dns_port']}")
    denied = s.cli(*via, "vault", "list")
    assert denied.error_code == "EndpointPolicyDenied", (denied.stdout, denied.stderr)
    err = denied.json["error"]
    assert "'NoListing'" in err["message"] and "endpoint policy" in err["message"]
    assert err["details"]["layer"] == "endpoint_policy"
    shown = s.cli(*via, "vault", "show", "prod")
    assert shown.exit_code == 0, shown.stdout
    events = s.ok("audit", "list", "--code", "EndpointPolicyDenied")
    assert events and events[-1]["endpoint"] == ep["id"] and events[-1]["source_ip"] == "127.20.1.5"
    # the same CLI from outside the vnet resolves the public address and is not subject to that policy
    assert dig(s, f"backup.local-1.{D}", "127.0.0.1") == ["127.0.0.1"]
    assert s.cli("vault", "list").exit_code == 0
