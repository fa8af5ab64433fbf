"""The DNS responder's UDP worker process (runtime/dns_worker.py) as a user meets it: one server on one
port, answers that follow every change before the change returns, no process left behind by a crash,
and the same answers with the worker turned off (``dns_udp_worker = false``)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from tests.conftest import Server, start_server, stop_server
from tests.e2e.test_dns_e2e import VM, dig

D = "vaultlink.internal"


def _children(pid: int) -> set[int]:
    """The service's child processes but its audit writer (``tests/integration/test_audit_worker.py``)."""
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out.update(int(x) for x in text)
    return {p for p in out if not _is_audit_worker(p)}


def _is_audit_worker(pid: int) -> bool:
    try:
        return b"vaultlink.audit_process" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _story(s: Server) -> tuple[str, str]:
    s.ok("vnet", "create", "net1", "--region", "local-1", "--address-space", "127.50.0.0/16",
         "--subnet", "pe=127.50.1.0/24")
    vault = s.ok("vault", "create", "v1", "--region", "local-1")
    public = f"{vault['id']}.l1.backup.{D}"
    ep = s.ok("endpoint", "create", "--name", "pe1", "--region", "local-1", "--vault", "v1",
              "--group-id", "AzureBackup", "--vnet", "net1", "--subnet", "pe", "--dns-integration")
    return public, ep["ip_configs"][0]["ip"]


@pytest.mark.parametrize("worker", ["true", "false"])
def test_answers_follow_each_change_with_and_without_the_worker(tmp_path: Path, worker: str) -> None:
    cfg = tmp_path / "vaultlink.toml"
    cfg.write_text(f"dns_udp_worker = {worker}\n")
    s = start_server(tmp_path / "data", ("--config", str(cfg)))
    try:
        public, ip = _story(s)
        assert dig(s, public, VM)[-1] == ip, "answered privately as soon as endpoint create returned"
        assert dig(s, public, VM, "+tcp")[-1] == ip
        s.ok("endpoint", "delete", "pe1")
        assert dig(s, public, VM)[-1] == "127.0.0.1", "the private answer is gone once delete returned"
        kids = _children(s.proc.pid)
        assert (len(kids) >= 1) == (worker == "true")
    finally:
        stop_server(s)


def test_a_killed_service_leaves_no_dns_process_behind(tmp_path: Path) -> None:
    s = start_server(tmp_path / "data")
    workers = _children(s.proc.pid)
    assert workers, "the UDP worker runs as a child of vaultlink serve"
    os.kill(s.proc.pid, signal.SIGKILL)
    s.proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.05)
    assert not any(_alive(p) for p in workers), "the worker exits when the service dies"
    # the port is free again: a new service may take it
    port = s.info["dns_port"]
    again = start_server(tmp_path / "data2", ("--dns-port", str(port)))
    try:
        assert again.info["dns_port"] == port
    finally:
        stop_server(again)
