"""The request pipeline (DESIGN.md §5) as an ASGI app in front of every listener.

Every request arrives here. Management calls on the public endpoint go straight
to the management app (which audits them itself). Everything else — a vault's
backup, blob and queue services, and the regional service behind service
endpoints — passes the ten checks, in order, each refusal with its stable code
and an audit event; allowed requests are audited too, with their latency.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import replace
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from vaultlink import errors as E
from vaultlink.domain.throttle import Throttle
from vaultlink.fabric.actions import management_action
from vaultlink.fabric.asgi import content_length, has_body, host_of, run_bounded, send_error
from vaultlink.fabric.credentials import credential_of
from vaultlink.fabric.metrics import Metrics
from vaultlink.fabric.policy_gate import PolicyGate
from vaultlink.fabric.routes import RouteTable
from vaultlink.fabric.view import EndpointView, NetworkView, Target, VaultView, VnetView
from vaultlink.service.authn import Authenticator
from vaultlink.service.core import Caller, Service
from vaultlink.service.dataplane.context import DataContext

SERVICE_PORT = 443  # the logical port security-group rules are checked against (HTTPS)
_STATUS_ERRORS = {
    "Pending": E.EndpointConnectionPending,
    "Rejected": E.EndpointConnectionRejected,
    "Disconnected": E.EndpointConnectionDisconnected,
}


class Fabric:
    """The ASGI entry point: management app, data-plane apps and the checks between."""

    def __init__(self, svc: Service, management: ASGIApp, data_apps: dict[str, Any]) -> None:
        self.svc = svc
        self.management = management
        self.data_apps = data_apps
        self.view = NetworkView(public_address=svc.config.public_address)
        self.throttle = Throttle(svc.config.throttle_rate, svc.config.throttle_burst)
        shared = getattr(getattr(management, "state", None), "authn", None)
        self.auth: Authenticator = shared if isinstance(shared, Authenticator) else Authenticator(svc)
        self.metrics = Metrics(svc.audit)
        cfg = svc.config
        self.body_timeout = cfg.body_timeout  # seconds between two body chunks
        self.header_timeout = cfg.header_timeout  # to send a request's headers
        self.max_header_bytes = cfg.max_header_bytes
        self.max_body = cfg.max_body_bytes
        self.routes = {name: RouteTable(app) for name, app in data_apps.items()}
        self.routes["regional"] = RouteTable(management)
        self.gate = PolicyGate(self.auth, lambda: self.view)  # steps 9 and 10

    # --- entry -----------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.management(scope, receive, send)
            return
        view = self.view
        server = scope.get("server")
        local_ip = server[0] if server else view.public_address
        client = scope.get("client")
        source_ip = client[0] if client else "0.0.0.0"
        host = host_of(scope)
        ep = view.endpoint_at(local_ip)
        if ep is None and scope["path"] == "/metrics":  # the public listener only
            await self._metrics(send)
            return
        target = view.names.get(host) if host else None
        if ep is None and (target is None or target.service == "regional"):
            if not has_body(scope):
                await self.management(scope, receive, send)
                return
            # the management app audits its calls; the fabric only bounds the body (size and pace)
            mev: dict[str, Any] = {"plane": "management", "time": time.time(), "source_ip": source_ip,
                                   "host": host, "endpoint": None, "method": scope["method"],
                                   "path": scope["path"], "action": "unknown", "principal": None}
            await self._run(self.management, scope, receive, send, mev, time.perf_counter(), audit="abort")
            return
        t0 = time.perf_counter()
        ev: dict[str, Any] = {
            "plane": "data",
            "time": time.time(),
            "source_ip": source_ip,
            "host": host,
            "endpoint": ep.id if ep else None,
            "method": scope["method"],
            "path": scope["path"],
            "action": "unknown",
            "principal": None,
            "decision": "denied",
        }
        try:
            dp, app = self._check(scope, view, ep, target, local_ip, source_ip, host, ev)
        except E.VaultlinkError as err:
            ev.update(decision="denied", code=err.code, message=err.message, status=err.http_status)
            await send_error(send, err)
            self._finish(ev, t0)
            return
        scope.setdefault("state", {})["dp"] = dp
        if dp.service == "regional":  # the management app audits the call itself, with our context
            await self._run(app, scope, receive, send, ev, t0, audit="metrics")
            return
        await self._run(app, scope, receive, send, ev, t0, audit="always")

    async def _metrics(self, send: Send) -> None:
        body = self.metrics.render()
        headers = [(b"content-type", b"text/plain; version=0.0.4"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _run(
        self,
        app: ASGIApp,
        scope: Scope,
        receive: Receive,
        send: Send,
        ev: dict[str, Any],
        t0: float,
        audit: str,
    ) -> None:
        """Run ``app`` with the body bounded in size and pace; ``audit``: always | metrics | abort (only
        when the pipeline refuses the body)."""
        clen = content_length(scope)
        if clen is not None and (clen < 0 or clen > self.max_body):
            err = E.PayloadTooLarge(f"the request body is {clen} bytes; the limit is {self.max_body}.")
            ev.update(decision="denied", code=err.code, status=err.http_status)
            await send_error(send, err, close=True)
            self._finish(ev, t0)
            return
        state = await run_bounded(app, scope, receive, send, self.max_body, self.body_timeout,
                                  self.svc.config.body_deadline)
        if state.aborted:  # refused by the pipeline while the body arrived: always audited
            ev.update(decision="denied", status=state.status, code=state.code)
            self._finish(ev, t0)
        elif audit == "always":  # a refusal raised inside the handler is audited as a refusal
            decision = "denied" if state.status >= 400 or state.code else "allowed"
            ev.update(decision=decision, status=state.status, code=state.code)
            self._finish(ev, t0)
        elif audit == "metrics":  # the management app audited the call itself
            self.metrics.observe(ev.get("endpoint"), "allowed", time.perf_counter() - t0)

    def http_refused(self, server: Any, client: Any, err: E.VaultlinkError) -> None:
        """A connection refused below ASGI (malformed HTTP, headers too large or too slow): audit and count it."""
        view = self.view
        local_ip = server[0] if server else view.public_address
        source_ip = client[0] if client else "0.0.0.0"
        ep = view.endpoint_at(local_ip)
        vnet = view.classify(source_ip)
        ev: dict[str, Any] = {
            "plane": "data" if ep is not None else "management", "time": time.time(), "source_ip": source_ip,
            "endpoint": ep.id if ep else None, "vnet": vnet.id if vnet else None, "action": "http.refuse",
            "principal": None, "decision": "denied", "code": err.code, "status": err.http_status,
            "message": err.message,
        }
        self._finish(ev, time.perf_counter())

    def _finish(self, ev: dict[str, Any], t0: float) -> None:
        elapsed = time.perf_counter() - t0
        ev["latency_ms"] = round(elapsed * 1000, 3)
        self.metrics.observe(ev.get("endpoint"), ev["decision"], elapsed)
        self.svc.audit.emit(ev)

    # --- the ten checks ---------------------------------------------------------
    def _check(self, scope: Scope, view: NetworkView, ep: EndpointView | None, target: Target | None,
               local_ip: str, source_ip: str, host: str, ev: dict[str, Any]) -> tuple[DataContext, ASGIApp]:
        # 1. endpoint (from the local address) and source network (from the source IP)
        vnet = view.classify(source_ip)
        ev["vnet"] = vnet.id if vnet else None
        # What is asked (for the audit event, before any refusal): the vault, the action, the resource.
        vault: VaultView | None = None
        routed: tuple[ASGIApp, str, str, dict[str, str]] | None = None
        if target is not None:
            if target.vault_id is not None:
                vault = view.vaults.get(target.vault_id)
                if vault is not None:
                    ev["vault"] = vault.id
            if target.vault_id is None or vault is not None:
                routed = self._route(scope, target, vault)
                if routed[1]:
                    ev["action"] = routed[1]
                ev["resource"] = ev["target"] = routed[2]
        if ep is not None:
            self._check_endpoint(view, ep, vnet, source_ip, local_ip)  # 2, 3, 4
        # 5. target: the name must exist, and a resource endpoint serves only its own vault
        if target is None:
            raise E.UnknownServiceName(
                f"{host or '(no Host header)'!r} is not a name this service answers for; resolve the vault's "
                "backup-service, blob or queue name through DNS and send it as the Host."
            )
        if target.vault_id is not None and vault is None:
            raise E.UnknownServiceName(f"no vault answers for {host!r}; it may have been deleted.")
        if ep is not None:
            self._check_target(ep, target, host)
        assert routed is not None
        app, action, resource, _params = routed
        if not action:
            if target.service == "regional":
                raise E.NotFound(
                    f"{scope['method']} {scope['path']} is not an operation of the backup service; a service "
                    "endpoint serves the backup API only: call it on the public endpoint."
                )
            raise E.NotFound(f"no {target.service} operation {scope['method']} {scope['path']}.")
        # 5a + 6. exactly one credential; anonymous and failed-authentication traffic takes from the source
        # address's bucket before any key lookup; the caller checked is the one the handler gets
        now = time.monotonic()
        try:
            token = credential_of(scope.get("headers", ()))
        except E.VaultlinkError:
            self.auth.count_anonymous(source_ip)
            raise
        caller = self.auth.authenticate(token, source_ip)
        caller = replace(caller, source_ip=source_ip)
        ev["principal"] = caller.arn
        ev["account_id"] = caller.account_id
        if caller.container_id:
            ev["container"] = caller.container_id
        self._check_credential_kind(scope, caller, vault, action, target)
        # 7. throttling: one bucket per credential (each machine's container credential its own)
        if not self.throttle.allow(f"{caller.kind}:{caller.credential_id or caller.arn}", now):
            raise E.RequestLimitExceeded(
                f"more than {self.svc.config.throttle_rate:g} requests/second with this credential of "
                f"{caller.arn}; slow down and retry after a short wait."
            )
        # 8. public network access
        if ep is None and vault is not None and vault.public_network_access == "Disabled":
            raise E.PublicNetworkAccessDisabled(
                f"vault {vault.name} denies public network access and this request came from "
                f"{'the internet' if vnet is None else 'vnet ' + vnet.id} through the public endpoint; send it "
                "through one of the vault's private endpoints (resolve the vault's name from inside its vnet)."
            )
        region = vault.region if vault else (target.region or "")
        if target.service == "regional":  # the real resource ARN the call acts on, from its path
            resource = self._regional_resource(view, routed[3], caller, region)
            ev["resource"] = ev["target"] = resource
        # 9. the endpoint policy
        check_resource = None
        if ep is not None and ep.policy is not None:
            self.gate.endpoint_policy(ep, caller, action, resource, source_ip, region)
            if target.service == "regional":
                def check_resource(act: str, arn: str, _ep: EndpointView = ep) -> None:
                    self.gate.endpoint_policy(_ep, caller, act, arn, source_ip, region)
        # 10. identity authorization (the management app checks roles itself for the regional service)
        if target.service != "regional":
            self.gate.authorize(caller, vault, action, resource, ep, source_ip, region)
        dp = DataContext(
            service=target.service,  # type: ignore[arg-type]
            host=host,
            vault_id=vault.id if vault else None,
            storage_account=target.storage_account,
            region=region,
            endpoint_id=ep.id if ep else None,
            vnet_id=vnet.id if vnet else None,
            source_ip=source_ip,
            caller=caller,
            action=action,
            resource=resource,
            check_resource=check_resource,
        )
        return dp, app

    def _check_credential_kind(
        self, scope: Scope, caller: Caller, vault: VaultView | None, action: str, target: Target
    ) -> None:
        """What each kind of credential may ever do (DESIGN.md §5, step 6), enforced here for every route."""
        if caller.kind == "api_key":
            return
        if target.service == "regional" or vault is None or caller.vault_id != vault.id:
            raise E.AccessDenied(
                "an agent credential acts only on the data plane of its own vault"
                + (f", not {vault.name}" if vault is not None else "") + "."
            )
        if caller.kind == "registration":
            if action != "backup:RegisterContainer":
                raise E.AccessDenied(
                    f"a vault registration secret may only register a container, not {action}; use the container "
                    "credential that `vaultlink agent register` saved."
                )
            return
        for k, v in scope.get("headers", ()):
            if k == b"x-vaultlink-container" and v.decode("latin-1") != caller.container_id:
                raise E.AccessDenied("a container credential acts only on its own container's data.")
        if caller.reregistration_required and action != "backup:RegisterContainer":
            raise E.ContainerReregistrationRequired()

    def _regional_resource(self, view: NetworkView, params: dict[str, str], caller: Caller, region: str) -> str:
        reg = self.svc.catalog.regions.get(region)
        part = reg.partition.name if reg else self.svc.catalog.default_partition().name
        ref = params.get("vault") or params.get("ref")
        if ref is not None and params.get("_kind") == "vault":
            v = view.vaults.get(ref) or view.vaults_by_arn.get(ref) or view.vaults_by_name.get((caller.account_id, ref))
            if v is not None:
                return v.arn
            return f"arn:{part}:backup:{region or '*'}:{caller.account_id}:backup-vault:{ref}"
        if params.get("rp_id"):
            return f"arn:{part}:backup:{region or '*'}:{caller.account_id}:recovery-point:{params['rp_id']}"
        return "*"

    def _check_endpoint(
        self, view: NetworkView, ep: EndpointView, vnet: VnetView | None, source_ip: str, local_ip: str
    ) -> None:
        # 2. reachability: its own vnet or a peered one
        if not view.reachable(ep, vnet):
            where = f"vnet {vnet.id}" if vnet else "no virtual network (the internet)"
            raise E.EndpointUnreachable(
                f"private endpoint {ep.id} ({local_ip}) lives in vnet {ep.vnet_id}; your address {source_ip} is "
                f"in {where}. Call it from that vnet or peer yours with it (`vaultlink vnet peer`)."
            )
        # 3. the security group
        addr = ipaddress.ip_address(source_ip)
        if not any(r.allows("tcp", SERVICE_PORT, addr) for r in ep.sg_rules):
            raise E.SecurityGroupDenied(
                f"the security group of endpoint {ep.id} has no inbound rule allowing TCP {SERVICE_PORT} from "
                f"{source_ip}; add one: `vaultlink endpoint sg add-rule {ep.id} --protocol tcp --ports "
                f"{SERVICE_PORT} --source {source_ip}/32` (or `--source VirtualNetwork` for the endpoint's vnet "
                "and every vnet peered with it)."
            )
        # 4. the connection's status: only Approved carries traffic
        if ep.kind == "resource" and ep.status != "Approved":
            cls = _STATUS_ERRORS.get(ep.status, E.EndpointConnectionPending)
            raise cls()

    def _check_target(self, ep: EndpointView, target: Target, host: str) -> None:
        if ep.kind == "resource":
            if target.service == "regional" or target.vault_id != ep.vault_id:
                raise E.EndpointTargetMismatch(
                    f"private endpoint {ep.id} serves vault {ep.vault_id}, not {host!r}; resolve {host!r} through "
                    "DNS to reach the endpoint that serves it."
                )
            return
        ok = (
            target.service == "regional"
            and target.region == ep.region
            and (target.regional_service or "backup") == (ep.service or "backup")
            and target.endpoint_id in (None, ep.id)
        )
        if not ok:
            raise E.EndpointTargetMismatch(
                f"service endpoint {ep.id} serves {ep.service} in {ep.region}, not {host!r}."
            )

    def _route(
        self, scope: Scope, target: Target, vault: VaultView | None
    ) -> tuple[ASGIApp, str, str, dict[str, str]]:
        """(app, action, resource, path parameters); action is "" when no route of the service matches."""
        app = self.management if target.service == "regional" else self.data_apps.get(target.service)
        table = self.routes.get(target.service)
        name, params = table.match(scope["method"], scope["path"]) if table is not None else (None, {})
        action = "" if name is None else (management_action(name) if target.service == "regional" else name)
        if target.service == "regional" and scope["path"].startswith("/v1/vaults/"):
            params = {**params, "_kind": "vault"}
        resource = vault.arn if vault is not None else "*"
        return app, action, resource, params  # type: ignore[return-value]
