"""``vaultlink agent run``'s log line for a queued backup (agent/worker.py): a job whose recovery point lacks files
the agent could not read says so (the ``FilesUnreadable`` code, what to do, the count, the first paths), as
``agent backup`` warns on its stderr; a whole backup's line carries none of it. Before, the line said
``Completed`` and nothing else: a service's log never showed that the point lacked files."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from vaultlink.agent import worker
from vaultlink.errors import NotFound


class _Http:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items, self.deleted = items, []  # type: ignore[var-annotated]

    def json(self, host: str, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        if method == "GET":
            out, self.items = self.items[:1], self.items[1:]
            return out
        self.deleted.append(path)
        return {}


class _Agent:
    """The two things the loop uses of an agent: its HTTP client and ``backup``."""

    def __init__(self, items: list[dict[str, Any]], stats: list[dict[str, Any]]) -> None:
        self.http, self.stats = _Http(items), stats
        self.state = type("S", (), {"storage_accounts": ["sa1"], "storage_suffix": "", "domain": "vaultlink.test"})

    def backup(self, paths: list[str], passphrase: str, tags: Any, **kw: Any) -> dict[str, Any]:
        return {"recovery_point": {"id": f"rp-{kw['job_id']}"}, "stats": self.stats.pop(0)}


def test_a_queued_backup_that_lacks_files_says_so_in_its_log_line() -> None:
    errors = [{"path": f"/srv/locked-{i}", "error": "Permission denied"} for i in range(30)]
    items = [{"id": f"w{j}", "body": {"kind": "backup", "job_id": f"j{j}", "paths": ["/srv"]}} for j in (1, 2)]
    agent = _Agent(items, [{"files": 7, "errors": errors, "error_count": 31}, {"files": 9, "error_count": 0}])
    lines: list[dict[str, Any]] = []
    handled = worker.run(agent, "pw", Path("/nonexistent"), 0.0, True, threading.Event(), lines.append)  # type: ignore[arg-type]
    assert handled == 2 and agent.http.deleted == ["/messages/w1", "/messages/w2"]
    partial, whole = (ln for ln in lines if ln.get("status") == "Completed")
    assert partial["warning"] == "FilesUnreadable" and partial["error_count"] == 31
    assert "31 file(s) or directories could not be read and are not in recovery point rp-j1" in partial["message"]
    assert "fix their permissions" in partial["message"]
    assert [e["path"] for e in partial["errors"]] == [f"/srv/locked-{i}" for i in range(20)], "the first 20 only"
    assert whole == {"event": "job", "job": "j2", "status": "Completed", "recovery_point": "rp-j2", "files": 9}


def test_an_item_the_service_took_off_already_is_no_failure() -> None:
    """The service removes the work item of a job that expired or was stopped while the agent held it: the agent's own
    removal then finds nothing, which is no failure to log."""
    agent = _Agent([{"id": "w1", "body": {"kind": "backup", "job_id": "j1", "paths": ["/srv"]}}],
                   [{"files": 1, "error_count": 0}])

    def gone(host: str, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        if method == "DELETE":
            raise NotFound("work item w1 does not exist in this queue.", field="item")
        return _Http.json(agent.http, host, method, path, body)

    agent.http.json = gone  # type: ignore[method-assign]
    lines: list[dict[str, Any]] = []
    assert worker.run(agent, "pw", Path("/nonexistent"), 0.0, True, threading.Event(), lines.append) == 1  # type: ignore[arg-type]
    assert [ln["status"] for ln in lines] == ["InProgress", "Completed"], lines
