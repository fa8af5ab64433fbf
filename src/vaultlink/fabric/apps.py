"""The data-plane apps, one per service (backup, blob, queue), built from the route modules.

The backup service always has one built-in route, ``GET /`` (``backup:DescribeBackupVault``): it
answers with the vault and what the fabric saw of the request (endpoint, source network, principal),
so an agent or a person can check that a vault's name reaches it through the right endpoint.
"""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from vaultlink.errors import VaultlinkError
from vaultlink.fabric.contract import DATA_ROUTE_MODULES, DataContext, data_context
from vaultlink.service.core import Service

builtin = APIRouter()


@builtin.get("/", name="backup:DescribeBackupVault")
def describe_vault(ctx: DataContext = Depends(data_context)) -> dict[str, Any]:
    """The vault this name designates, and how the request reached it (a connectivity check)."""
    return {
        "vault_id": ctx.vault_id,
        "region": ctx.region,
        "host": ctx.host,
        "endpoint_id": ctx.endpoint_id,
        "vnet_id": ctx.vnet_id,
        "source_ip": ctx.source_ip,
        "principal": ctx.principal_arn,
        "action": ctx.action,
    }


def _error(err: VaultlinkError) -> JSONResponse:
    return JSONResponse({"error": err.to_dict()}, status_code=err.http_status, headers={"x-error-code": err.code})


def build_data_apps(svc: Service) -> dict[str, Any]:
    from vaultlink.api.app import translate_validation

    apps: dict[str, Any] = {}
    for service, modules in DATA_ROUTE_MODULES.items():
        app = FastAPI(title=f"vaultlink {service} service", openapi_url=None, docs_url=None, redoc_url=None)
        app.state.svc = svc

        @app.exception_handler(VaultlinkError)
        async def _vl(request: Request, exc: VaultlinkError) -> JSONResponse:
            return _error(exc)

        @app.exception_handler(RequestValidationError)
        async def _val(request: Request, exc: RequestValidationError) -> JSONResponse:
            return _error(translate_validation(exc))

        for name in modules:
            app.include_router(importlib.import_module(name).router)
        if service == "backup":
            app.include_router(builtin)
        apps[service] = app
    return apps
