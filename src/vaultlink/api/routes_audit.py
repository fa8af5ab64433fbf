"""The audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from vaultlink.api.calls import call, service_of
from vaultlink.service import audit_query

router = APIRouter(tags=["audit"])


@router.get("/audit", name="audit.list")
def list_audit(
    request: Request,
    vault: str | None = None,
    endpoint: str | None = None,
    principal: str | None = None,
    decision: str | None = None,
    code: str | None = None,
    action: str | None = None,
    plane: str | None = None,
    since: float | None = None,
    until: float | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    svc = service_of(request)
    filters = {
        "vault": vault,
        "endpoint": endpoint,
        "principal": principal,
        "decision": decision,
        "code": code,
        "action": action,
        "plane": plane,
        "since": since,
        "until": until,
    }
    return call(request, "audit.list", lambda c: audit_query.query(svc, c, filters, after, limit))
