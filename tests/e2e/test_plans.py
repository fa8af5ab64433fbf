"""A backup plan end to end: the service's scheduler queues a 1-minute rule's runs, a long-running
`vaultlink agent run` takes them through the private endpoint, missed windows expire visibly; then the
retention story on the points it made (the service's clock moved ahead through its test clock file)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.conftest import VAULTLINK, Server
from tests.e2e.test_data_path import vm
from tests.e2e.test_private_backup import make_data
from tests.e2e.test_retention import Clock, refused, setup_machine, world

__all__ = ["world"]


def wait_for(what: str, probe: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_plan_schedule_agent_run_expiry_and_retention(world: tuple[Server, Clock], tmp_path: Path) -> None:
    s, clock = world
    vm_a, _ = setup_machine(s, tmp_path)
    src = make_data(tmp_path / "src", 4)
    (src / "scratch.skip").write_text("left out by the selection\n")
    s.ok("vault", "create", "dr", "--region", "local-2")
    plan = {"rules": [{"name": "every-minute", "vault": "prod", "schedule": "cron(* * * * ? *)",
                       "timezone": "Europe/Paris", "start_window_minutes": 5, "delete_after_days": 1,
                       "copy_to": [{"vault": "dr", "delete_after_days": 30}]}],
            "selections": [{"name": "docs", "tags": {"env": "prod"}, "paths": [str(src)], "exclude": ["*.skip"]}]}
    assert s.ok("container", "tag", "prod", "vm-a", "--tag", "env=prod")["tags"] == {"env": "prod"}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    created = s.ok("plan", "create", "nightly", "--file", str(tmp_path / "plan.json"))
    assert created["rules"][0]["schedule"] == "* * * * *" and created["arn"].endswith(created["id"])
    bad = {**plan, "rules": [{**plan["rules"][0], "schedule": "cron(61 * * * ? *)"}]}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    refused(s.cli("plan", "create", "bad", "--file", str(tmp_path / "bad.json")), "InvalidInput")

    log = open(tmp_path / "agent-run.log", "w")  # noqa: SIM115 - the agent writes to it until stopped
    agent = subprocess.Popen(
        [VAULTLINK, "agent", "run", "--state-dir", str(vm_a.state), "--passphrase-file", str(vm_a.pw), "--poll",
         "0.3"], env=s.env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        points: list[dict[str, Any]] = []
        for n in (1, 2):  # two scheduled runs, one per minute of the service's clock
            clock.advance(61 / 86400)
            points = wait_for(f"scheduled backup {n}", lambda n=n: (
                lambda rps: rps if len(rps) >= n else None)(s.ok("recovery-point", "list", "prod")))
        # a minute of the clock can hold two boundaries: let every queued run finish before stopping
        wait_for("the queued runs to finish", lambda: (lambda js: js if js and all(
            j["status"] == "Completed" for j in js) else None)(
            [j for j in s.ok("job", "list", "prod") if j.get("plan") == "nightly"]))
    finally:
        agent.send_signal(signal.SIGTERM)
        rc = agent.wait(timeout=60)
        log.close()
    assert rc == 0, (tmp_path / "agent-run.log").read_text()
    # the service's clock is real time plus the offset, so a real minute boundary may have queued one more run
    # while the agent was still up: count only once it has stopped
    jobs = [j for j in s.ok("job", "list", "prod") if j.get("plan") == "nightly" and j["status"] == "Completed"]
    points = s.ok("recovery-point", "list", "prod")
    assert len(jobs) == len(points) >= 2 and all(p["expires"] for p in points)
    events = [json.loads(ln) for ln in (tmp_path / "agent-run.log").read_text().splitlines() if ln.startswith("{")]
    assert [e["status"] for e in events if e["event"] == "job"].count("Completed") == len(points)
    # the rule's copy action: every new point is copied to the other region's vault, with its own lifecycle
    copies = wait_for("the copies", lambda: (lambda cs: cs if len(cs) == len(points) else None)(
        s.ok("recovery-point", "list", "dr")))
    assert {c["copied_from"] for c in copies} == {p["arn"] for p in points}
    listed = [n["path"] for n in vm_a.ok("ls", points[0]["id"])]  # the selection's exclude reached the agent
    assert "src/scratch.skip" not in listed and "src/notes.txt" in listed, listed

    # no agent running: the next run waits in the queue, then its start window (5 minutes) passes
    clock.advance(61 / 86400)
    wait_for("a queued job", lambda: [j for j in s.ok("job", "list", "prod", "--status", "Created")])
    clock.advance(6 * 60 / 86400)
    expired = wait_for("an expired job", lambda: s.ok("job", "list", "prod", "--status", "EXPIRED"))
    assert expired[0]["error"] and expired[0]["plan"] == "nightly"
    assert s.ok("audit", "list", "--action", "job.expire")
    s.ok("plan", "delete", "nightly")

    rp2 = points[-1]["id"]
    s.ok("recovery-point", "update", rp2, "--retention-days", "30")
    clock.advance(2)  # the other points' one-day lifecycles end: the service deletes them, prune their packs
    pruned = s.ok("vault", "prune", "prod")
    assert pruned["expired"] == len(points) - 1
    assert [p["id"] for p in s.ok("recovery-point", "list", "prod")] == [rp2]
    assert s.ok("recovery-point", "delete", rp2)["status"] == "SoftDeleted"
    assert s.ok("recovery-point", "undelete", rp2)["status"] == "Completed"
    s.ok("vault", "lock", "put", "prod", "--min-retention-days", "7")
    refused(s.cli("recovery-point", "delete", rp2), "RecoveryPointLocked")
    vm_a.ok("restore", rp2, "--target", str(tmp_path / "out"))

    # the machine's own credential cannot overwrite its manifest
    state = json.loads((vm_a.state / "state.json").read_text())
    ip = s.ok("endpoint", "show", "pe1")["ips"][0]
    host = f"{state['write_account']}.blob.vaultlink.internal"
    manifest = s.ok("recovery-point", "show", rp2)["manifest"]
    with vm(vm_a.source_ip) as c:
        r = c.put(f"https://{ip}:{s.info['api_port']}/{manifest}", content=b"garbage",
                  headers={"Host": host, "Authorization": f"Bearer {state['credential']}"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "ContentMismatch"
    assert s.ok("audit", "list", "--code", "ContentMismatch")
    vm_a.ok("check", "--read-data")


def test_a_scheduled_run_the_machine_cannot_start_fails_with_its_reason(world: tuple[Server, Clock],
                                                                        tmp_path: Path) -> None:
    """A selection's path missing on the machine: the queued job used to wait in ``Created`` after the agent
    gave up on it, then expire with "start window ended", which says nothing of the path. It fails now, with
    the agent's reason, as soon as the agent takes it."""
    s, clock = world
    vm_a, _ = setup_machine(s, tmp_path)
    missing = tmp_path / "not-made-yet"
    plan = {"rules": [{"name": "every-minute", "vault": "prod", "schedule": "cron(* * * * ? *)",
                       "start_window_minutes": 60}],
            "selections": [{"name": "data", "container": "vm-a", "paths": [str(missing)]}]}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    s.ok("plan", "create", "nightly", "--file", str(tmp_path / "plan.json"))
    clock.advance(61 / 86400)
    queued = wait_for("a queued job", lambda: s.ok("job", "list", "prod", "--status", "Created"))
    run = subprocess.run([VAULTLINK, "agent", "run", "--once", "--state-dir", str(vm_a.state), "--passphrase-file",
                          str(vm_a.pw)], env=s.env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    job = s.ok("job", "show", queued[0]["id"])
    assert job["status"] == "Failed" and f"backup path {missing} does not exist" in job["error"], job
    logged = [json.loads(ln) for ln in run.stdout.splitlines() if ln.startswith("{")]
    assert {e["error"] for e in logged if e.get("status") == "Failed"} == {"NotFound"}
    assert not s.ok("recovery-point", "list", "prod")
