"""Shared helpers of the data-plane route modules (no routes here)."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from vaultlink.domain.records import ContainerRecord
from vaultlink.errors import AccessDenied, VaultlinkError
from vaultlink.service import replication
from vaultlink.service.core import Service
from vaultlink.service.dataplane.containers import calling_container
from vaultlink.service.dataplane.context import DataContext
from vaultlink.service.dataplane.grants import JOB_HEADER, granted_source

CONTAINER_HEADER = "x-vaultlink-container"


def data_context(request: Request) -> DataContext:
    """FastAPI dependency: the context the pipeline attached (with the caller it checked)."""
    dp = request.scope.get("state", {}).get("dp")
    if not isinstance(dp, DataContext):
        raise VaultlinkError("data-plane request reached a handler without passing the pipeline")
    return dp


def svc_of(request: Request) -> Service:
    svc: Service = request.app.state.svc
    return svc


def container_for(request: Request, ctx: DataContext) -> ContainerRecord:
    """The machine whose data the request acts on: the caller's own, or, with a restore job's header, the
    source machine under that job's grant (read actions on one recovery point's data only)."""
    svc = svc_of(request)
    job = request.headers.get(JOB_HEADER)
    if job is not None and ctx.caller.kind != "container":
        raise AccessDenied("a restore job's grant is for the machine the job runs on (its container credential).")
    own = calling_container(svc, ctx, request.headers.get(CONTAINER_HEADER))
    c = own if job is None else granted_source(svc, own, job, ctx.action)
    if ctx.secondary:  # through the paired region's names: the replica, and only points replicated there
        c = replication.secondary_view(svc, c)
    return c


async def container_for_async(request: Request, ctx: DataContext) -> ContainerRecord:
    return await run_in_threadpool(container_for, request, ctx)
