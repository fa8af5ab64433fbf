"""Backup in the console: a vault's recovery points (a page at a time, newest first), jobs with live progress
(the page reloads itself while one runs), protected items, machines, plans and retention; a point's page
with Restore onto any machine of the vault (the API's ``recovery-point restore``); a job's page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from vaultlink.api import console_html_backup as B
from vaultlink.api.calls import service_of
from vaultlink.api.console_kit import Ctx, act, show
from vaultlink.service import plans, retention, retention_items, vaults
from vaultlink.service.dataplane import grants, manage

router = APIRouter(include_in_schema=False)
RECENT_JOBS = 20
LIVE_SECONDS = 2


def running(jobs: list[dict[str, Any]]) -> bool:
    return any(j.get("status") in ("InProgress", "Created") for j in jobs)


@router.get("/console/vaults/{name}/backup", name="console.vault.backup")
def backup_page(request: Request, name: str, page: int = 0) -> Response:
    def build(ctx: Ctx) -> tuple[str, int]:
        svc = ctx.svc
        total, at, shown = ctx.run("recovery.list", lambda c: manage.recovery_points_page(
            svc, c, name, page, B.POINTS_PER_PAGE), target=name, vault=name)
        jobs = ctx.run("job.list", lambda c: manage.recent_jobs(svc, c, name, RECENT_JOBS), target=name, vault=name)
        containers = ctx.run("container.list", lambda c: manage.list_containers(svc, c, name, B.MAX_SHOWN),
                             target=name, vault=name)
        items = ctx.run("item.list", lambda c: retention_items.list_items(svc, c, name, None, B.MAX_SHOWN),
                        target=name, vault=name)
        lock = ctx.run("vault.lock.show", lambda c: retention.get_lock(svc, c, name), target=name, vault=name)
        vault_id = ctx.run("vault.show", lambda c: vaults.get_vault(svc, c, name), target=name)["id"]
        rules = [(p["name"], r) for p in ctx.run("plan.list", lambda c: plans.list_plans(svc, c))
                 for r in p.get("rules") or [] if r.get("vault") == vault_id]
        body = B.backup(name, shown, total, at, jobs, containers, items, rules, lock)
        return body, LIVE_SECONDS if running(jobs) else 0

    return show(request, f"Vault {name}: Backup", build)


@router.get("/console/recovery-points/{rp_id}", name="console.recovery_point")
def point_page(request: Request, rp_id: str) -> Response:
    def build(ctx: Ctx) -> str:
        rp = ctx.run("recovery.show", lambda c: manage.get_recovery_point(ctx.svc, c, rp_id), target=rp_id)
        containers = ctx.run("container.list", lambda c: manage.list_containers(
            ctx.svc, c, rp["vault_id"], B.MAX_SHOWN), target=rp["vault_id"])
        return B.point(rp, containers, ctx.csrf)

    return show(request, f"Recovery point {rp_id}", build)


@router.post("/console/recovery-points/{rp_id}/restore", name="console.recovery.restore")
async def restore(request: Request, rp_id: str) -> Response:
    svc = service_of(request)
    return await act(request, "recovery.restore", lambda c, f: grants.start_restore_onto(
        svc, c, rp_id, f.get("container", ""), f.get("target", "").strip(), _lines(f.get("include")),
        _lines(f.get("exclude"))), f"/console/recovery-points/{rp_id}",
        lambda j: f"Restore job {j['id']} queued for its machine.", rp_id, then=lambda j: f"/console/jobs/{j['id']}")


def _lines(text: str | None) -> list[str] | None:
    """A form's patterns, one a line (blank lines skipped); None when there are none."""
    return [ln.strip() for ln in (text or "").splitlines() if ln.strip()] or None


@router.get("/console/jobs/{job_id}", name="console.job")
def job_page(request: Request, job_id: str) -> Response:
    def build(ctx: Ctx) -> tuple[str, int]:
        j = ctx.run("job.show", lambda c: manage.get_job(ctx.svc, c, job_id), target=job_id)
        vault = f'<p><a href="/console/vaults/{B.e(j.get("vault_name") or j["vault_id"])}/backup">Back to the vault'
        return B.job(j) + vault + "</a></p>", LIVE_SECONDS if running([j]) else 0

    return show(request, f"Job {job_id}", build)
