"""Shared helpers of the data-plane route modules (no routes here)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from vaultlink.fabric.contract import DataContext
from vaultlink.service.core import Service
from vaultlink.service.dataplane.containers import calling_container
from vaultlink.service.dataplane.credentials import token_kind

CONTAINER_HEADER = "x-vaultlink-container"


def svc_of(request: Request) -> Service:
    svc: Service = request.app.state.svc
    return svc


def bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth and auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def kind_of(request: Request) -> str:
    return token_kind(bearer(request))


def container_for(request: Request, ctx: DataContext) -> dict[str, Any]:
    return calling_container(svc_of(request), ctx, kind_of(request), request.headers.get(CONTAINER_HEADER))


async def container_for_async(request: Request, ctx: DataContext) -> dict[str, Any]:
    return await run_in_threadpool(container_for, request, ctx)


def _register_authenticator() -> None:
    """The agent credential authenticator joins the fabric when the data-plane routes are loaded
    (``vaultlink.service.dataplane.install`` does the same; both are idempotent)."""
    from vaultlink.fabric import contract
    from vaultlink.service.dataplane.credentials import authenticate_agent

    if authenticate_agent not in contract.DATA_AUTHENTICATORS:
        contract.DATA_AUTHENTICATORS.append(authenticate_agent)


_register_authenticator()
