"""Audit and monitoring in the console: the audit log's newest events with the CLI's filters (allowed/denied,
vault, endpoint, code, action, principal), reloading itself every two seconds when Live is on; and a vault's
charts over the last 14 days: bytes backed up per day (its backup jobs' statistics), storage used (the
vault's usage), decisions allowed vs denied per day (its audit events)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from vaultlink.api import console_html_audit as A
from vaultlink.api.console_kit import Ctx, show
from vaultlink.service import audit_query, maintenance
from vaultlink.service.dataplane import manage

router = APIRouter(include_in_schema=False)
DAYS = 14
MAX_EVENTS = 10_000  # per decision, for a chart
LIVE_SECONDS = 2


@router.get("/console/audit", name="console.audit")
def audit_page(request: Request, decision: str = "", vault: str = "", endpoint: str = "", code: str = "",
               action: str = "", principal: str = "", live: str = "") -> Response:
    picked = {"decision": decision, "vault": vault, "endpoint": endpoint, "code": code, "action": action,
              "principal": principal}
    picked = {k: v[:200] for k, v in picked.items() if v}

    def build(ctx: Ctx) -> tuple[str, int]:
        events = ctx.run("audit.list", lambda c: audit_query.query(ctx.svc, c, dict(picked), limit=100))
        return A.audit(events, picked, bool(live)), LIVE_SECONDS if live else 0

    return show(request, "Audit", build)


def day_of(t: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(t))


def per_day(days: list[str], pairs: list[tuple[float, float]]) -> list[float]:
    """Sum ``value`` of each ``(time, value)`` into its day's slot."""
    slot = {d: 0.0 for d in days}
    for t, v in pairs:
        d = day_of(t)
        if d in slot:
            slot[d] += v
    return [slot[d] for d in days]


def events(ctx: Ctx, filters: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = ctx.run("audit.list", lambda c: audit_query.query(ctx.svc, c, filters,
                                                                                  limit=MAX_EVENTS))
    return out


@router.get("/console/vaults/{name}/monitoring", name="console.vault.monitoring")
def monitoring_page(request: Request, name: str) -> Response:
    def build(ctx: Ctx) -> str:
        svc, now = ctx.svc, time.time()
        days = [day_of(now - 86400 * i) for i in range(DAYS - 1, -1, -1)]
        since = now - 86400 * DAYS
        jobs = ctx.run("job.list", lambda c: manage.completed_since(svc, c, name, since, "Backup"), target=name,
                       vault=name)
        done = [(j.get("end") or j.get("start") or 0.0, j.get("stats") or {}) for j in jobs]
        read = per_day(days, [(t, float(s.get("bytes_read") or s.get("bytes_total") or 0)) for t, s in done])
        new = per_day(days, [(t, float(s.get("bytes_new") or 0)) for t, s in done])
        counts: dict[str, list[float]] = {}
        for decision in ("allowed", "denied"):
            wanted: dict[str, Any] = {"vault": name, "decision": decision, "since": since}
            evs = events(ctx, wanted)
            counts[decision] = per_day(days, [(ev["time"], 1.0) for ev in evs])
        usage = ctx.run("vault.usage", lambda c: maintenance.vault_usage(svc, c, name), target=name, vault=name)
        return A.monitoring(name, days, read, new, counts["allowed"], counts["denied"], usage)

    return show(request, f"Vault {name}: Monitoring", build)
