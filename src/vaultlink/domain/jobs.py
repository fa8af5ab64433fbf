"""A job's outcome as people read it (pure): the warning of a backup that made its recovery point without
files or directories it could not read (the agent sends their count with the job's end)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vaultlink.errors import FilesUnreadable


def unreadable_warning(job: Mapping[str, Any]) -> str | None:
    """``None`` for a job that lacks nothing; else what its recovery point lacks and what to do."""
    stats = job.get("stats") if job.get("status") == "Completed" else None
    count = stats.get("errors") if isinstance(stats, Mapping) else None
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        return None
    return FilesUnreadable.counted(count).message
