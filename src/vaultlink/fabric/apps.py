"""The data-plane apps, one per service (backup, blob, queue), built from the route modules."""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from vaultlink.errors import VaultlinkError
from vaultlink.fabric.contract import DATA_ROUTE_MODULES
from vaultlink.service.core import Service


def _error(err: VaultlinkError) -> JSONResponse:
    return JSONResponse(
        {"error": err.to_dict()}, status_code=err.http_status, headers={"x-error-code": err.code}
    )


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
        apps[service] = app
    return apps
