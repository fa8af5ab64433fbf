"""Two servers of one deployment on one machine (one PostgreSQL, one blob directory, ``shared_ports``: the
kernel spreads connections over both): one is killed with SIGKILL while a machine backs up through a
private endpoint; the backup finishes through the other, and the point restores byte for byte (issue #18)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from tests.conftest import VAULTLINK, Server, start_server, stop_server
from tests.e2e.test_cluster import deployment
from tests.e2e.test_private_backup import Vm, make_data, private_vault, tree

VM = "127.10.1.10"


def free_port() -> int:
    """A port free for TCP and UDP on 127.0.0.1 (the API and the DNS responder)."""
    for _ in range(50):
        with socket.socket() as t:
            t.bind(("127.0.0.1", 0))
            port = int(t.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise AssertionError("no free port")


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Server, Callable[[], Server]]]:
    """Server A, and a function that starts B (same config and ports) when the test wants it."""
    with deployment(tmp_path, "shared_ports = true\nprune_worker = false\n") as (cfg, _schema):
        yield from _pair(tmp_path, cfg)


def _pair(tmp_path: Path, cfg: Path) -> Iterator[tuple[Server, Callable[[], Server]]]:
    ports = ("--api-port", str(free_port()), "--dns-port", str(free_port()))
    servers: list[Server] = []

    def start_b() -> Server:
        b = start_server(tmp_path / "b", ("--config", str(cfg), *ports), timeout=60)
        servers.append(b)
        assert a.info["api_port"] == b.info["api_port"] and a.info["dns_port"] == b.info["dns_port"]
        (b.data_dir / "owner.key").write_text(a.owner_key + "\n")
        return b

    try:
        a = start_server(tmp_path / "a", ("--config", str(cfg), *ports), timeout=60)
        servers.append(a)
        yield a, start_b
    finally:
        for srv in reversed(servers):
            stop_server(srv)


def test_a_server_killed_during_a_backup_leaves_the_other_to_finish_it(
        pair: tuple[Server, Callable[[], Server]], tmp_path: Path) -> None:
    a, start_b = pair
    _vid, creds = private_vault(a, tmp_path)
    vm = Vm(a, tmp_path, "vm-a", VM)
    assert vm.register(creds, f"127.0.0.1:{a.info['dns_port']}").exit_code == 0
    src = make_data(tmp_path / "src", 480)
    backup = subprocess.Popen([VAULTLINK, "agent", "backup", str(src), "--state-dir", str(vm.state),
                               "--passphrase-file", str(vm.pw), "--no-progress", "-o", "json"], env=a.env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60  # the upload has begun: the agent's kept-alive connections are A's
    while not list((tmp_path / "blobs").rglob("packs/*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    backup.send_signal(signal.SIGSTOP)  # held mid-upload (so it has work left) while B joins and A dies
    try:
        assert backup.poll() is None, "the backup ended before the kill: make the data larger"
        b = start_b()  # joins A's ports
        assert b.ok("endpoint", "list"), "one store"
        killed_at = time.time()
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(timeout=10)
    finally:
        backup.send_signal(signal.SIGCONT)
    out, err = backup.communicate(timeout=300)
    assert backup.returncode == 0, (out, err)
    rp = json.loads(out)["recovery_point"]["id"]
    # the rest of the backup went through B (A is gone; the audit log is the deployment's, in PostgreSQL)
    after = [e for e in b.ok("audit", "list", "--decision", "allowed", "--limit", "1000")
             if e.get("source_ip") == VM and datetime.fromisoformat(e["time"]).timestamp() > killed_at]
    assert after, "no request of the machine reached the surviving server after the kill"
    restored = tmp_path / "restored"
    vm.s = b
    r = vm.run("restore", rp, "--target", str(restored))
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert tree(restored / "src") == tree(src)
    assert b.ok("recovery-point", "show", rp)["status"] == "Completed"
