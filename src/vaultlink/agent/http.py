"""The agent's HTTP client: bound to the machine's source IP, connecting to the IP that DNS gave for
a name and sending the name as Host, with retries and backoff when the service is unreachable or
restarting (connection errors, 429, 502-504)."""

from __future__ import annotations

import json as jsonlib
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from vaultlink.agent.proxy import Proxy
from vaultlink.agent.resolver import Resolver
from vaultlink.agent.wire import NotRetried, Pool, Response, TransportError, tls_context
from vaultlink.dns import names as N
from vaultlink.errors import InvalidInput, ServiceUnavailable, VaultlinkError, from_dict

RETRY_STATUSES = (429, 502, 503, 504)
T = TypeVar("T")


class _Status(Exception):
    """An HTTP error answer (status >= 400), turned into the service's error by ``_retrying``."""

    def __init__(self, resp: Response) -> None:
        super().__init__(resp.status_code)
        self.resp = resp


class AgentHttp:
    def __init__(
        self,
        resolver: Resolver,
        port: int,
        source_ip: str | None,
        token: str | None,
        *,
        retry_for: float = 90.0,
        timeout: float = 120.0,
        sleep: Any = time.sleep,
        domain: str = "vaultlink.internal",
        vault_name: str | None = None,
        ca_pem: str = "",
        proxy: Proxy | None = None,
    ) -> None:
        self.domain = domain
        self.proxy = proxy
        self.vault_name = vault_name
        self.resolver = resolver
        self.port = port
        self.source_ip = source_ip
        self.token = token
        self.retry_for = retry_for
        self._sleep = sleep
        self.retries = 0
        self.extra_headers: dict[str, str] = {}  # sent with every request (a restore job's grant)
        # the credential another process of this machine saved, when the service refused this one as replaced
        # (``agent/credential.py``): the request is sent again with it, once
        self.refresh: Callable[[], str | None] | None = None
        # TLS when the vault credentials carried the deployment's CA (a server with `tls = false`: plain HTTP)
        self.tls = bool(ca_pem)
        self._pool = Pool(source_ip, connect_timeout=5.0, timeout=timeout, tls=tls_context(ca_pem) if ca_pem else None,
                          proxy=proxy)

    def close(self) -> None:
        self._pool.close()

    def request(
        self,
        host: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | list[memoryview] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        retry: bool = True,
    ) -> Response:
        """Send one request to ``host`` (a vault name); raise the service's error on failure."""
        body: bytes | list[memoryview] | None = content
        extra: dict[str, str] = {}
        if json is not None:
            body = jsonlib.dumps(json).encode()
            extra["content-type"] = "application/json"
        if params:
            path = f"{path}{'&' if '?' in path else '?'}{urlencode(params)}"

        def attempt(ip: str, hdrs: dict[str, str]) -> Response:
            resp = self._pool.send(ip, self.port, method, path, {**extra, **hdrs}, body, server_name=host)
            if resp.status_code >= 400:
                raise _Status(resp)
            return resp

        return self._retrying(host, path, headers, retry, attempt)

    def read_into(self, host: str, path: str, buf: memoryview, *, headers: dict[str, str] | None = None) -> None:
        """GET ``path`` from ``host`` and read its body straight into ``buf``, which it must fill exactly
        (no joined copy of the body); retried like ``request``."""

        def attempt(ip: str, hdrs: dict[str, str]) -> None:
            try:
                resp = self._pool.send(ip, self.port, "GET", path, hdrs, None, sink=buf, server_name=host)
            except ValueError as exc:
                raise InvalidInput(f"{host}{path} {exc}", field="range") from None
            if resp.status_code >= 400:
                raise _Status(resp)

        self._retrying(host, path, headers, True, attempt)

    def _retrying(self, host: str, path: str, headers: dict[str, str] | None, retry: bool,
                  attempt: Callable[[str, dict[str, str]], T]) -> T:
        deadline = time.monotonic() + (self.retry_for if retry else 0.0)
        delay = 0.2
        hdrs = {"host": host, **self.extra_headers, **(headers or {})}
        if self.token:
            hdrs["authorization"] = f"Bearer {self.token}"
        while True:
            err: VaultlinkError
            ip = "?"
            try:
                # through the proxy, the proxy resolves the name (CONNECT host:port); else this machine does,
                # inside the retry: a DNS server restarting is retried too
                proxied = self.proxy is not None and self.proxy.applies(host)
                ip = host if proxied else self.resolver.resolve(host)
                return attempt(ip, hdrs)
            except ServiceUnavailable as exc:
                err = exc
            except NotRetried as exc:
                raise ServiceUnavailable(str(exc)) from None
            except TransportError as exc:
                self.resolver.forget(host)
                via = f" through the proxy {self.proxy.where}" if ip == host and self.proxy is not None else ""
                err = ServiceUnavailable(
                    f"cannot reach {host} at {ip}:{self.port} from {self.source_ip or 'this machine'}{via} "
                    f"({exc}); is the service running and the endpoint reachable?"
                )
            except _Status as st:
                err = self._error(st.resp)
                fresh = self.refresh() if err.code == "InvalidApiKey" and self.refresh is not None else None
                if fresh and fresh != hdrs.get("authorization", "")[7:]:
                    self.token = fresh
                    hdrs["authorization"] = f"Bearer {fresh}"
                    continue
                if err.code == "PublicNetworkAccessDisabled":
                    raise self._public_hint(err, host, ip) from None
                if st.resp.status_code not in RETRY_STATUSES:
                    raise err from None
            if time.monotonic() + delay > deadline:
                raise err
            self.retries += 1
            self._sleep(delay)
            delay = min(delay * 2, 5.0)

    def _public_hint(self, err: VaultlinkError, host: str, ip: str) -> VaultlinkError:
        """The vault refused a request that reached its public endpoint: say which name resolved publicly."""
        domain = getattr(self.resolver, "domain", None) or self.domain
        pl = N.privatelink_name_for(host, domain) or host
        zone = N.zone_of(pl, domain) or "(its privatelink zone)"
        vault = self.vault_name or "VAULT"
        return type(err)(
            f"{host} resolved to {ip}, a public address, when asked from {self.source_ip or 'this machine'}, so "
            f"the request reached the vault's public endpoint, which it refuses (public network access is "
            f"Disabled). The private DNS for this name is missing in your vnet: zone {zone} must be linked to "
            f"the vnet and hold an A record for {pl}. `vaultlink dns doctor {vault}` lists what is missing.",
            fqdn=host, address=ip, zone=zone,
        )

    @staticmethod
    def _error(resp: Response) -> VaultlinkError:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return from_dict(body["error"], resp.status_code)
        code = resp.headers.get("x-error-code")
        if code:
            return from_dict({"code": code, "message": f"HTTP {resp.status_code}"}, resp.status_code)
        if resp.status_code in RETRY_STATUSES:
            return ServiceUnavailable(f"the service answered HTTP {resp.status_code}; retry later.")
        return VaultlinkError(f"the service answered HTTP {resp.status_code}: {resp.text[:200]}")

    def json(self, host: str, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request(host, method, path, json=body, **kw).json()
