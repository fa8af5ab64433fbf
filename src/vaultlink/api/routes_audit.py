"""The audit log: a listing (newest first, paged back with ``before``) and a live stream."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from vaultlink.api.calls import call, service_of
from vaultlink.errors import RequestLimitExceeded
from vaultlink.service import audit_query

router = APIRouter(tags=["audit"])

MAX_STREAMS = 16  # concurrent `audit list --follow` streams per server
STREAM_SECONDS = 3600.0  # a stream ends after an hour; the CLI reconnects from its last seq
POLL_SECONDS = 0.5
OWN_READS = ("audit.list", "audit.stream")
_streams = threading.BoundedSemaphore(MAX_STREAMS)


def audit_filters(
    vault: str | None = None,
    endpoint: str | None = None,
    principal: str | None = None,
    decision: str | None = None,
    code: str | None = None,
    action: str | None = None,
    plane: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> dict[str, Any]:
    """The documented filters of a listing or a stream (query parameters)."""
    return {
        "vault": vault, "endpoint": endpoint, "principal": principal, "decision": decision, "code": code,
        "action": action, "plane": plane, "since": since, "until": until,
    }


Filters = Depends(audit_filters)


@router.get("/audit", name="audit.list")
def list_audit(
    request: Request,
    filters: dict[str, Any] = Filters,
    after: int | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Without ``after``: the newest ``limit`` events (before the ``before`` seq), newest first.
    With ``after``: the events after that seq, oldest first."""
    svc = service_of(request)
    return call(request, "audit.list", lambda c: audit_query.query(svc, c, filters, after, limit, before))


@router.get("/audit/stream", name="audit.stream")
def stream_audit(request: Request, filters: dict[str, Any] = Filters, after: int | None = None) -> StreamingResponse:
    """New events after the ``after`` seq, one JSON line each, as they happen (one audited request,
    whose own polling is never audited). An empty line every few seconds keeps the stream alive."""
    svc = service_of(request)

    def start(caller: Any) -> Any:
        audit_query.query(svc, caller, filters, limit=1)  # the rights check of a listing
        if not _streams.acquire(blocking=False):
            raise RequestLimitExceeded(f"more than {MAX_STREAMS} audit streams are open on this server; retry later.")
        return caller

    caller = call(request, "audit.stream", start)

    def lines() -> Iterator[bytes]:
        if after is None:  # start at the current end of the log
            newest = audit_query.query(svc, caller, filters, limit=1)
            cursor = newest[0]["seq"] if newest else 0
        else:
            cursor = max(after, 0)
        deadline = time.monotonic() + STREAM_SECONDS
        idle = 0.0
        try:
            while time.monotonic() < deadline:
                batch = audit_query.query(svc, caller, filters, after=cursor, limit=1000)
                for ev in batch:
                    cursor = ev["seq"]
                    if ev.get("action") in OWN_READS and ev.get("principal") == caller.arn:
                        continue  # the follower's own reads are not activity
                    yield (json.dumps(ev, sort_keys=True) + "\n").encode()
                if batch:
                    idle = 0.0
                    continue
                idle += POLL_SECONDS
                if idle >= 5:
                    idle = 0.0
                    yield b"\n"
                time.sleep(POLL_SECONDS)
        finally:
            _streams.release()

    return StreamingResponse(lines(), media_type="application/x-ndjson")
