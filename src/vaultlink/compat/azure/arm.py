"""What the ARM handlers share: the call, resource ids as Azure forms them, api-versions, ARM errors.

Errors are ``{"error": {"code", "message", "target"}}`` with Azure's codes where one exists (an error may
name its own in ``details["arm_code"]``), which azure-core raises as ``HttpResponseError`` (or
``ResourceNotFoundError`` / ``ClientAuthenticationError`` / ``ResourceExistsError`` by status)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vaultlink import errors as E
from vaultlink.service.core import Caller, Service

MAX_BODY = 1 << 20


@dataclass
class ArmCall:
    svc: Service
    caller: Caller
    subscription: str
    base: str  # scheme://host[:port] as the client called it: LRO URLs point back here
    api_version: str
    query: dict[str, str]
    params: dict[str, str]
    body: Any = None
    view: Any = None  # the fabric's current network view (what has taken effect)
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers (LRO)
    status: int = 200

    def sub_id(self) -> str:
        return f"/subscriptions/{self.subscription}"


Handler = Callable[[ArmCall], Any]

# Azure's codes for vaultlink's errors, along the error's class tree (most specific first)
_CODES: dict[type[E.VaultlinkError], tuple[str, int]] = {
    E.TokenExpired: ("ExpiredAuthenticationToken", 401),
    E.Unauthenticated: ("AuthenticationFailed", 401),
    E.InvalidApiKey: ("InvalidAuthenticationToken", 401),
    E.AccessDenied: ("AuthorizationFailed", 403),
    E.MalformedJSON: ("InvalidRequestContent", 400),
    E.MissingField: ("InvalidRequestContent", 400),
    E.InvalidType: ("InvalidRequestContent", 400),
    E.InvalidName: ("InvalidResourceName", 400),
    E.UnknownRegion: ("LocationNotAvailableForResourceType", 400),
    E.InvalidInput: ("InvalidParameter", 400),
    E.UnknownOperation: ("InvalidResourceType", 404),
    E.NotFound: ("ResourceNotFound", 404),
    E.AlreadyExists: ("Conflict", 409),
    E.Conflict: ("Conflict", 409),
    E.RequestLimitExceeded: ("TooManyRequests", 429),
    E.PayloadTooLarge: ("RequestEntityTooLarge", 413),
    E.ServiceUnavailable: ("ServiceUnavailable", 503),
    E.StorageFull: ("StorageFull", 507),  # 507: azure-core's retries leave it alone
}


def arm_error(err: E.VaultlinkError) -> tuple[int, dict[str, Any]]:
    """(status, ARM error body): Azure's code where one is known (the error's own ``arm_code``, or the table
    for the general kinds); for vaultlink's specific errors (``RegionMismatch``, ``SecondaryEndpointLimit``,
    ``UnknownGroupId``…) their own stable code, with the status of the kind they belong to."""
    named = err.details.get("arm_code") if err.details else None
    code, status = "InternalServerError", 500
    for cls in type(err).__mro__:
        if cls in _CODES:
            code, status = _CODES[cls]
            if cls is not type(err) and type(err).__module__ != E.base.__name__:
                code = err.code
            break
    body: dict[str, Any] = {"code": str(named or code), "message": err.message}
    if err.field:
        body["target"] = err.field
    return status, {"error": body}


def json_body(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise E.MalformedJSON("the request body is not valid JSON.") from None


def obj(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise E.InvalidType(f"{what} must be a JSON object.", field=what)
    return value


def str_field(doc: dict[str, Any], key: str, required: bool = False) -> str | None:
    v = doc.get(key)
    if v is None:
        if required:
            raise E.MissingField(f"{key} is required.", field=key)
        return None
    if not isinstance(v, str):
        raise E.InvalidType(f"{key} must be a string.", field=key)
    return v


def tags_of(doc: dict[str, Any]) -> dict[str, str] | None:
    tags = doc.get("tags")
    if tags is None:
        return None
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise E.InvalidType("tags is an object of string values.", field="tags")
    return dict(tags)


def rg_id(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}"


def provider_id(sub: str, rg: str, provider: str, rtype: str, name: str) -> str:
    return f"{rg_id(sub, rg)}/providers/{provider}/{rtype}/{name}"
