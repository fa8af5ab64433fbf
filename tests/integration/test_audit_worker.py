"""The audit writer process (``runtime/audit_worker.py``): what happens when it dies, hangs or is handed odd
values, that it dies with the service, and that ``vaultlink serve`` runs one unless told not to."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import start_server, stop_server

from vaultlink.adapters.sqlstore import SqlStore
from vaultlink.errors import ServiceUnavailable
from vaultlink.runtime.audit_worker import AuditProcess
from vaultlink.service.audit import AuditSink


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = SqlStore(f"sqlite:///{tmp_path / 'meta.db'}")
    s.migrate()
    yield s
    s.close()


def ev(i: int, **kw: Any) -> dict[str, Any]:
    return {"time": 1000.0 + i, "action": "backup:GetBackupData", "decision": "allowed", "path": f"/p/{i}", **kw}


def worker_pid(worker: AuditProcess) -> int:
    proc = worker._proc
    assert proc is not None and proc.poll() is None
    return int(proc.pid)


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True  # dead, not yet reaped by whoever adopted it
        except (ProcessLookupError, FileNotFoundError):
            return True
        try:  # a zombie of ours: reap it
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        time.sleep(0.05)
    return False


def test_a_killed_worker_is_replaced_and_the_sink_loses_nothing(store: SqlStore) -> None:
    worker = AuditProcess(store.url, timeout=30)
    sink = AuditSink(store, interval=0.01, writer=worker)
    sink.start()
    try:
        for i in range(50):
            sink.emit(ev(i))
        sink.flush()
        first = worker_pid(worker)
        os.kill(first, signal.SIGKILL)
        assert gone(first)
        for i in range(50, 100):
            sink.emit(ev(i))
        sink.flush(timeout=30)
        assert worker_pid(worker) != first and worker.restarts == 1
    finally:
        sink.close()
    paths = {e["path"] for e in store.query_audit({}, limit=10_000)}
    assert paths == {f"/p/{i}" for i in range(100)}  # at least once, nothing lost
    assert worker._proc is None  # closed with the sink


def test_a_worker_found_dead_before_a_batch_is_replaced_before_it(store: SqlStore) -> None:
    worker = AuditProcess(store.url, timeout=30)
    try:
        worker.append_audit([ev(1)])
        pid = worker_pid(worker)
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        worker.append_audit([ev(2)])  # nothing was in flight: started again, and the batch goes in
        assert worker.restarts == 1
    finally:
        worker.close()
    assert [e["path"] for e in store.query_audit({})] == ["/p/1", "/p/2"]


def test_a_hung_worker_is_killed_at_the_timeout(store: SqlStore) -> None:
    worker = AuditProcess(store.url, timeout=60)
    try:
        worker.append_audit([ev(1)])  # started and answering (its start may be slow on a busy machine)
        worker.timeout = 1.0
        pid = worker_pid(worker)
        os.kill(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        with pytest.raises(ServiceUnavailable):
            worker.append_audit([ev(2)])
        assert 0.9 <= time.monotonic() - t0 < 10
        assert gone(pid)
        worker.timeout = 60
        worker.append_audit([ev(3)])
    finally:
        worker.close()
    assert [e["path"] for e in store.query_audit({})] == ["/p/1", "/p/3"]


def test_values_marshal_cannot_carry_are_stored_as_their_text(store: SqlStore) -> None:
    when = datetime.datetime(2026, 12, 2, tzinfo=datetime.UTC)
    worker = AuditProcess(store.url, timeout=30)
    try:
        worker.append_audit([ev(1, message=when, details={"at": when, "n": [1, 2]})])
    finally:
        worker.close()
    (got,) = store.query_audit({})
    assert got["message"] == str(when) and got["details"] == {"at": str(when), "n": [1, 2]}


def test_retention_runs_in_the_worker(store: SqlStore) -> None:
    worker = AuditProcess(store.url, timeout=30)
    try:
        worker.append_audit([ev(i) for i in range(10)])
        assert worker.trim_audit(1005.0, 1000) == 5
    finally:
        worker.close()
    assert len(store.query_audit({})) == 5


PARENT = """
import sys, time
from vaultlink.runtime.audit_worker import AuditProcess
w = AuditProcess(sys.argv[1])
w.append_audit([{"time": 1.0, "action": "a", "decision": "allowed"}])
print(w._proc.pid, flush=True)
time.sleep(60)
"""


def test_the_worker_dies_with_the_service(store: SqlStore) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, store.url], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.kill()  # kill -9: no chance to close anything
        parent.wait()
        assert gone(child), "the audit worker outlived the service"
    finally:
        if parent.poll() is None:
            parent.kill()


def audit_workers_of(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmd = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            if b"vaultlink.audit_process" in cmd:
                out.append(int(child))
    return out


@pytest.mark.parametrize("worker", [True, False])
def test_serve_writes_its_audit_from_a_worker_unless_told_not_to(tmp_path: Path, worker: bool) -> None:
    cfg = tmp_path / "vaultlink.toml"
    cfg.write_text("" if worker else "audit_worker = false\n")
    s = start_server(tmp_path / "data", ("--config", str(cfg)))
    try:
        with s.http() as c:
            assert c.get("/vaults").status_code == 200
            c.get("/vaults/no-such-vault")
            events = c.get("/audit", params={"limit": 100}).json()
        assert any("no-such-vault" in str(e.get("message")) for e in events), events
        assert len(audit_workers_of(s.proc.pid)) == (1 if worker else 0)
    finally:
        stop_server(s)


def sched(pid: int) -> tuple[int, int]:
    """(nice, scheduling policy) of ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[16]), int(fields[38])


def fresh(first: int, n: int) -> list[dict[str, Any]]:
    now = time.time()
    return [ev(i, time=now) for i in range(first, first + n)]


def test_the_writer_keeps_up_in_the_background_and_comes_back_when_behind(store: SqlStore) -> None:
    worker = AuditProcess(store.url)
    try:
        worker.append_audit(fresh(0, 10))  # keeping up: the next batches go in the background
        worker.append_audit(fresh(10, 10))
        pid = worker_pid(worker)
        assert sched(pid) == (19, os.SCHED_BATCH)
        late = [ev(i, time=time.time() - 5) for i in range(20, 30)]  # its oldest event waited 5 s: behind
        worker.append_audit(late)
        assert sched(worker_pid(worker))[0] == 0 and sched(worker_pid(worker))[1] == os.SCHED_OTHER
        assert worker.trim_audit(0.0, 1_000_000) == 0  # a trim at normal priority too
        assert sched(worker_pid(worker))[0] == 0
    finally:
        worker.close()
    paths = sorted(e["path"] for e in store.query_audit({}, limit=100))
    assert paths == sorted(f"/p/{i}" for i in range(30))  # each once


def test_where_the_system_refuses_to_raise_it_a_new_writer_takes_over(
        store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from vaultlink.runtime import audit_worker

    monkeypatch.setattr(audit_worker, "_raise", lambda pid: False)  # unprivileged (no CAP_SYS_NICE)
    worker = AuditProcess(store.url)
    try:
        worker.append_audit(fresh(0, 10))
        worker.append_audit(fresh(10, 10))
        old = worker_pid(worker)
        assert sched(old)[0] == 19
        worker.append_audit([ev(i, time=time.time() - 5) for i in range(20, 30)])
        new = worker_pid(worker)
        assert new != old and gone(old) and sched(new)[0] == 0 and worker.replaced == 1
        worker.append_audit(fresh(30, 10))  # at normal priority for a while: no flapping
        assert worker_pid(worker) == new and sched(new)[0] == 0
    finally:
        worker.close()
    paths = sorted(e["path"] for e in store.query_audit({}, limit=100))
    assert paths == sorted(f"/p/{i}" for i in range(40))  # nothing lost, nothing twice
