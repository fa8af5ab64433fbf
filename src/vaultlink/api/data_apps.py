"""The data-plane apps, one per service (backup, blob, queue), built from the route modules.

The backup service always has one built-in route, ``GET /`` (``backup:DescribeBackupVault``): it
answers with the vault and what the fabric saw of the request (endpoint, source network, principal),
so an agent or a person can check that a vault's name reaches it through the right endpoint.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from vaultlink.api import routes_data_backup, routes_data_blob, routes_data_queue
from vaultlink.api.app import translate_validation
from vaultlink.api.routes_data_common import data_context
from vaultlink.errors import VaultlinkError
from vaultlink.service.core import Service
from vaultlink.service.dataplane.context import DataContext

# service -> its routers; paths are relative to the service's host name
DATA_ROUTERS: dict[str, tuple[APIRouter, ...]] = {
    "backup": (routes_data_backup.router,),
    "blob": (routes_data_blob.router,),
    "queue": (routes_data_queue.router,),
}

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


def build_data_apps(svc: Service, extra: dict[str, tuple[APIRouter, ...]] | None = None) -> dict[str, Any]:
    """One FastAPI app per data-plane service; ``extra`` adds routers (the benchmarks' streaming routes)."""
    apps: dict[str, Any] = {}
    for service, routers in DATA_ROUTERS.items():
        app = FastAPI(title=f"vaultlink {service} service", openapi_url=None, docs_url=None, redoc_url=None)
        app.state.svc = svc

        @app.exception_handler(VaultlinkError)
        async def _vl(request: Request, exc: VaultlinkError) -> JSONResponse:
            return _error(exc)

        @app.exception_handler(RequestValidationError)
        async def _val(request: Request, exc: RequestValidationError) -> JSONResponse:
            return _error(translate_validation(exc))

        for router in (*routers, *(extra or {}).get(service, ())):
            app.include_router(router)
        if service == "backup":
            app.include_router(builtin)
        apps[service] = app
    return apps
