"""What every console page shares: server-side sessions, the sign-in guard, posted forms checked for the same
site and the session's CSRF token, audited calls for the signed-in caller, and the HTML response with its
security headers. Route modules (``console*.py``) use only these to reach the service."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vaultlink.api import console_html as H
from vaultlink.api.calls import authn_of, call, client_ip, service_of
from vaultlink.errors import AccessDenied, InvalidInput, Unauthenticated, VaultlinkError
from vaultlink.service.core import Caller, Service

T = TypeVar("T")
COOKIE = "vl_session"
SESSION_SECONDS = 8 * 3600
MAX_SESSIONS = 10_000
MAX_FORM = 16 * 1024
CSP = "default-src 'self'; script-src 'none'; frame-ancestors 'none'; form-action 'self'"


@dataclass
class Session:
    token: str
    csrf: str
    expires: float
    user: str
    flash: tuple[str, bool] | None = None  # what the last action did (shown once, on the page it led to)


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


def session(request: Request) -> Session | None:
    return sessions_of(request).get(request.cookies.get(COOKIE))


def caller_for(request: Request, s: Session | None) -> Caller:
    if s is None:
        raise Unauthenticated("sign in to the console first.")
    caller = authn_of(request).authenticate(s.token, client_ip(request))
    if caller.kind != "api_key":
        raise AccessDenied("the console takes an API key.")
    return caller


async def form(request: Request, s: Session | None, check_csrf: bool = True) -> dict[str, str]:
    """The posted form, after the same-site checks: its Origin (when sent) is this host, its CSRF token the
    session's. A field sent twice keeps its last value; ``tag_key``/``tag_value`` pairs are read by
    ``form_pairs``."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise AccessDenied("this form was posted from another site.")
    body = await request.body()
    if len(body) > MAX_FORM:
        raise InvalidInput("the form is too large.")
    fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=200))
    if check_csrf and (s is None or not hmac.compare_digest(fields.get("csrf", ""), s.csrf)):
        raise AccessDenied("the form's CSRF token is missing or stale; reload the page and try again.")
    return fields


def html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers={
        "content-security-policy": CSP, "x-frame-options": "DENY", "referrer-policy": "same-origin",
        "cache-control": "no-store"})


def back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def guard(request: Request) -> tuple[Session, Caller] | Response:
    """The signed-in session and its caller; else the sign-in page (a revoked key ends the session)."""
    s = session(request)
    if s is None:
        return back("/console/login")
    try:
        return s, caller_for(request, s)
    except VaultlinkError as err:
        sessions_of(request).drop(request.cookies.get(COOKIE))
        return html(H.login(err.message, error=True), 401)


@dataclass
class Ctx:
    """A signed-in request: reads and actions run as its caller, each audited under its action name."""

    request: Request
    session: Session
    caller: Caller

    @property
    def svc(self) -> Service:
        return service_of(self.request)

    @property
    def csrf(self) -> str:
        return self.session.csrf

    def run(self, action: str, fn: Callable[[Caller], T], target: str | None = None,
            vault: str | None = None) -> T:
        return call(self.request, action, fn, target=target, vault=vault, who=lambda: self.caller)

    def page(self, title: str, body: str, flash: str = "", error: bool = False, refresh: int = 0,
             status: int = 200) -> Response:
        return html(H.page(title, body, user=self.session.user, csrf=self.csrf, flash=flash, error=error,
                           refresh=refresh), status)


def signed_in(request: Request) -> Ctx | Response:
    got = guard(request)
    if isinstance(got, Response):
        return got
    return Ctx(request, *got)


def show(request: Request, title: str, build: Callable[[Ctx], str | tuple[str, int]]) -> Response:
    """A page for the signed-in caller: ``build`` returns its body (and a refresh period for live pages); a
    refusal while building is shown as the page's error, with the CLI's message; what the last action did,
    once."""
    ctx = signed_in(request)
    if isinstance(ctx, Response):
        return ctx
    (flash, error), ctx.session.flash = ctx.session.flash or ("", False), None
    try:
        got = build(ctx)
    except VaultlinkError as err:
        return ctx.page(title, "", flash=f"{err.code}: {err.message}", error=True, status=err.http_status)
    body, refresh = got if isinstance(got, tuple) else (got, 0)
    return ctx.page(title, body, flash=flash, error=error, refresh=refresh)


async def act(request: Request, action: str, run: Callable[[Caller, dict[str, str]], Any], to: str,
              done: str | Callable[[Any], str], target: str | None = None, vault: str | None = None,
              then: Callable[[Any], str] | None = None) -> Response:
    """A posted form's action for the signed-in caller, checked (same site, CSRF) and audited as ``action``
    (its target: ``target``, else the form's ``name``); then a redirect (so a reload never repeats it) to the
    page ``to`` (after a success, ``then(result)`` when given) that shows, once, what happened: ``done`` (or
    the result made into words by it), or the refusal's message as an error. No session: the sign-in page."""
    got = guard(request)
    if isinstance(got, Response):
        return got
    s, caller = got
    try:
        fields = await form(request, s)
        result = call(request, action, lambda c: run(c, fields), target=target or fields.get("name"), vault=vault,
                      who=lambda: caller)
    except VaultlinkError as err:
        s.flash = (err.message, True)
        return back(to)
    s.flash = (done(result) if callable(done) else done, False)
    return back(then(result) if then is not None else to)
