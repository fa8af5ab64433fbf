"""Backup and restore with real processes: a real ``vaultlink serve`` (its fabric pipeline on the public
endpoint of a vault that allows public access) and agents in their own processes.

Until the DNS responder runs inside ``vaultlink serve`` the agents resolve names with a static
resolver (every vault name -> the public endpoint 127.0.0.1); the private-endpoint + DNS story is
added when it does.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import Server, start_server, stop_server

PASS = "correct horse battery staple"
AGENT = """
import json, sys
from pathlib import Path
from typing import Any
from vaultlink.agent.resolver import StaticResolver
from vaultlink.agent.session import Agent, register
from vaultlink.agent.state import load_state
r = StaticResolver({"*": "127.0.0.1"})
cmd, state = sys.argv[1], Path(sys.argv[2])
if cmd == "register":
    print(json.dumps(register(sys.argv[3], "127.0.0.1", "127.0.0.1:53", state, sys.argv[4], "vm1", resolver=r)))
elif cmd == "backup":
    print(json.dumps(Agent(load_state(state), r, retry_for=60).backup(sys.argv[4:], sys.argv[3])))
elif cmd == "restore":
    print(json.dumps(Agent(load_state(state), r).restore(sys.argv[4], sys.argv[5], sys.argv[3])))
"""


def agent(*args: str, timeout: float = 180) -> Any:
    p = subprocess.run([sys.executable, "-c", AGENT, *args], capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, "NO_PROXY": "*"})
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def setup_vault(server: Server, tmp: Path) -> str:
    server.ok("vault", "create", "v1", "--region", "local-1")
    creds = tmp / "creds.json"
    r = server.cli("vault", "credentials", "v1", "-o", str(creds), "--output", "json", json_out=False)
    assert r.exit_code == 0, r.stderr
    assert oct(creds.stat().st_mode & 0o777) == "0o600"
    return str(creds)


def make_data(root: Path, mib: int) -> Path:
    rnd = random.Random(7)
    root.mkdir(parents=True)
    for i in range(mib // 4):
        (root / f"f{i}.bin").write_bytes(rnd.randbytes(4 << 20))
    (root / "t.txt").write_text("hello\n" * 1000)
    return root


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_register_backup_restore_and_cli_lists(server: Server, tmp_path: Path) -> None:
    creds = setup_vault(server, tmp_path)
    src = make_data(tmp_path / "src", 8)
    reg = agent("register", str(tmp_path / "st"), creds, PASS)
    assert reg["new"] and len(reg["storage_accounts"]) == 1
    out = agent("backup", str(tmp_path / "st"), PASS, str(src))
    rp = out["recovery_point"]["id"]
    listed = server.ok("recovery-point", "list", "v1")
    assert [r["id"] for r in listed] == [rp] and listed[0]["files"] == 3
    assert server.ok("recovery-point", "show", rp)["hostname"] == "vm1"
    jobs = server.ok("job", "list", "v1")
    assert [(j["type"], j["status"]) for j in jobs] == [("Backup", "Completed")]
    agent("restore", str(tmp_path / "st"), PASS, rp, str(tmp_path / "out"))
    assert tree_bytes(tmp_path / "out" / "src") == tree_bytes(src)
    assert server.ok("vault", "show", "v1")["protection_history"]["item_protected"] is True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _agent_process(*args: str) -> subprocess.Popen[str]:
    """The agent script running ``args`` in a process of its own (its output read when it ends)."""
    return subprocess.Popen([sys.executable, "-c", AGENT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "NO_PROXY": "*"})


def _on_its_own_port(tmp_path: Path) -> tuple[Server, str]:
    """A server on a port of its own (so that it can be started again on it), with its data under ``tmp_path``."""
    port = str(_free_port())
    return start_server(tmp_path / "data", ("--api-port", port)), port


def _registered(srv: Server, tmp_path: Path, mib: int) -> Path:
    """A vault on ``srv``, a machine registered with it (state ``tmp_path/st``), and ``mib`` MiB of data to back up."""
    creds = setup_vault(srv, tmp_path)
    src = make_data(tmp_path / "src", mib)
    agent("register", str(tmp_path / "st"), creds, PASS)
    return src


def _restarted(srv: Server, port: str) -> Server:
    """``srv`` stopped (SIGTERM) and, a second later, started again on the same data dir and port."""
    stop_server(srv)
    time.sleep(1.0)
    return start_server(srv.data_dir, ("--api-port", port))


def test_service_restart_mid_backup_agent_retries_and_finishes(tmp_path: Path) -> None:
    srv, port = _on_its_own_port(tmp_path)
    try:
        src = _registered(srv, tmp_path, 160)
        proc = _agent_process("backup", str(tmp_path / "st"), PASS, str(src))
        blobs = srv.data_dir / "blobs"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(blobs.rglob("packs/*"))) < 2:
            time.sleep(0.05)
        srv = _restarted(srv, port)
        stdout, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 0, stderr[-3000:]
        out = json.loads(stdout.strip().splitlines()[-1])
        assert out["retries"] > 0
        agent("restore", str(tmp_path / "st"), PASS, out["recovery_point"]["id"], str(tmp_path / "out"))
        assert tree_bytes(tmp_path / "out" / "src") == tree_bytes(src)
    finally:
        stop_server(srv)


def test_killed_agent_leaves_no_recovery_point_and_next_backup_reuses(server: Server, tmp_path: Path) -> None:
    creds = setup_vault(server, tmp_path)
    src = make_data(tmp_path / "src", 160)
    agent("register", str(tmp_path / "st"), creds, PASS)
    proc = subprocess.Popen([sys.executable, "-c", AGENT, "backup", str(tmp_path / "st"), PASS, str(src)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "NO_PROXY": "*"})
    blobs = server.data_dir / "blobs"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(blobs.rglob("packs/*"))) < 6:  # 48 MiB of 8 MiB packs
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert server.ok("recovery-point", "list", "v1") == []
    out = agent("backup", str(tmp_path / "st"), PASS, str(src))
    st = out["stats"]
    assert st["bytes_new"] <= st["bytes_total"] - (30 << 20)  # the packs uploaded before the kill were reused
    assert len(server.ok("recovery-point", "list", "v1")) == 1
    statuses = sorted(j["status"] for j in server.ok("job", "list", "v1"))
    assert statuses == ["Completed", "Failed"]


def test_service_restart_mid_restore_agent_retries_and_finishes(tmp_path: Path) -> None:
    """The service stops (SIGTERM) while a restore reads its packs and comes back on the same port: the agent's
    retries carry the restore through, byte for byte, and nothing is left under a temporary name."""
    srv, port = _on_its_own_port(tmp_path)
    try:
        src = _registered(srv, tmp_path, 320)
        rp = agent("backup", str(tmp_path / "st"), PASS, str(src))["recovery_point"]["id"]
        out = tmp_path / "out"
        proc = _agent_process("restore", str(tmp_path / "st"), PASS, rp, str(out))
        staging = tmp_path / "out.vaultlink-partial"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and not any(staging.rglob("*.bin")):
            time.sleep(0.01)
        assert proc.poll() is None, "the restore ended before the service stopped: nothing was tested"
        srv = _restarted(srv, port)
        _stdout, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 0, stderr[-3000:]
        assert tree_bytes(out / "src") == tree_bytes(src)
        assert not staging.exists() and not [p for p in out.rglob("*") if "vaultlink-partial" in p.name]
    finally:
        stop_server(srv)
