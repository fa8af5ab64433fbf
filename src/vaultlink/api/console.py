"""The web console (issue #21, first part), served by ``vaultlink serve`` at ``/console/``: sign in with an
API key; vaults (list, create, show); a vault's Networking with the Public access tab (Allow/Deny, Apply)
and the Private access tab (its endpoint connections: Approve, Reject, Remove with a description).

Pages are rendered on the server (``console_html.py``) and work without JavaScript; the one asset (CSS) is
shipped in the package. The API key never reaches the browser again: the session cookie (``vl_session``,
``HttpOnly``, ``SameSite=Strict``, ``Secure`` over TLS) names a server-side session (8 hours, bounded) that
holds it; every form carries the session's CSRF token, and a POST whose ``Origin`` is another site's is
refused. Each action runs through the same service functions and audit as the API (``calls.call``).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vaultlink.api import console_html as H
from vaultlink.api.calls import authn_of, call, client_ip, service_of
from vaultlink.errors import AccessDenied, InvalidInput, Unauthenticated, VaultlinkError
from vaultlink.service import connections, vaults
from vaultlink.service.core import Caller

router = APIRouter(include_in_schema=False)
COOKIE = "vl_session"
SESSION_SECONDS = 8 * 3600
MAX_SESSIONS = 10_000
MAX_FORM = 16 * 1024


@dataclass
class Session:
    token: str
    csrf: str
    expires: float
    user: str


class Sessions:
    """Server-side sessions: id → the API key it signed in with (bounded; expired ones swept)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Session] = {}

    def new(self, token: str, user: str) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        s = Session(token, secrets.token_urlsafe(24), time.time() + SESSION_SECONDS, user)
        with self._lock:
            now = time.time()
            for k in [k for k, v in self._by_id.items() if v.expires < now]:
                del self._by_id[k]
            if len(self._by_id) >= MAX_SESSIONS:
                self._by_id.pop(next(iter(self._by_id)))
            self._by_id[sid] = s
        return sid, s

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            s = self._by_id.get(sid)
            if s is not None and s.expires < time.time():
                del self._by_id[sid]
                return None
            return s

    def drop(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)


def sessions_of(request: Request) -> Sessions:
    store: Sessions | None = getattr(request.app.state, "console_sessions", None)
    if store is None:
        store = request.app.state.console_sessions = Sessions()
    return store


def _session(request: Request) -> Session | None:
    return sessions_of(request).get(request.cookies.get(COOKIE))


def _caller(request: Request, s: Session | None) -> Caller:
    if s is None:
        raise Unauthenticated("sign in to the console first.")
    caller = authn_of(request).authenticate(s.token, client_ip(request))
    if caller.kind != "api_key":
        raise AccessDenied("the console takes an API key.")
    return caller


async def _form(request: Request, s: Session | None, check_csrf: bool = True) -> dict[str, str]:
    """The posted form, after the same-site checks: its Origin (when sent) is this host, its CSRF token the
    session's."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise AccessDenied("this form was posted from another site.")
    body = await request.body()
    if len(body) > MAX_FORM:
        raise InvalidInput("the form is too large.")
    fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    if check_csrf and (s is None or not hmac.compare_digest(fields.get("csrf", ""), s.csrf)):
        raise AccessDenied("the form's CSRF token is missing or stale; reload the page and try again.")
    return fields


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers={
        "content-security-policy": "default-src 'self'; script-src 'none'; frame-ancestors 'none'",
        "x-frame-options": "DENY", "referrer-policy": "same-origin", "cache-control": "no-store"})


def _back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/")
def root() -> RedirectResponse:
    return _back("/console/vaults")


@router.get("/console/assets/console.css")
def stylesheet() -> Response:
    css = resources.files("vaultlink.api").joinpath("console_assets/console.css").read_text(encoding="utf-8")
    return Response(css, media_type="text/css", headers={"cache-control": "max-age=3600"})


@router.get("/console/login")
@router.get("/console/")
@router.get("/console")
def login_page(request: Request) -> Response:
    if _session(request) is not None:
        return _back("/console/vaults")
    return _html(H.login())


@router.post("/console/login", name="console.login")
async def login(request: Request) -> Response:
    try:
        fields = await _form(request, None, check_csrf=False)
        token = fields.get("api_key", "").strip()
        caller = call(request, "console.login", lambda c: c,
                      who=lambda: _caller(request, Session(token, "", time.time() + 1, "")))
    except VaultlinkError as err:
        return _html(H.login(f"{err.message}", error=True), 401)
    sid, _s = sessions_of(request).new(token, caller.arn)
    resp = _back("/console/vaults")
    resp.set_cookie(COOKIE, sid, max_age=SESSION_SECONDS, httponly=True, samesite="strict",
                    secure=request.url.scheme == "https", path="/")
    return resp


@router.post("/console/logout", name="console.logout")
async def logout(request: Request) -> Response:
    s = _session(request)
    try:
        await _form(request, s)
    except VaultlinkError:  # a forged sign-out (no CSRF token) signs nobody out
        return _back("/console/vaults")
    sessions_of(request).drop(request.cookies.get(COOKIE))
    resp = _back("/console/login")
    resp.delete_cookie(COOKIE, path="/")
    return resp


def _guard(request: Request) -> tuple[Session, Caller] | Response:
    s = _session(request)
    if s is None:
        return _back("/console/login")
    try:
        return s, _caller(request, s)
    except VaultlinkError as err:
        sessions_of(request).drop(request.cookies.get(COOKIE))
        return _html(H.login(err.message, error=True), 401)


@router.get("/console/vaults", name="console.vaults")
def vaults_page(request: Request) -> Response:
    return _vaults(request)


def _vaults(request: Request, flash: str = "", error: bool = False) -> Response:
    got = _guard(request)
    if isinstance(got, Response):
        return got
    s, caller = got
    svc = service_of(request)
    items = call(request, "vault.list", lambda c: vaults.list_vaults(svc, c), who=lambda: caller)
    return _html(H.page("Vaults", H.vaults(items, list(svc.catalog.regions), s.csrf), user=s.user, csrf=s.csrf,
                        flash=flash, error=error))


@router.post("/console/vaults", name="console.vault.create")
async def create_vault(request: Request) -> Response:
    svc = service_of(request)
    got = await _submit(request, "vault.create", lambda c, f: vaults.create_vault(
        svc, c, f.get("name", ""), f.get("region", "")))
    if isinstance(got, Response):
        return got
    v, err = got
    return _vaults(request, flash=err, error=True) if err else _back(f"/console/vaults/{v['name']}?tab=public")


async def _submit(request: Request, action: str, run: Callable[[Caller, dict[str, str]], Any],
                  target: str | None = None) -> Response | tuple[Any, str]:
    """A posted form's action for the signed-in caller, checked (same site, CSRF) and audited as ``action``:
    the sign-in page when there is no session, else (result, "") or (None, the refusal's message)."""
    got = _guard(request)
    if isinstance(got, Response):
        return got
    s, caller = got
    try:
        f = await _form(request, s)
        return call(request, action, lambda c: run(c, f), target=target or f.get("name"), who=lambda: caller), ""
    except VaultlinkError as err:
        return None, err.message


@router.get("/console/vaults/{name}", name="console.vault")
def vault_page(request: Request, name: str, tab: str = "public") -> Response:
    return _vault(request, name, tab)


def _vault(request: Request, name: str, tab: str, flash: str = "", error: bool = False) -> Response:
    got = _guard(request)
    if isinstance(got, Response):
        return got
    s, caller = got
    svc = service_of(request)
    try:
        v = call(request, "vault.show", lambda c: vaults.get_vault(svc, c, name), target=name, who=lambda: caller)
        conns: list[dict[str, Any]] = call(request, "connection.list",
                                           lambda c: connections.list_connections(svc, c, v["id"]), target=name,
                                           who=lambda: caller) if tab == "private" else []
    except VaultlinkError as err:
        return _vaults(request, flash=err.message, error=True)
    tab = "private" if tab == "private" else "public"
    return _html(H.page(f"Vault {v['name']}", H.vault(v, conns, tab, s.csrf), user=s.user, csrf=s.csrf,
                        flash=flash, error=error))


@router.post("/console/vaults/{name}/public-access", name="console.vault.public_access")
async def public_access(request: Request, name: str) -> Response:
    svc = service_of(request)
    got = await _submit(request, "vault.update", lambda c, f: vaults.update_vault(
        svc, c, name, {"public_network_access": f.get("access", "")}), name)
    if isinstance(got, Response):
        return got
    _done, err = got
    return _vault(request, name, "public", flash=err or "Public network access saved.", error=bool(err))


@router.post("/console/vaults/{name}/connections/{endpoint}/{action}", name="console.connection")
async def connection(request: Request, name: str, endpoint: str, action: str) -> Response:
    svc = service_of(request)
    got = await _submit(request, f"connection.{action}", lambda c, f: connections.set_connection(
        svc, c, endpoint, action, f.get("description", ""), name), endpoint)
    if isinstance(got, Response):
        return got
    _done, err = got
    return _vault(request, name, "private", flash=err or f"Connection {endpoint}: {action} done.", error=bool(err))
