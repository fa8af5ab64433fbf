"""Agent kinds and versions at registration (issue #19): through a private endpoint a DPM older than 2022
and any MABS are refused with ``AgentNotSupported`` saying what can register and how to upgrade; nothing is
stored and the refusal is audited. DPM 2022 registers privately; MABS registers through the public endpoint.
(Self-reported: compatibility gating, not a security boundary.)"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Server
from tests.e2e.test_private_backup import VM, Vm, private_vault
from tests.e2e.test_retention import audited_refusal


def test_kinds_and_versions_are_gated_by_the_way_they_come(server: Server, tmp_path: Path) -> None:
    s = server
    vid, creds = private_vault(s, tmp_path)
    dns = f"127.0.0.1:{s.info['dns_port']}"
    vm = Vm(s, tmp_path, "dpm-old", VM)
    refused = vm.run("register", "--credentials", str(creds), "--source-ip", VM, "--dns", dns,
                     "--kind", "dpm", "--agent-version", "2019")
    assert refused.error_code == "AgentNotSupported", (refused.stdout, refused.stderr)
    assert "2022" in refused.stdout + refused.stderr and "public endpoint" in refused.stdout + refused.stderr
    mabs = Vm(s, tmp_path, "mabs", VM).run("register", "--credentials", str(creds), "--source-ip", VM,
                                           "--dns", dns, "--kind", "mabs", "--agent-version", "3.0")
    assert mabs.error_code == "AgentNotSupported"
    assert "cannot register through a private endpoint" in mabs.stdout + mabs.stderr
    odd = Vm(s, tmp_path, "odd", VM).run("register", "--credentials", str(creds), "--source-ip", VM,
                                         "--dns", dns, "--kind", "tape-robot")
    assert odd.error_code == "AgentNotSupported" and "dpm >= 2016" in odd.stdout + odd.stderr
    assert s.ok("container", "list", "prod") == [], "a refused registration stores nothing"
    assert s.ok("vault", "show", "prod")["has_protection_history"] is False
    audited_refusal(s, "AgentNotSupported", "backup:RegisterContainer")

    ok = Vm(s, tmp_path, "dpm-2022", "127.10.1.11")
    ok.ok("register", "--credentials", str(creds), "--source-ip", "127.10.1.11", "--dns", dns,
          "--kind", "dpm", "--agent-version", "2022", "--hostname", "dpm-2022")
    # MABS through the public endpoint, once the vault allows it (a machine outside every vnet)
    s.ok("vault", "update", "prod", "--public-network-access", "Enabled")
    public = Vm(s, tmp_path, "mabs-public", "127.0.0.1")
    public.ok("register", "--credentials", str(creds), "--source-ip", "127.0.0.1", "--dns", dns,
              "--kind", "mabs", "--agent-version", "3.0", "--hostname", "mabs-public")
    machines = {c["hostname"]: c for c in s.ok("container", "list", "prod")}
    assert machines["dpm-2022"]["agent_kind"] == "dpm" and machines["dpm-2022"]["agent_version"] == "2022"
    assert machines["dpm-2022"]["endpoint_ids"], "registered through the private endpoint"
    assert machines["mabs-public"]["agent_kind"] == "mabs" and not machines["mabs-public"]["endpoint_ids"]
    assert vid
