"""The HTTP application: routes under /v1, errors as ``{"error": {...}}``, OpenAPI served."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vaultlink import __version__
from vaultlink.api import (
    console,
    routes_audit,
    routes_dns,
    routes_endpoints,
    routes_gateways,
    routes_identity,
    routes_items,
    routes_networks,
    routes_plans,
    routes_policies,
    routes_recovery,
    routes_retention,
    routes_vaults,
)
from vaultlink.api.calls import audit_refusal
from vaultlink.api.validation import validation_problem
from vaultlink.errors import (
    InvalidInput,
    MalformedJSON,
    NotFound,
    VaultlinkError,
)
from vaultlink.service.authn import Authenticator
from vaultlink.service.core import Service

# every management route module, mounted under /v1
ROUTERS = (
    routes_identity.router,
    routes_vaults.router,
    routes_audit.router,
    routes_policies.router,
    routes_networks.router,
    routes_endpoints.router,
    routes_dns.router,
    routes_recovery.router,
    routes_retention.router,
    routes_plans.router,
    routes_items.router,
    routes_gateways.router,
)


def error_response(err: VaultlinkError) -> JSONResponse:
    return JSONResponse({"error": err.to_dict()}, status_code=err.http_status)


def translate_validation(exc: RequestValidationError) -> VaultlinkError:
    return validation_problem(exc.errors(), " (see /v1/openapi.json)")


def _action_of(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "name", None) or f"{request.method} {request.url.path}"


def create_app(svc: Service) -> FastAPI:
    app = FastAPI(
        title="vaultlink",
        version=__version__,
        description="Backups reached through private endpoints, private DNS and endpoint policies.",
        openapi_url="/v1/openapi.json",
        docs_url=None,  # the explorer is served from local assets (api/console_docs.py)
        redoc_url=None,
    )
    app.state.svc = svc
    app.state.authn = Authenticator(svc)  # shared with the fabric: one authentication path, one cache

    @app.exception_handler(VaultlinkError)
    async def _vaultlink_error(request: Request, exc: VaultlinkError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = translate_validation(exc)
        audit_refusal(request, err, _action_of(request))
        return error_response(err)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(NotFound(f"no such API path {request.url.path}; see /v1/openapi.json."))
        if exc.status_code == 405:
            err = InvalidInput(f"{request.method} is not allowed on {request.url.path}.")
            return JSONResponse({"error": err.to_dict()}, status_code=405)
        if exc.status_code == 400:  # the body could not be parsed (e.g. JSON nested too deeply)
            err = MalformedJSON(
                "the request body could not be parsed as JSON (malformed, or nested too deeply); send a JSON "
                "object of ordinary depth."
            )
            audit_refusal(request, err, _action_of(request))
            return error_response(err)
        err = InvalidInput(f"the request was refused: {exc.detail}")
        return JSONResponse({"error": err.to_dict()}, status_code=exc.status_code)

    for router in ROUTERS:
        app.include_router(router, prefix="/v1")
    for router in console.ROUTERS:  # the web console (/, /console/…) and the OpenAPI explorer (/v1/docs)
        app.include_router(router)
    @app.get("/healthz", include_in_schema=False)
    @app.get("/v1/healthz", tags=["health"])
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "fabric": svc.config.fabric}

    return app
