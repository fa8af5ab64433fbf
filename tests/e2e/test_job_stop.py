"""`vaultlink job stop JOB` (the native API's `POST /v1/jobs/{id}/stop`; AWS's StopBackupJob did it alone): a queued
restore never starts and leaves its machine's queue, and the machine's agent finds nothing to do; a job that already
ended, or a copy job (the service's own), is refused with its code; a Reader may not stop one (audited). A running
job's stop is tests/integration/dataplane/test_dp_ondemand.py's and test_dp_heartbeat.py's."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import VAULTLINK, Server
from tests.e2e.test_private_backup import make_data
from tests.e2e.test_retention import Clock, audited_refusal, refused, setup_machine, world

__all__ = ["world"]


def test_a_queued_restore_stopped_never_runs(world: tuple[Server, Clock], tmp_path: Path) -> None:
    s, _clock = world
    vm, _creds = setup_machine(s, tmp_path)
    rp = vm.ok("backup", str(make_data(tmp_path / "src", 2)))["recovery_point"]["id"]
    target = tmp_path / "never"
    job = s.ok("recovery-point", "restore", rp, "--container", "vm-a", "--target", str(target))
    stopped = s.ok("job", "stop", job["id"])
    assert stopped["status"] == "Aborted" and "stopped by" in stopped["error"]
    assert s.ok("job", "show", job["id"])["status"] == "Aborted"
    refused(s.cli("job", "stop", job["id"]), "Conflict")  # it ended already
    done = subprocess.run([VAULTLINK, "agent", "run", "--once", "--state-dir", str(vm.state), "--passphrase-file",
                           str(vm.pw)], env=s.env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not target.exists() and job["id"] not in done.stdout, "the agent found nothing queued for it"

    s.ok("vault", "create", "dr", "--region", "local-2")
    copy = s.ok("recovery-point", "copy", rp, "--to", "dr")["job"]
    refused(s.cli("job", "stop", copy["id"]), "Conflict")

    other = s.ok("recovery-point", "restore", rp, "--container", "vm-a", "--target", str(target))
    reader = s.ok("principal", "create", "auditor")["api_key"]
    s.ok("role", "assign", "auditor", "Reader")
    refused(s.cli("job", "stop", other["id"], api_key=reader), "AccessDenied")
    audited_refusal(s, "AccessDenied", "job.stop")
    assert s.ok("job", "show", other["id"])["status"] == "Created"
