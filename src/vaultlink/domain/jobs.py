"""A job's outcome as people read it (pure): the warning of a backup that made its recovery point without
files or directories it could not read (the agent sends their count with the job's end)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def unreadable_warning(job: Mapping[str, Any]) -> str | None:
    """``None`` for a job that lacks nothing; else what its recovery point lacks and what to do."""
    stats = job.get("stats") if job.get("status") == "Completed" else None
    count = stats.get("errors") if isinstance(stats, Mapping) else None
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        return None
    return unreadable_text(count)


def unreadable_text(count: int, point: str = "the recovery point") -> str:
    """What a recovery point lacks when ``count`` paths could not be read, and what to do (the CLI's warning
    names the point; jobs, in the console and the AWS API, say "the recovery point")."""
    return (f"{count} file(s) or directories could not be read and are not in {point}; fix their permissions on "
            "the machine (or leave them out) and back up again.")
