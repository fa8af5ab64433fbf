"""A running job's heartbeat and the end of a job whose agent fell silent.

An agent reports every running job at least every minute (``agent/job_progress.py``), also a workload's backup
and a restore that report no progress of their own; the scheduler's pass ends a running job whose agent said
nothing for ``jobs.SILENT`` seconds as ``Failed`` (code ``AgentSilent``), audited, and leaves alone a job
whose agent spoke within that time, a copy job (the service's own) and a job that already ended."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from dp_helpers import make_tree, registered
from dp_world import PASS, DataPlane

from vaultlink.agent import job_progress
from vaultlink.data import Repository, backup
from vaultlink.data.backup import BackupResult
from vaultlink.errors import VaultlinkError
from vaultlink.service import scheduler
from vaultlink.service.dataplane import jobs, manage


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def now(self) -> float:
        return self.t


def test_a_workload_backup_that_reports_no_progress_still_says_it_is_alive(
        dp: DataPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(job_progress, "HEARTBEAT_SECONDS", 0.05)
    agent = registered(dp, tmp_path / "state")
    src = make_tree(tmp_path / "src")
    seen: list[dict[str, Any]] = []

    def engine(repo: Repository, parent: str | None) -> BackupResult:
        deadline = time.monotonic() + 10
        job = manage.list_jobs(dp.svc, dp.owner, dp.vault["name"])[0]
        while time.monotonic() < deadline and not isinstance(job.get("progress"), dict):
            time.sleep(0.02)  # a database's checkpoint: no progress callback, the heartbeat only
            job = manage.get_job(dp.svc, dp.owner, job["id"])
        seen.append(job)
        return backup([str(src)], repo, parent=parent)

    out = agent.run_job([str(src)], PASS, None, engine)
    assert seen and seen[0]["status"] == "InProgress"
    assert seen[0]["progress"]["updated"] > 0, "the heartbeat reached the service while the job ran"
    assert manage.get_job(dp.svc, dp.owner, out["job"]["id"])["status"] == "Completed"


def test_the_heartbeat_repeats_the_last_report_and_stops_with_the_job() -> None:
    sent: list[dict[str, Any]] = []
    rep = job_progress.JobProgress(sent.append, every=0.0, heartbeat=0.05)
    from vaultlink.data import Progress

    with rep.beating():
        rep(Progress(files_total=3, bytes_total=30, files_done=1, bytes_done=10))
        deadline = time.monotonic() + 5
        while len(sent) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(sent) >= 3 and all(s["bytes_done"] == 10 and s["files_total"] == 3 for s in sent)
    assert sent[-1]["elapsed"] >= sent[1]["elapsed"] > 0, "each beat brings the elapsed time up to date"
    n = len(sent)
    time.sleep(0.2)
    assert len(sent) <= n + 1, "no beat once the job is over (one may have been in flight)"

    def refuses(report: dict[str, Any]) -> None:
        raise RuntimeError("the service is gone")

    with job_progress.JobProgress(refuses, heartbeat=0.01).beating():
        time.sleep(0.1)  # a failing report costs nothing but that report


def test_a_silent_agents_running_job_fails_at_the_schedulers_pass(dp: DataPlane, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(dp.svc, "clock", clock)
    a = registered(dp, tmp_path / "a", hostname="vm-a")
    b = registered(dp, tmp_path / "b", hostname="vm-b")
    dead = a._call("POST", "/jobs", {"paths": [str(tmp_path)], "job_id": None})["job"]["id"]
    alive = b._call("POST", "/jobs", {"paths": [str(tmp_path)], "job_id": None})["job"]["id"]
    c = registered(dp, tmp_path / "c", hostname="vm-c")
    done = c._call("POST", "/jobs", {"paths": [str(tmp_path)], "job_id": None})["job"]["id"]
    c._call("POST", f"/jobs/{done}/finish", {"status": "Aborted", "error": "stopped by the test"})
    clock.t += jobs.SILENT - 60
    report = {"files_total": 1, "bytes_total": 1, "files_done": 0, "bytes_done": 0, "bytes_new": 0, "elapsed": 1}
    b._call("POST", f"/jobs/{alive}/progress", {"progress": report})  # b's agent is still at work
    assert scheduler.expire_jobs(dp.svc, clock.t) == 0, "fifteen minutes have not passed yet"
    clock.t += 61
    assert scheduler.expire_jobs(dp.svc, clock.t) == 1
    failed = manage.get_job(dp.svc, dp.owner, dead)
    assert failed["status"] == "Failed" and failed["error_code"] == "AgentSilent" and failed["end"] == clock.t
    assert "no word from the agent for 15 minutes" in failed["error"]
    assert manage.get_job(dp.svc, dp.owner, alive)["status"] == "InProgress"
    assert manage.get_job(dp.svc, dp.owner, done)["status"] == "Aborted"
    dp.svc.audit.flush()
    events = dp.svc.store.query_audit({"code": "AgentSilent"}, 0, 10)
    assert [(e["action"], e["target"], e["decision"]) for e in events] == [("job.fail", dead, "denied")]
    # the agent that was taken for dead cannot complete or report the job any more
    with pytest.raises(Exception) as refused:
        a._call("POST", f"/jobs/{dead}/progress", {"progress": report})
    assert getattr(refused.value, "code", "") == "Conflict"
    assert scheduler.expire_jobs(dp.svc, clock.t + jobs.SILENT) == 1, "b's job falls silent in its turn"
    assert scheduler.expire_jobs(dp.svc, clock.t + 2 * jobs.SILENT) == 0, "an ended job is never ended again"


def test_a_report_never_waits_for_the_heartbeats_request() -> None:
    """A heartbeat's request to a service that answers slowly does not hold up the job: its own report while the
    heartbeat's is on its way is left for the next one."""
    from vaultlink.data import Progress

    started, release = threading.Event(), threading.Event()
    sent: list[dict[str, Any]] = []

    def slow(report: dict[str, Any]) -> None:
        sent.append(report)
        started.set()
        release.wait(10)

    rep = job_progress.JobProgress(slow, every=0.0, heartbeat=0.01)
    with rep.beating():
        assert started.wait(5)  # the heartbeat's request hangs
        t = time.monotonic()
        rep(Progress(files_total=1, bytes_total=1))
        assert time.monotonic() - t < 1, "the job went on"
        release.set()
    assert len(sent) >= 1


def test_a_workload_stream_stopped_on_the_service_stops_at_its_next_piece(
        dp: DataPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database's stream reports no progress of its own: the heartbeat finds that its job ended on the service
    (StopBackupJob) and stops the repository it fills, so the stream stops at its next piece. Before, it streamed to
    its end and only then had its commit refused."""
    from vaultlink.data.stream import backup_stream
    from vaultlink.service.dataplane import ondemand

    monkeypatch.setattr(job_progress, "HEARTBEAT_SECONDS", 0.05)
    agent = registered(dp, tmp_path / "state")
    sent = [0]

    class Slow(io.RawIOBase):  # a database sending 64 KiB every 10 ms, for ten seconds at most
        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            if sent[0] >= 1000:
                return 0
            time.sleep(0.01)
            sent[0] += 1
            n = min(len(b), 65536)
            b[:n] = bytes([sent[0] % 256]) * n
            return n

    def engine(repo: Repository, parent: str | None) -> BackupResult:
        return backup_stream("db.tar", io.BufferedReader(Slow()), repo, parent=parent)

    def stop_when_running() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            running = manage.list_jobs(dp.svc, dp.owner, dp.vault["name"], "inprogress")
            if running and sent[0] > 20:
                ondemand.stop_job(dp.svc, dp.owner, running[0]["id"])
                return
            time.sleep(0.02)

    stopper = threading.Thread(target=stop_when_running)
    stopper.start()
    t0 = time.monotonic()
    with pytest.raises(VaultlinkError, match="already ended \\(Aborted: stopped by"):
        agent.run_job([str(tmp_path / "db")], PASS, None, engine)
    stopper.join()
    assert sent[0] < 500 and time.monotonic() - t0 < 6, f"streamed {sent[0]} of 1000 pieces after the stop"
    assert manage.list_recovery_points(dp.svc, dp.owner, dp.vault["name"]) == []


def test_a_dump_stopped_on_the_service_stops_at_its_next_chunk(dp: DataPlane, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """``agent dump`` into a slow reader: the job stopped on the service ends the dump at its next chunk."""
    from vaultlink.service.dataplane import ondemand

    monkeypatch.setattr(job_progress, "HEARTBEAT_SECONDS", 0.05)
    agent = registered(dp, tmp_path / "state")
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(24 << 20))  # a few dozen chunks
    rp = agent.backup([str(src)], PASS)["recovery_point"]["id"]
    writes: list[int] = []

    class SlowPipe(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b: Any) -> int:
            writes.append(len(b))
            if len(writes) == 2:
                [job] = manage.list_jobs(dp.svc, dp.owner, dp.vault["name"], "inprogress")
                ondemand.stop_job(dp.svc, dp.owner, job["id"], jobs.AGENT_JOBS)  # a restore: the native job stop
            time.sleep(0.2)  # a reader slower than the heartbeat
            return len(b)

    with pytest.raises(VaultlinkError, match="already ended \\(Aborted: stopped by"):
        agent.dump(rp, "src/big.bin", PASS, SlowPipe())  # type: ignore[arg-type]
    assert sum(writes) < (24 << 20) // 2, f"{sum(writes):,} bytes written after the stop"
