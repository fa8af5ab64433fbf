"""An agent killed in the middle of a job leaves no job `InProgress` forever: a running agent reports every job
at least every minute, and the service's scheduler pass ends a job whose agent said nothing for 15 minutes
as `Failed` (code `AgentSilent`), audited. Here the job is a restore (`agent dump` into a pipe nobody reads,
so it is sure to be running when the agent is killed): nothing else would ever end it, since restores run
beside the machine's other jobs. The service's clock moves through its test clock file."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.conftest import VAULTLINK, Server
from tests.e2e.test_plans import wait_for
from tests.e2e.test_private_backup import make_data
from tests.e2e.test_retention import Clock, setup_machine, world

__all__ = ["world"]


def test_a_killed_agents_job_fails_once_its_agent_is_silent(world: tuple[Server, Clock], tmp_path: Path) -> None:
    s, clock = world
    vm, _ = setup_machine(s, tmp_path)
    src = make_data(tmp_path / "src", 8)
    rp = vm.ok("backup", str(src))["recovery_point"]["id"]

    def restores() -> list[dict[str, Any]]:
        return [j for j in s.ok("job", "list", "prod") if j["type"] == "Restore"]

    dump = subprocess.Popen([VAULTLINK, "agent", "dump", rp, "src/r0.bin", "--state-dir", str(vm.state),
                             "--passphrase-file", str(vm.pw)], env=s.env(), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:  # 4 MiB into a pipe of 64 KiB that nobody reads: the dump waits, its job InProgress
        job = wait_for("the dump's restore job", lambda: next(
            (j for j in restores() if j["status"] == "InProgress"), None), timeout=60)
    finally:
        dump.send_signal(signal.SIGKILL)
        dump.wait(timeout=10)
        assert dump.stdout is not None
        dump.stdout.close()
    clock.advance(5 / 1440)  # five minutes of silence: a slow network, not yet a dead agent
    time.sleep(1.0)  # three scheduler passes (every 0.3 s)
    assert s.ok("job", "show", job["id"])["status"] == "InProgress"

    clock.advance(11 / 1440)  # sixteen minutes
    ended = wait_for("the silent job to end", lambda: (
        lambda j: j if j["status"] == "Failed" else None)(s.ok("job", "show", job["id"])), timeout=30)
    assert ended["error_code"] == "AgentSilent" and "no word from the agent for 15 minutes" in ended["error"]
    events = wait_for("the audit event", lambda: s.ok("audit", "list", "--code", "AgentSilent"))
    assert [(e["action"], e["target"], e["decision"]) for e in events] == [("job.fail", job["id"], "denied")]
    assert [j["status"] for j in restores()] == ["Failed"], "nothing else was ended"

    # the machine works on: its next restore and backup run and complete
    out = vm.ok("restore", rp, "--target", str(tmp_path / "out"))
    assert (tmp_path / "out" / "src" / "r0.bin").read_bytes() == (src / "r0.bin").read_bytes()
    assert sorted(j["status"] for j in restores()) == ["Completed", "Failed"] and out["files"] > 0
    newest = s.ok("job", "list", "prod", "--newest", "2")
    assert [(j["type"], j["status"]) for j in newest] == [("Restore", "Completed"), ("Restore", "Failed")]
