"""``scripts/cluster-demo``, as a new user runs it (README, "Running at scale"): PostgreSQL, SeaweedFS and two
servers on shared ports come up; a vault made through one is seen through the other; SIGTERM (Ctrl-C)
stops everything it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import VAULTLINK
from tests.e2e.test_cluster_failover import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_cluster_demo_runs_two_servers_as_one_and_stops_cleanly(tmp_path: Path) -> None:
    demo = Path(f"/tmp/vaultlink-demo-{tmp_path.name}")  # PostgreSQL's own user must reach it
    env = {**os.environ, "VAULTLINK_DEMO_DIR": str(demo), "VAULTLINK_DEMO_API_PORT": str(free_port()),
           "VAULTLINK_DEMO_DNS_PORT": str(free_port())}
    proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "cluster-demo")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 240
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "cluster-demo ended early:\n" + "".join(lines)
            lines.append(line)
            if "cluster-demo: ready" in line:
                break
        out = "".join(lines)
        pids = [int(p) for p in re.findall(r"server [ab] \(pid (\d+)\)", out)]
        assert len(pids) == 2, out

        def cli(server: str, *args: str) -> subprocess.CompletedProcess[str]:
            e = {k: v for k, v in os.environ.items() if not k.startswith("VAULTLINK_")}
            e["VAULTLINK_DATA_DIR"] = str(demo / server)
            return subprocess.run([VAULTLINK, *args, "-o", "json"], env=e, capture_output=True, text=True,
                                  timeout=60)

        made = cli("a", "vault", "create", "prod", "--region", "local-1")
        assert made.returncode == 0, made.stderr
        seen = cli("b", "vault", "show", "prod")
        assert seen.returncode == 0 and '"prod"' in seen.stdout, seen.stderr
    finally:
        os.kill(proc.pid, signal.SIGTERM)  # the script's own PID: its trap stops the rest by PID
        rest, _ = proc.communicate(timeout=120)
    assert "cluster-demo: stopped" in rest, rest
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"server pid {pid} still runs"
    assert not (demo / "pg" / "postmaster.pid").exists(), "PostgreSQL still runs"
    subprocess.run(["rm", "-rf", str(demo)], check=False)
