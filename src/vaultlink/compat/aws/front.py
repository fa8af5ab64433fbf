"""The AWS front end: unmodified boto3, the AWS CLI and Terraform speak to vaultlink here.

The request pipeline (``fabric/pipeline.py``) hands this front end every request it ``claims`` on the
public endpoint and on service endpoints: one signed with SigV4, or an unsigned one to an AWS Backup
path (so it gets the AWS error an SDK expects). A request is handled in this order:

1. the body is read (at most :data:`MAX_BODY` bytes, paced as every body is): SigV4 signs it;
2. the service comes from the signature's credential scope (``backup``, ``ec2``, ``sts``) and the
   operation from the model (rest-json: method and path; query: ``Action``);
3. the pipeline's own checks run in their order (``fabric.checks.CHECKS``: reachability, security
   group, target, authentication — here SigV4, recomputed with botocore's signer against the body —,
   throttling, the endpoint policy for the operation's AWS action and resource ARN);
4. step 10 for an operation on a vault: roles, identity policies and the vault's access policy;
5. the input is checked against the operation's shape, the handler runs in a worker thread, the answer
   is serialized as the protocol does; every call is audited under its AWS action name.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from botocore.model import OperationModel
from starlette.types import Receive, Scope, Send

from vaultlink import errors as E
from vaultlink.compat.aws import jsonrpc, query, restjson, sigv4
from vaultlink.compat.aws.backup_api import AwsCall, Handler
from vaultlink.compat.aws.errors import aws_error
from vaultlink.compat.aws.operations import BACKUP, EC2, GATEWAY, STS
from vaultlink.compat.aws.shapes import service_model
from vaultlink.fabric.asgi import host_of, read_body
from vaultlink.fabric.checks import Decision, Facts, run_checks
from vaultlink.fabric.pipeline import Fabric, FabricGates
from vaultlink.fabric.view import EndpointView, Target
from vaultlink.service.core import Caller

MAX_BODY = 1 << 20  # the AWS APIs here carry no backup data: a policy document is the largest input
SERVICES: dict[str, tuple[str, dict[str, Handler]]] = {
    "backup": ("rest-json", BACKUP), "ec2": ("ec2", EC2), "sts": ("query", STS),
    "backup-gateway": ("json", GATEWAY),
}


@dataclass(frozen=True, slots=True)
class AwsRequest:
    service: str
    protocol: str
    op: OperationModel
    labels: dict[str, str]
    form: list[tuple[str, str]]
    query: str
    body: bytes

    @property
    def action(self) -> str:
        return f"{self.service}:{self.op.name}"

    def resource_params(self) -> dict[str, str]:
        """What the policies are asked about (``checks.regional_resource``): a vault by name, a point by id."""
        if "backupVaultName" in self.labels:
            return {"vault": self.labels["backupVaultName"], "_kind": "vault"}
        if "recoveryPointArn" in self.labels:
            return {"rp_id": self.labels["recoveryPointArn"].rsplit(":", 1)[-1]}
        return {}


class _Gates:
    """The pipeline's gates for one AWS request: the route is the operation, the credential is SigV4."""

    def __init__(self, base: FabricGates, req: AwsRequest, verify: Callable[[str | None, str], Caller]) -> None:
        self.base, self.req, self.verify = base, req, verify
        self.throttle_rate = base.throttle_rate

    def route(self, target: Target, method: str, path: str) -> tuple[Any, str, dict[str, str]]:
        return None, self.req.action, self.req.resource_params()

    def count_anonymous(self, source_ip: str) -> None:
        self.base.count_anonymous(source_ip)

    def authenticate(self, token: str | None, source_ip: str, secure: bool) -> Caller:
        return replace(self.verify(token, source_ip), source_ip=source_ip, secure_transport=secure)

    def allow(self, key: str, now: float) -> bool:
        return self.base.allow(key, now)

    def partition(self, region: str) -> str:
        return self.base.partition(region)

    def endpoint_policy(self, ep: EndpointView, caller: Caller, action: str, resource: str, source_ip: str,
                        region: str) -> None:
        self.base.endpoint_policy(ep, caller, action, resource, source_ip, region)

    def authorize(self, caller: Caller, vault: Any, action: str, resource: str, ep: EndpointView | None,
                  source_ip: str, region: str) -> None:
        self.base.authorize(caller, vault, action, resource, ep, source_ip, region)


class AwsFront:
    """Claims AWS requests from the pipeline and answers them (``fabric.pipeline.FrontEnd``)."""

    def __init__(self) -> None:
        self._router: restjson.Router | None = None

    @property
    def router(self) -> restjson.Router:
        if self._router is None:
            self._router = restjson.Router(service_model("backup"))
        return self._router

    def claims(self, scope: Scope, target: Target | None) -> bool:
        path = scope["path"]
        if path.startswith("/v1/") or path == "/v1":  # the native API is never an AWS route
            return False
        for k, v in scope.get("headers", ()):
            if k == b"authorization" and sigv4.is_sigv4(v):
                return True
        return self.router.serves(path)

    # --- routing ----------------------------------------------------------------------------------------
    def _signature(self, scope: Scope) -> sigv4.SigV4 | None:
        found = [v for k, v in scope.get("headers", ()) if k == b"authorization"]
        if len(found) == 1 and sigv4.is_sigv4(found[0]):
            return sigv4.parse(found[0])
        return None

    def _request(self, service: str, scope: Scope, body: bytes) -> AwsRequest:
        entry = SERVICES.get(service)
        if entry is None:
            raise E.UnknownOperation(f"the AWS service {service!r} is not served here; vaultlink answers backup, "
                                     "backup-gateway, ec2 (VPCs and endpoints) and sts.")
        protocol, handlers = entry
        model = service_model(service)
        qs = scope.get("query_string", b"").decode("latin-1")
        if protocol == "rest-json":
            raw_path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
            hit = self.router.match(scope["method"], raw_path, qs)
            if hit is None or hit[0] not in handlers:
                what = hit[0] if hit else f"{scope['method']} {raw_path}"
                raise E.UnknownOperation(f"{what} is not an operation vaultlink implements; the README's AWS "
                                         "conformance table lists those it does.")
            return AwsRequest(service, protocol, model.operation_model(hit[0]), hit[1], [], qs, body)
        if protocol == "json":
            name = jsonrpc.operation_of(scope, model, handlers)
            return AwsRequest(service, protocol, model.operation_model(name), {}, [], qs, body)
        if scope["method"] != "POST":
            raise E.UnknownOperation(f"the {service} API takes POST requests with a form body.")
        pairs = query.form(body)
        name = query.action_of(pairs)
        if name not in handlers:
            raise E.UnknownOperation(f"{name} is not an {service} operation vaultlink implements; the README's "
                                     "AWS conformance table lists those it does.")
        return AwsRequest(service, protocol, model.operation_model(name), {}, pairs, qs, body)

    def _input(self, req: AwsRequest, scope: Scope) -> dict[str, Any]:
        if req.protocol == "rest-json":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
            return restjson.parse_input(req.op, req.labels, req.query, headers, req.body)
        if req.protocol == "json":
            return jsonrpc.parse_input(req.op, req.body)
        return query.parse_input(req.op, req.form)

    @staticmethod
    def _answer(service: str, req: AwsRequest, result: Any, rid: str) -> tuple[int, list[Any], bytes]:
        if req.protocol == "rest-json":
            return restjson.response(req.op, result)
        if req.protocol == "json":
            return jsonrpc.response(req.op, result)
        return query.response(req.op, result, rid, "ec2" if service == "ec2" else "query")

    @staticmethod
    def _error(service: str, err: E.VaultlinkError, rid: str) -> tuple[int, list[Any], bytes]:
        code, status = aws_error(err, service)
        if service in ("backup", "backup-gateway"):
            return restjson.error(code, status, err.message, rid)
        return query.error(code, status, err.message, rid, "ec2" if service == "ec2" else "query")

    # --- the request --------------------------------------------------------------------------------------
    async def __call__(self, fabric: Fabric, scope: Scope, receive: Receive, send: Send,
                       ep: EndpointView | None, target: Target | None) -> None:
        t0, rid = time.perf_counter(), str(uuid.uuid4())
        client, server = scope.get("client"), scope.get("server")
        source_ip = client[0] if client else "0.0.0.0"
        local_ip = server[0] if server else fabric.view.public_address
        host, domain = host_of(scope), scope.get("vaultlink.domain", "")
        ev: dict[str, Any] = {"plane": "regional" if ep else "management", "api": "aws", "time": time.time(),
                              "source_ip": source_ip, "host": host, "endpoint": ep.id if ep else None,
                              "method": scope["method"], "path": scope["path"], "action": "unknown",
                              "principal": None, "decision": "denied"}
        service = "ec2" if scope["path"] == "/" else "backup"  # until the signature names it
        d = Decision(ep=ep, target=target)
        try:
            sig = self._signature(scope)
            if sig is not None:
                service = sig.service
            cfg = fabric.svc.config
            body = await read_body(receive, min(MAX_BODY, fabric.max_body), cfg.body_timeout, cfg.body_deadline)
            req = self._request(service, scope, body)
            ev["action"] = req.action
            d.target = self._target(fabric, ep, target, host, sig, service)
            facts = Facts(scope["method"], scope["path"], scope.get("headers", ()), local_ip, source_ip, host,
                          time.monotonic(), domain, scope.get("scheme") == "https", fabric.logical_port(scope))
            def verify(token: str | None, ip: str) -> Caller:
                return self._verify(fabric, token, ip, scope, body, service)

            gates = _Gates(fabric.gates, req, verify)
            run_checks(fabric.view, facts, d, gates)
            assert d.caller is not None
            caller = d.caller
            vault = self._named_vault(fabric, req, caller)
            if vault is not None:  # step 10: roles, identity policies and the vault's access policy
                gates.authorize(caller, vault, req.action, vault.arn, ep, source_ip, d.region)
            params = self._input(req, scope)
            call = AwsCall(fabric.svc, caller, d.region, gates.partition(d.region), d.check_resource)
            handler = SERVICES[service][1][req.op.name]
            result = await asyncio.get_running_loop().run_in_executor(None, handler, call, params)
            status, headers, data = self._answer(service, req, result, rid)
            ev.update(d.audit())
            ev.update(decision="allowed", status=status, action=req.action)
        except E.VaultlinkError as err:
            ev.update(d.audit())
            status, headers, data = self._error(service, err, rid)
            ev.update(decision="denied", code=err.code, message=err.message, status=status)
        headers = [*headers, (b"content-length", str(len(data)).encode()), (b"x-amzn-requestid", rid.encode()),
                   (b"x-amz-request-id", rid.encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})
        fabric.finish(ev, t0)

    def _target(self, fabric: Fabric, ep: EndpointView | None, target: Target | None, host: str,
                sig: sigv4.SigV4 | None, service: str) -> Target:
        region = sig.region if sig is not None else ""
        if ep is None:
            if sig is not None and region not in fabric.svc.catalog.regions:
                raise E.SigningRegionMismatch(f"the request was signed for region {region!r}, which this service "
                                              f"does not have; `vaultlink region list` lists them.")
            return Target("regional", region=region or None,
                          regional_service="backup-gateway" if service == "backup-gateway" else "backup")
        if ep.kind != "service" or (ep.service or "backup") != service:
            raise E.EndpointTargetMismatch(
                f"endpoint {ep.id} serves "
                + (f"vault {ep.vault_id}'s data plane" if ep.kind == "resource" else f"{ep.service} in {ep.region}")
                + f", not the AWS {service} API; call {service} on the public endpoint.")
        if target is None and host in ep.ips:  # a service endpoint answers requests addressed to its own IP
            target = Target("regional", region=ep.region, endpoint_id=ep.id, regional_service=ep.service)
        if target is not None and sig is not None and target.region != region:
            raise E.SigningRegionMismatch(f"endpoint {ep.id} serves {ep.region}; the request was signed for "
                                          f"{region}. Set the client's region to {ep.region}.")
        if target is None:
            raise E.UnknownServiceName(f"{host!r} is not a name of endpoint {ep.id}; use its DNS names or its IP.")
        return target

    def _verify(self, fabric: Fabric, token: str | None, source_ip: str, scope: Scope, body: bytes,
                service: str) -> Caller:
        auth = fabric.auth
        if token is None or not token.startswith("AWS4-HMAC-SHA256 "):
            auth.count_anonymous(source_ip)
            raise E.Unauthenticated("the AWS APIs take requests signed with SigV4 (an AWS access key from "
                                    "`vaultlink key create --aws`), not " + ("no credential." if token is None
                                                                             else "a bearer token."))
        if auth.anonymous.empty(source_ip, time.monotonic()):
            auth.count_anonymous(source_ip)
        try:
            sig = sigv4.parse(token.encode("ascii"))
            found = auth.aws_key(sig.access_key)
            if found is None:
                raise E.InvalidClientTokenId()
            secret, caller = found
            sigv4.verify(sig, secret, scope["method"], scope.get("raw_path") or scope["path"].encode(),
                         scope.get("query_string", b""), scope.get("headers", ()), body, time.time())
        except E.VaultlinkError:
            auth.count_anonymous(source_ip)
            raise
        return caller

    @staticmethod
    def _named_vault(fabric: Fabric, req: AwsRequest, caller: Caller) -> Any:
        name = req.labels.get("backupVaultName")
        if name is None:
            return None
        return fabric.view.vaults_by_name.get((caller.account_id, name))
