"""Shared helpers of the data-plane route modules (no routes here)."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from vaultlink.domain.records import ContainerRecord
from vaultlink.errors import VaultlinkError
from vaultlink.service.core import Service
from vaultlink.service.dataplane.containers import calling_container
from vaultlink.service.dataplane.context import DataContext

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
    return calling_container(svc_of(request), ctx, request.headers.get(CONTAINER_HEADER))


async def container_for_async(request: Request, ctx: DataContext) -> ContainerRecord:
    return await run_in_threadpool(container_for, request, ctx)
