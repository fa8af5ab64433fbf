"""The CLI's HTTP client: finds the server and key, turns error bodies into errors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from vaultlink.agent.resolver import DnsResolver
from vaultlink.config import client_settings
from vaultlink.errors import (
    InvalidApiKey,
    InvalidInput,
    ServiceUnavailable,
    Unauthenticated,
    VaultlinkError,
    from_dict,
)

_GLOBAL: dict[str, str | None] = {
    "url": None, "api_key": None, "data_dir": None, "profile": None, "source_ip": None, "dns": None,
    "service_region": None,
}


def set_globals(
    url: str | None,
    api_key: str | None,
    data_dir: str | None,
    profile: str | None,
    source_ip: str | None = None,
    dns: str | None = None,
    service_region: str | None = None,
) -> None:
    _GLOBAL.update(url=url, api_key=api_key, data_dir=data_dir, profile=profile, source_ip=source_ip, dns=dns,
                   service_region=service_region)


_ARN_WITH_SLASH = re.compile(r"arn:[^/:]*:ec2:[^/:]*:\d{12}:(?:vpc|vpc-endpoint)/([A-Za-z0-9-]+)")


def _private_base(url: str, info: dict[str, Any], source_ip: str | None, dns: str) -> tuple[str, str]:
    """(base URL on the address DNS gives, Host) for the regional service name, resolved like a VM does."""
    domain = str(info.get("domain") or "vaultlink.internal")
    region = _GLOBAL["service_region"] or info.get("default_region")
    if not region:
        raise InvalidInput("with --dns, say which region's service to call: --service-region REGION.",
                           field="service_region")
    host = f"backup.{region}.{domain}"
    ip = DnsResolver(dns, source_ip or "0.0.0.0", domain).resolve(host)
    port = urlsplit(url).port or 80
    return f"http://{ip}:{port}", f"{host}:{port}"


class Client:
    def __init__(self, url: str | None = None, api_key: str | None = None, timeout: float = 60.0) -> None:
        s = client_settings(
            url or _GLOBAL["url"], api_key or _GLOBAL["api_key"], _GLOBAL["data_dir"], _GLOBAL["profile"]
        )
        if not s.url:
            raise ServiceUnavailable(
                f"no vaultlink server found: none is running with data dir {s.data_dir}; start one with "
                "`vaultlink serve`, or set VAULTLINK_URL (and VAULTLINK_API_KEY)."
            )
        self.url = s.url.rstrip("/")
        self.api_key = s.api_key
        source_ip, dns = _GLOBAL["source_ip"], _GLOBAL["dns"]
        headers: dict[str, str] = {}
        base = self.url
        if dns:
            base, headers["Host"] = _private_base(self.url, s.server_info, source_ip, dns)
        transport = httpx.HTTPTransport(local_address=source_ip) if source_ip else None
        self._http = httpx.Client(base_url=base, timeout=timeout, trust_env=False, transport=transport,
                                  headers=headers)

    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
        auth: bool = True,
    ) -> Any:
        headers = {}
        if auth:
            if not self.api_key:
                raise Unauthenticated()
            headers["Authorization"] = f"Bearer {self.api_key}"
        if params:
            params = {k: v for k, v in params.items() if v is not None}
        path = _ARN_WITH_SLASH.sub(r"\1", path)  # a vnet's or endpoint's ARN: its id is the path segment
        try:
            resp = self._http.request(method, "/v1" + path, json=json, params=params, headers=headers)
        except httpx.TransportError as exc:
            raise ServiceUnavailable(
                f"cannot reach the vaultlink server at {self.url} ({exc.__class__.__name__}); "
                "is `vaultlink serve` running?"
            ) from None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code >= 400:
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                raise from_dict(body["error"], resp.status_code)
            if resp.status_code == 401:
                raise InvalidApiKey()
            raise VaultlinkError(f"the server answered HTTP {resp.status_code}: {resp.text[:200]}")
        return body

    def stream_lines(self, path: str, **params: Any) -> Iterator[Any]:
        """GET a stream of JSON lines (blank lines are keep-alives); ends when the server ends it."""
        if not self.api_key:
            raise Unauthenticated()
        clean = {k: v for k, v in params.items() if v is not None}
        try:
            with self._http.stream("GET", "/v1" + path, params=clean, timeout=httpx.Timeout(60.0, read=30.0),
                                   headers={"Authorization": f"Bearer {self.api_key}"}) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    body = resp.json()
                    if isinstance(body, dict) and isinstance(body.get("error"), dict):
                        raise from_dict(body["error"], resp.status_code)
                    raise VaultlinkError(f"the server answered HTTP {resp.status_code}")
                for line in resp.iter_lines():
                    if line.strip():
                        yield json.loads(line)
        except httpx.TransportError as exc:
            raise ServiceUnavailable(f"the stream from {self.url} broke ({exc.__class__.__name__}).") from None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body if body is not None else {})

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)
