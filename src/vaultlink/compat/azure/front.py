"""The Azure Resource Manager front end: unmodified azure-mgmt-* clients, created with ``base_url`` = the
service's URL, a credential whose ``get_token()`` returns a vaultlink bearer token (``vaultlink key create
--arm-token``, or any API key) and ``connection_verify`` = the deployment's ``ca.pem``.

The pipeline (``fabric/pipeline.py``) hands this front end every request on the public endpoint whose path
starts with ``/subscriptions/``. A request is handled in this order: the body is read (at most 1 MiB); the
operation is found (``routes.py``) and its ``api-version`` checked; the one credential (``Authorization:
Bearer``) is authenticated by the same cached path as every API key (a missing or bad one takes from the
source address's anonymous bucket); the subscription in the path must be the caller's account; the
handler runs in a worker thread under the caller's roles (the service checks them); the answer or the ARM
error is sent, and every call is audited under its Azure action name.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from vaultlink import errors as E
from vaultlink.compat.azure import oauth, routes
from vaultlink.compat.azure.arm import MAX_BODY, ArmCall, arm_error, json_body
from vaultlink.fabric.asgi import host_of, read_body
from vaultlink.fabric.credentials import credential_of
from vaultlink.fabric.pipeline import Fabric
from vaultlink.fabric.view import EndpointView, Target
from vaultlink.service.core import Caller

_HOST = re.compile(r"[A-Za-z0-9.\-]{1,253}(:\d{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:\d{1,5})?")


class ArmFront:
    """Claims ARM requests from the pipeline and answers them (``fabric.pipeline.FrontEnd``)."""

    def claims(self, scope: Scope, target: Target | None) -> bool:
        path = str(scope["path"])
        low = path.lower()
        return low == "/subscriptions" or low.startswith("/subscriptions/") or oauth.claims(path)

    async def __call__(self, fabric: Fabric, scope: Scope, receive: Receive, send: Send,
                       ep: EndpointView | None, target: Target | None) -> None:
        t0, rid = time.perf_counter(), str(uuid.uuid4())
        client = scope.get("client")
        source_ip = client[0] if client else "0.0.0.0"
        method = str(scope["method"])
        ev: dict[str, Any] = {"plane": "management", "api": "arm", "time": time.time(), "source_ip": source_ip,
                              "host": host_of(scope), "endpoint": ep.id if ep else None, "method": method,
                              "path": scope["path"], "action": "unknown", "principal": None, "decision": "denied"}
        call: ArmCall | None = None
        if oauth.claims(str(scope["path"])):
            await self._oauth(fabric, scope, receive, send, ep, ev, t0)
            return
        try:
            if ep is not None:
                raise E.EndpointTargetMismatch(f"endpoint {ep.id} does not serve Azure Resource Manager; call it on "
                                               "the service's public address.")
            cfg = fabric.svc.config
            body = await read_body(receive, min(MAX_BODY, fabric.max_body), cfg.body_timeout, cfg.body_deadline)
            route, params, exists = routes.match(method, str(scope["path"]))
            if route is None:
                raise E.UnknownOperation(
                    f"{method} is not allowed on this resource" if exists else
                    f"no resource type at {str(scope['path'])[:200]}; the README's Azure conformance table lists "
                    "what vaultlink serves.", arm_code="MethodNotAllowed" if exists else "InvalidResourceType")
            ev["action"] = route.action
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
            version = query.get("api-version", "")
            if version not in routes.API_VERSIONS[route.provider]:
                raise E.InvalidInput(
                    f"api-version {version[:40]!r} is not supported for {route.provider}; supported: "
                    f"{', '.join(sorted(routes.API_VERSIONS[route.provider], reverse=True))}.",
                    field="api-version", arm_code="InvalidApiVersionParameter" if version else
                    "MissingApiVersionParameter")
            caller = self._caller(fabric, scope, source_ip)
            ev.update(principal=caller.arn, account_id=caller.account_id)
            if params.get("sub") != caller.account_id:
                raise E.AccessDenied(f"the token is for subscription {caller.account_id}, not "
                                     f"{params.get('sub', '')[:40]}.", arm_code="InvalidAuthenticationTokenTenant")
            call = ArmCall(fabric.svc, caller, caller.account_id, self._base(scope), version, query, params,
                           json_body(body), fabric.view)
            result = await asyncio.get_running_loop().run_in_executor(None, route.handler, call)
            status = call.status
            data = b"" if result is None or method == "HEAD" else json.dumps(result, separators=(",", ":")).encode()
            ev.update(decision="allowed", status=status)
            extra = list(call.headers.items())
        except E.VaultlinkError as err:
            status, doc = arm_error(err)
            data = b"" if method == "HEAD" else json.dumps(doc).encode()
            ev.update(decision="denied", code=err.code, message=err.message, status=status)
            extra = [("x-ms-failure-cause", "gateway")] if status == 401 else []
            if status == 401:
                extra.append(("www-authenticate", 'Bearer authorization_uri="", error="invalid_token"'))
        headers = [(b"content-type", b"application/json; charset=utf-8"), (b"x-ms-request-id", rid.encode()),
                   (b"x-ms-correlation-request-id", rid.encode()), (b"content-length", str(len(data)).encode()),
                   *((k.encode(), v.encode()) for k, v in extra)]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})
        fabric.finish(ev, t0)

    async def _oauth(self, fabric: Fabric, scope: Scope, receive: Receive, send: Send, ep: EndpointView | None,
                     ev: dict[str, Any], t0: float) -> None:
        """The OAuth2 token endpoint and its discovery document (``oauth.py``), on the public endpoint only."""
        path, source_ip = str(scope["path"]), ev["source_ip"]
        ev["action"] = "oauth2.token" if oauth.TOKEN.match(path) else "oauth2.discovery"
        try:
            if ep is not None:
                raise oauth.OAuthError(404, "invalid_request", "the token endpoint is on the service's public address.")
            body = await read_body(receive, oauth.MAX_FORM, fabric.svc.config.body_timeout,
                                   fabric.svc.config.body_deadline)
            m = oauth.TOKEN.match(path)
            if m is not None and scope["method"] == "POST":
                if fabric.auth.anonymous.empty(source_ip, time.monotonic()):  # a source that keeps failing waits
                    fabric.auth.count_anonymous(source_ip)
                doc = await asyncio.get_running_loop().run_in_executor(
                    None, oauth.token, fabric.svc, m["tenant"], body, source_ip)
            elif (w := oauth.WELL_KNOWN.match(path)) is not None and scope["method"] == "GET":
                doc = oauth.openid_configuration(self._base(scope), w["tenant"])
            else:
                raise oauth.OAuthError(405, "invalid_request", "POST the token request; GET the discovery document.")
            status = 200
            ev.update(decision="allowed", status=status)
        except oauth.OAuthError as err:
            if err.status == 401:
                fabric.auth.count_anonymous(source_ip)
            status, doc = err.status, err.body()
            ev.update(decision="denied", code=err.error, message=err.description, status=status)
        except E.VaultlinkError as err:
            status, doc = err.http_status, {"error": "invalid_request", "error_description": err.message}
            ev.update(decision="denied", code=err.code, message=err.message, status=status)
        data = json.dumps(doc).encode()
        headers = [(b"content-type", b"application/json; charset=utf-8"), (b"cache-control", b"no-store"),
                   (b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})
        fabric.finish(ev, t0)

    @staticmethod
    def _base(scope: Scope) -> str:
        """scheme://host:port the client called (the Host header if it is a plain host[:port], else the
        listener's address): where the long-running operations' URLs point."""
        scheme = "https" if scope.get("scheme") == "https" else "http"
        for k, v in scope.get("headers", ()):
            if k == b"host" and _HOST.fullmatch(v.decode("latin-1")):
                return f"{scheme}://{v.decode('latin-1')}"
        server = scope.get("server") or ("127.0.0.1", 443)
        return f"{scheme}://{server[0]}:{server[1]}"

    @staticmethod
    def _caller(fabric: Fabric, scope: Scope, source_ip: str) -> Caller:
        auth = fabric.auth
        try:
            token = credential_of(scope.get("headers", ()))
        except E.VaultlinkError:
            auth.count_anonymous(source_ip)
            raise
        if token is None:
            auth.count_anonymous(source_ip)
            raise E.Unauthenticated("no bearer token: the client's credential must return a vaultlink token "
                                    "(`vaultlink key create --arm-token`).")
        caller = auth.authenticate(token, source_ip)
        if caller.kind != "api_key":
            raise E.AccessDenied("Azure Resource Manager takes a vaultlink bearer token or API key, not an agent's "
                                 "credential.")
        return caller
