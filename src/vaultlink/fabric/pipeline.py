"""The request pipeline (DESIGN.md §5) as an ASGI app in front of every listener.

Every request arrives here. Management calls on the public endpoint go straight
to the management app (which audits them itself). Everything else — a vault's
backup, blob and queue services, and the regional service behind service
endpoints — passes the checks of ``checks.CHECKS``, in order, each refusal with
its stable code and an audit event; allowed requests are audited too, with their
latency. The body's bounds are in ``asgi.py``, the metrics in ``metrics.py``, the
policy decisions and their cache in ``policy_gate.py``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from vaultlink import errors as E
from vaultlink.config import gateway_offset
from vaultlink.domain.security_groups import GATEWAY_PORTS
from vaultlink.domain.throttle import Throttle
from vaultlink.fabric.actions import management_action
from vaultlink.fabric.admission import AdmissionCache, Admitted, admission_key
from vaultlink.fabric.asgi import content_length, has_body, host_of, run_bounded, send_error
from vaultlink.fabric.checks import SERVICE_PORT, Decision, Facts, run_checks, take_token
from vaultlink.fabric.metrics import Metrics
from vaultlink.fabric.policy_gate import PolicyGate
from vaultlink.fabric.routes import RouteTable
from vaultlink.fabric.view import EndpointView, NetworkView, Target, VaultView
from vaultlink.service.authn import Authenticator
from vaultlink.service.core import Caller, Service
from vaultlink.service.dataplane.context import DataContext


class FrontEnd(Protocol):
    """A compatibility front end (``compat/``) the pipeline hands the requests it claims: those that would
    otherwise go to the management app (the public endpoint, service endpoints)."""

    def claims(self, scope: Scope, target: Target | None) -> bool: ...

    async def __call__(self, fabric: Fabric, scope: Scope, receive: Receive, send: Send,
                       ep: EndpointView | None, target: Target | None) -> None: ...


class Fabric:
    """The ASGI entry point: management app, data-plane apps and the checks between."""

    def __init__(self, svc: Service, management: ASGIApp, data_apps: dict[str, Any],
                 fronts: Sequence[FrontEnd] = ()) -> None:
        self.svc = svc
        self.management = management
        self.data_apps = data_apps
        self.fronts = tuple(fronts)
        self.view = NetworkView(public_address=svc.config.public_address)
        self.throttle = Throttle(svc.config.throttle_rate, svc.config.throttle_burst)
        shared = getattr(getattr(management, "state", None), "authn", None)
        self.auth: Authenticator = shared if isinstance(shared, Authenticator) else Authenticator(svc)
        cfg = svc.config
        self.body_timeout = cfg.body_timeout  # seconds between two body chunks
        self.header_timeout = cfg.header_timeout  # to send a request's headers
        self.max_header_bytes = cfg.max_header_bytes
        self.max_body = cfg.max_body_bytes
        self.gates = FabricGates(self)
        self.admission = AdmissionCache(lambda: svc.generation)
        self.metrics = Metrics(svc.audit, self.admission)
        # a backup-gateway endpoint's other ports: the port it listens on -> the port rules are checked for
        offset = gateway_offset(cfg)
        self.gateway_ports: dict[int, int] = {p + offset: p for p in GATEWAY_PORTS if p != SERVICE_PORT}

    def logical_port(self, scope: Scope) -> int:
        """The port a request is checked as (security groups): a gateway port, else HTTPS's 443."""
        server = scope.get("server")
        return self.gateway_ports.get(server[1], SERVICE_PORT) if server and len(server) > 1 else SERVICE_PORT

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
        domain = scope.get("vaultlink.domain", "")  # the namespace the listener lives in (netns mode)
        ep = view.endpoint_at(local_ip, domain)
        if ep is None and scope["path"] == "/metrics":  # the public listener only
            await self._metrics(send)
            return
        target = view.names.get(host) if host else None
        if self.fronts and (target is None or target.service == "regional") and (ep is None or ep.kind == "service"):
            for front in self.fronts:
                if front.claims(scope, target):
                    await front(self, scope, receive, send, ep, target)
                    return
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
        now = time.monotonic()
        facts = Facts(scope["method"], scope["path"], scope.get("headers", ()), local_ip, source_ip, host,
                      now, domain, scope.get("scheme") == "https", self.logical_port(scope))
        key = admission_key(facts)
        adm, gen = self.admission.lookup(view, key)
        try:
            if adm is not None and not self.auth.anonymous.empty(source_ip, now):
                ev = {**adm.audit, "time": time.time()}
                take_token(self.gates, adm.context.caller, now)  # step 7 is never remembered
                self.admission.hits += 1
            else:
                ev = {"plane": "data", "time": time.time(), "source_ip": source_ip, "host": host,
                      "endpoint": ep.id if ep else None, "method": scope["method"], "path": scope["path"],
                      "action": "unknown", "principal": None, "decision": "denied"}
                adm = self._admit(view, gen, key, facts, ep, target, ev)
        except E.VaultlinkError as err:
            ev.update(decision="denied", code=err.code, message=err.message, status=err.http_status)
            await send_error(send, err)
            self._finish(ev, t0)
            return
        scope.setdefault("state", {})["dp"] = adm.context
        # the regional service's management app audits the call itself, with our context
        await self._run(adm.app, scope, receive, send, ev, t0,
                        audit="metrics" if adm.context.service == "regional" else "always")

    def _admit(self, view: NetworkView, gen: int, key: tuple[Any, ...], facts: Facts, ep: EndpointView | None,
               target: Target | None, ev: dict[str, Any]) -> Admitted:
        """Run every check (the first refusal raises, ``ev`` holding what they found); remember an admission
        that the same request would get again until something changes (``admission.py``)."""
        d = Decision(ep=ep, target=target)
        try:
            run_checks(view, facts, d, self.gates)
        finally:
            ev.update(d.audit())
        assert d.target is not None and d.caller is not None
        dp = DataContext(
            service=d.target.service,  # type: ignore[arg-type]
            host=facts.host,
            vault_id=d.vault.id if d.vault else None,
            storage_account=d.target.storage_account,
            region=d.region,
            secondary=d.target.secondary,
            endpoint_id=ep.id if ep else None,
            vnet_id=d.vnet.id if d.vnet else None,
            source_ip=facts.source_ip,
            caller=d.caller,
            action=d.action,
            resource=d.resource,
            check_resource=d.check_resource,
        )
        adm = Admitted(d.app, dp, dict(ev))
        if (dp.service != "regional" and d.caller.kind != "anonymous" and not d.caller.expires
                and self.gates.pure(ep, d.caller, d.vault)):
            self.admission.put(view, gen, key, adm)
        return adm

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
        if state.broken is not None:  # the answer's body failed after its head: close the connection (uvicorn)
            raise state.broken

    def http_refused(self, server: Any, client: Any, err: E.VaultlinkError, domain: str = "") -> None:
        """A connection refused below ASGI (malformed HTTP, headers too large or too slow): audit and count it."""
        view = self.view
        local_ip = server[0] if server else view.public_address
        source_ip = client[0] if client else "0.0.0.0"
        ep = view.endpoint_at(local_ip, domain)
        vnet = view.classify(source_ip, domain)
        ev: dict[str, Any] = {
            "plane": "data" if ep is not None else "management", "time": time.time(), "source_ip": source_ip,
            "endpoint": ep.id if ep else None, "vnet": vnet.id if vnet else None, "action": "http.refuse",
            "principal": None, "decision": "denied", "code": err.code, "status": err.http_status,
            "message": err.message,
        }
        self._finish(ev, time.perf_counter())

    def finish(self, ev: dict[str, Any], t0: float) -> None:
        """Audit a request's decision (with its latency) and count it in the metrics."""
        self._finish(ev, t0)

    def _finish(self, ev: dict[str, Any], t0: float) -> None:
        elapsed = time.perf_counter() - t0
        ev["latency_ms"] = round(elapsed * 1000, 3)
        self.metrics.observe(ev.get("endpoint"), ev["decision"], elapsed)
        self.svc.audit.emit(ev)


class FabricGates:
    """The stateful parts the checks use (``checks.Gates``): routes, credentials, throttles, policies."""

    def __init__(self, fabric: Fabric) -> None:
        svc = fabric.svc
        self._catalog = svc.catalog
        self._auth = fabric.auth
        self._throttle = fabric.throttle
        self.throttle_rate = svc.config.throttle_rate
        self._apps: dict[str, Any] = {**fabric.data_apps, "regional": fabric.management}
        self._routes = {name: RouteTable(app) for name, app in self._apps.items()}
        self._policy = PolicyGate(fabric.auth, lambda: fabric.view)  # steps 9 and 10

    def route(self, target: Target, method: str, path: str) -> tuple[Any, str, dict[str, str]]:
        table = self._routes.get(target.service)
        name, params = table.match(method, path) if table is not None else (None, {})
        action = "" if name is None else (management_action(name) if target.service == "regional" else name)
        return self._apps.get(target.service), action, params

    def count_anonymous(self, source_ip: str) -> None:
        self._auth.count_anonymous(source_ip)

    def authenticate(self, token: str | None, source_ip: str, secure: bool) -> Caller:
        return self._auth.seen_from(self._auth.authenticate(token, source_ip), source_ip, secure)

    def allow(self, key: str, now: float) -> bool:
        return self._throttle.allow(key, now)

    def partition(self, region: str) -> str:
        reg = self._catalog.regions.get(region)
        return reg.partition.name if reg else self._catalog.default_partition().name

    def endpoint_policy(
        self, ep: EndpointView, caller: Caller, action: str, resource: str, source_ip: str, region: str
    ) -> None:
        self._policy.endpoint_policy(ep, caller, action, resource, source_ip, region)

    def authorize(
        self, caller: Caller, vault: VaultView | None, action: str, resource: str, ep: EndpointView | None,
        source_ip: str, region: str,
    ) -> None:
        self._policy.authorize(caller, vault, action, resource, ep, source_ip, region)

    def pure(self, ep: EndpointView | None, caller: Caller, vault: VaultView | None) -> bool:
        return self._policy.pure(ep, caller, vault)
