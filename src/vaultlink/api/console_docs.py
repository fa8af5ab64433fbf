"""The OpenAPI explorer (Swagger UI 5, which reads the OpenAPI 3.1 FastAPI writes) at ``/v1/docs``, served
from the assets the ``fastapi-offline`` package ships: no CDN, so it works on a machine without internet.
Its page may run the bundle's script (and FastAPI's few inline lines that start it) and nothing else: the
content security policy allows this origin only, and the online spec validator is off."""

from __future__ import annotations

import mimetypes
from importlib import resources

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")
BASE = "/v1/docs/assets"
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")


@router.get("/v1/docs")
def explorer() -> HTMLResponse:
    page = get_swagger_ui_html(openapi_url="/v1/openapi.json", title="vaultlink API",
                               swagger_js_url=f"{BASE}/swagger-ui-bundle.js", swagger_css_url=f"{BASE}/swagger-ui.css",
                               swagger_favicon_url=f"{BASE}/favicon.png", oauth2_redirect_url=None,
                               swagger_ui_parameters={"validatorUrl": None})
    page.headers["content-security-policy"] = CSP
    return page


@router.get("/v1/docs/assets/{name}")
def asset(name: str) -> Response:
    if name not in ASSETS:
        return Response("no such asset", status_code=404, media_type="text/plain")
    data = resources.files("fastapi_offline").joinpath("static", name).read_bytes()
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Response(data, media_type=kind, headers={"cache-control": "max-age=86400"})
