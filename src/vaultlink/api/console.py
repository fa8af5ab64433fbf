"""The web console (issue #21), served by ``vaultlink serve`` at ``/console/``: sign in with an API key;
vaults (list, create, show); a vault's Networking with the Public access tab (Allow/Deny, Apply) and the
Private access tab (its endpoint connections: Approve, Reject, Remove with a description). The other areas
live beside it: the private endpoint wizard (``console_wizard``), virtual networks and private DNS with the
DNS doctor (``console_network``, ``console_dns``), backup (``console_backup``), audit and monitoring
(``console_audit``); the OpenAPI explorer is served from the package's own assets (``console_docs``).

Pages are rendered on the server and work without JavaScript; every asset ships in the package. The API key
never reaches the browser again: the session cookie (``vl_session``, ``HttpOnly``, ``SameSite=Strict``,
``Secure`` over TLS) names a server-side session (8 hours, bounded) that holds it; every form carries the
session's CSRF token, and a POST whose ``Origin`` is another site's is refused. Each action runs through the
same service functions and audit as the API (``console_kit``).
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from vaultlink.api import console_audit, console_backup, console_dns, console_docs, console_network, console_wizard
from vaultlink.api import console_html as H
from vaultlink.api.calls import call, service_of
from vaultlink.api.console_kit import (
    COOKIE,
    SESSION_SECONDS,
    Ctx,
    Session,
    act,
    back,
    caller_for,
    form,
    html,
    session,
    sessions_of,
    show,
)
from vaultlink.errors import VaultlinkError
from vaultlink.service import connections, vaults

router = APIRouter(include_in_schema=False)


@router.get("/")
def root() -> RedirectResponse:
    return back("/console/vaults")


@router.get("/console/assets/console.css")
def stylesheet() -> Response:
    css = resources.files("vaultlink.api").joinpath("console_assets/console.css").read_text(encoding="utf-8")
    return Response(css, media_type="text/css", headers={"cache-control": "max-age=3600"})


@router.get("/console/login")
@router.get("/console/")
@router.get("/console")
def login_page(request: Request) -> Response:
    if session(request) is not None:
        return back("/console/vaults")
    return html(H.login())


@router.post("/console/login", name="console.login")
async def login(request: Request) -> Response:
    try:
        fields = await form(request, None, check_csrf=False)
        token = fields.get("api_key", "").strip()
        caller = call(request, "console.login", lambda c: c,
                      who=lambda: caller_for(request, Session(token, "", time.time() + 1, "")))
    except VaultlinkError as err:
        return html(H.login(f"{err.message}", error=True), 401)
    sid, _s = sessions_of(request).new(token, caller.arn)
    resp = back("/console/vaults")
    resp.set_cookie(COOKIE, sid, max_age=SESSION_SECONDS, httponly=True, samesite="strict",
                    secure=request.url.scheme == "https", path="/")
    return resp


@router.post("/console/logout", name="console.logout")
async def logout(request: Request) -> Response:
    s = session(request)
    try:
        await form(request, s)
    except VaultlinkError:  # a forged sign-out (no CSRF token) signs nobody out
        return back("/console/vaults")
    sessions_of(request).drop(request.cookies.get(COOKIE))
    resp = back("/console/login")
    resp.delete_cookie(COOKIE, path="/")
    return resp


@router.get("/console/vaults", name="console.vaults")
def vaults_page(request: Request) -> Response:
    def build(ctx: Ctx) -> str:
        items = ctx.run("vault.list", lambda c: vaults.list_vaults(ctx.svc, c))
        return H.vaults(items, list(ctx.svc.catalog.regions), ctx.csrf)

    return show(request, "Vaults", build)


@router.post("/console/vaults", name="console.vault.create")
async def create_vault(request: Request) -> Response:
    svc = service_of(request)
    return await act(request, "vault.create", lambda c, f: vaults.create_vault(
        svc, c, f.get("name", ""), f.get("region", "")), "/console/vaults", lambda v: f"Vault {v['name']} created.",
        then=lambda v: f"/console/vaults/{v['name']}?tab=public")


@router.get("/console/vaults/{name}", name="console.vault")
def vault_page(request: Request, name: str, tab: str = "public") -> Response:
    tab = "private" if tab == "private" else "public"

    def build(ctx: Ctx) -> str:
        v = ctx.run("vault.show", lambda c: vaults.get_vault(ctx.svc, c, name), target=name)
        conns: list[dict[str, Any]] = ctx.run(
            "connection.list", lambda c: connections.list_connections(ctx.svc, c, v["id"]),
            target=name) if tab == "private" else []
        return H.vault(v, conns, tab, ctx.csrf)

    return show(request, f"Vault {name}", build)


@router.post("/console/vaults/{name}/public-access", name="console.vault.public_access")
async def public_access(request: Request, name: str) -> Response:
    svc = service_of(request)
    return await act(request, "vault.update", lambda c, f: vaults.update_vault(
        svc, c, name, {"public_network_access": f.get("access", "")}), f"/console/vaults/{name}?tab=public",
        "Public network access saved.", name)


@router.post("/console/vaults/{name}/connections/{endpoint}/{action}", name="console.connection")
async def connection(request: Request, name: str, endpoint: str, action: str) -> Response:
    svc = service_of(request)
    return await act(request, f"connection.{action}", lambda c, f: connections.set_connection(
        svc, c, endpoint, action, f.get("description", ""), name), f"/console/vaults/{name}?tab=private",
        f"Connection {endpoint}: {action} done.", endpoint)


ROUTERS = (router, console_wizard.router, console_network.router, console_dns.router, console_backup.router,
           console_audit.router, console_docs.router)
