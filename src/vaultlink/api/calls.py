"""Running one API call: authenticate, call the handler, audit the decision.

The credential is parsed by the one parser (``fabric.credentials``: exactly one, well-formed) and
authenticated by the one cached path (``service.authn``) that the data plane uses too. A call that came
through a service endpoint was already authenticated by the request pipeline, which checked the
endpoint policy for that caller: the handler runs as that same caller, nothing re-reads a header.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from fastapi import Request, Response

from vaultlink.domain.cursor import cursor_after
from vaultlink.errors import AccessDenied, VaultlinkError
from vaultlink.fabric.checks import anonymous_caller
from vaultlink.fabric.credentials import credential_of
from vaultlink.service.authn import Authenticator
from vaultlink.service.core import Caller, Service
from vaultlink.service.dataplane.context import DataContext

T = TypeVar("T")
API_KEY = frozenset({"api_key"})


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def service_of(request: Request) -> Service:
    svc: Service = request.app.state.svc
    return svc


def authn_of(request: Request) -> Authenticator:
    authn: Authenticator = request.app.state.authn
    return authn


def caller_of(request: Request, count: bool = True, kinds: frozenset[str] = API_KEY) -> Caller:
    """The caller of a management request: the pipeline's for a call through a service endpoint, else
    the one credential of the request. Agent credentials are for the data plane only. ``count``: a
    missing or bad credential takes from the source address's anonymous bucket (once per request).
    ``kinds``: the credential kinds the route takes (``anonymous``: none at all, throttled by address)."""
    dp = request.scope.get("state", {}).get("dp")
    if isinstance(dp, DataContext):
        return dp.caller
    authn, source = authn_of(request), client_ip(request)
    try:
        token = credential_of(request.scope.get("headers", ()))
    except VaultlinkError:
        if count:
            authn.count_anonymous(source)
        raise
    if token is None and "anonymous" in kinds:
        if count:
            authn.count_anonymous(source)
        return anonymous_caller(source)
    caller = authn.authenticate(token, source if count else None)
    if caller.kind not in kinds:
        if caller.kind == "gateway":
            raise AccessDenied("a gateway credential (vlgw_…) only sends its appliance's heartbeat; the "
                               "management API needs an API key.")
        raise AccessDenied(
            "agent credentials (vault registration secrets, container credentials) work only on a vault's "
            "data plane; the management API needs an API key."
        )
    return replace(caller, source_ip=source)


def call(
    request: Request,
    action: str,
    fn: Callable[[Caller], T],
    target: str | None = None,
    vault: str | None = None,
    resource: Callable[[Caller], tuple[str, str]] | None = None,
    kinds: frozenset[str] = API_KEY,
    who: Callable[[], Caller] | None = None,
) -> T:
    """Authenticate the request, run ``fn(caller)`` and emit one audit event either way.

    ``resource(caller)`` gives ``(IAM action, resource ARN)`` when only the handler knows the resource a
    call acts on (a vault named in the body): through a service endpoint, its policy is checked for it.
    ``who``: how the caller is found, when not by the request's credential header (the web console's
    session cookie); its refusals are audited the same way.
    """
    svc = service_of(request)
    ev: dict[str, Any] = {
        "plane": "management",
        "action": action,
        "target": target,
        "vault": vault,
        "source_ip": client_ip(request),
        "time": time.time(),
    }
    dp = request.scope.get("state", {}).get("dp")
    if dp is not None:  # reached through a service endpoint: record where from
        ev.update(plane="regional", endpoint=dp.endpoint_id, vnet=dp.vnet_id, host=dp.host)
    t0 = time.perf_counter()
    try:
        caller = who() if who is not None else caller_of(request, kinds=kinds)
        ev["principal"] = caller.arn
        ev["account_id"] = caller.account_id
        if resource is not None and isinstance(dp, DataContext) and dp.check_resource is not None:
            dp.check_resource(*resource(caller))
        result = fn(caller)
        ev["decision"] = "allowed"
        if isinstance(result, dict):
            if ev.get("target") is None:
                ev["target"] = result.get("arn") or result.get("id")
            if vault is not None and str(result.get("id", "")).startswith("v"):
                ev["vault"] = result["id"]
        return result
    except VaultlinkError as err:
        ev["decision"] = "denied"
        ev["code"] = err.code
        ev["message"] = err.message
        raise
    finally:
        ev["latency_ms"] = round((time.perf_counter() - t0) * 1000, 3)
        svc.audit.emit(ev)


def audit_refusal(request: Request, err: VaultlinkError, action: str) -> None:
    """Audit a request refused before its handler ran (bad JSON, wrong types, …)."""
    svc = service_of(request)
    ev: dict[str, Any] = {
        "plane": "management",
        "action": action,
        "source_ip": client_ip(request),
        "decision": "denied",
        "code": err.code,
        "message": err.message,
        "time": time.time(),
    }
    try:  # who sent it, if the credential is good (not counted against the anonymous bucket again)
        caller = caller_of(request, count=False)
        ev["principal"] = caller.arn
        ev["account_id"] = caller.account_id
    except VaultlinkError:
        pass
    svc.audit.emit(ev)


def paged(response: Response, rows: list[dict[str, Any]], limit: int | None, by: str) -> list[dict[str, Any]]:
    """A native listing's page: a full one names where the next starts (its ``after``) in ``X-Next-After``."""
    if limit is not None and rows and len(rows) >= limit:
        response.headers["X-Next-After"] = cursor_after(rows[-1], by)
    return rows
