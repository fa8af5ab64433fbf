"""Running one API call: authenticate, call the handler, audit the decision."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request

from vaultlink.errors import VaultlinkError
from vaultlink.service.core import Caller, Service
from vaultlink.service.identity import authenticate

T = TypeVar("T")


def token_of(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth and auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def service_of(request: Request) -> Service:
    svc: Service = request.app.state.svc
    return svc


def call(
    request: Request,
    action: str,
    fn: Callable[[Caller], T],
    target: str | None = None,
    vault: str | None = None,
) -> T:
    """Authenticate the request, run ``fn(caller)`` and emit one audit event either way."""
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
        caller = authenticate(svc, token_of(request), ev["source_ip"])
        ev["principal"] = caller.arn
        ev["account_id"] = caller.account_id
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
    try:
        caller = authenticate(svc, token_of(request))
        ev["principal"] = caller.arn
        ev["account_id"] = caller.account_id
    except VaultlinkError:
        pass
    svc.audit.emit(ev)
