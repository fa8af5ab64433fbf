"""The CLI's HTTP client: finds the server and key, turns error bodies into errors.

It speaks HTTP/1.1 through the standard library's ``http.client`` on one kept-alive connection: every
``vaultlink`` command starts a fresh process and makes one or two calls, and importing a general
HTTP client library (with its cookie jar, multipart encoder and its own command line) cost more than
the rest of the program's start-up together (measured: 0.14 s of 0.34 s)."""

from __future__ import annotations

import http.client
import json as jsonlib
import re
import socket
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

from vaultlink.agent.resolver import DnsResolver
from vaultlink.config import client_settings
from vaultlink.domain.cursor import cursor_after
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
_TRANSPORT_ERRORS = (OSError, http.client.HTTPException)
_MAX_BODY = 256 * 1024 * 1024  # the largest answer the CLI reads into memory (a long audit page is ~MBs)


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
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{ip}:{port}", f"{host}:{port}"


def query_string(params: dict[str, Any] | None) -> str:
    """``?a=1&b=true`` from params: None left out, booleans lower-case, lists as repeated keys."""
    if not params:
        return ""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        for v in value if isinstance(value, list | tuple) else [value]:
            if v is None:
                continue
            pairs.append((key, ("true" if v else "false") if isinstance(v, bool) else str(v)))
    return "?" + urlencode(pairs) if pairs else ""


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
        self.server_info: dict[str, Any] = dict(s.server_info or {})
        self.timeout = timeout
        source_ip, dns = _GLOBAL["source_ip"], _GLOBAL["dns"]
        base, self.host = self.url, ""
        if dns:
            base, self.host = _private_base(self.url, s.server_info, source_ip, dns)
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"the server URL {self.url!r} is not an http:// or https:// URL.", field="url")
        self._scheme, self._hostname = parts.scheme, parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/") + "/v1"
        self._source = (source_ip, 0) if source_ip else None
        self._conn: http.client.HTTPConnection | None = None
        self._ca_file = s.ca_file

    @property
    def ca_file(self) -> str | None:
        """The deployment's CA the client verifies the server with (None: the system's)."""
        return self._ca_file or None

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._scheme == "https":
                self._conn = http.client.HTTPSConnection(
                    self._hostname, self._port, timeout=timeout, source_address=self._source,
                    context=ssl.create_default_context(cafile=self._ca_file))
            else:
                self._conn = http.client.HTTPConnection(self._hostname, self._port, timeout=timeout,
                                                        source_address=self._source)
        self._conn.timeout = timeout
        if self._conn.sock is not None:
            self._conn.sock.settimeout(timeout)
        return self._conn

    def _send(self, method: str, path: str, body: bytes | None, headers: dict[str, str],
              timeout: float) -> http.client.HTTPResponse:
        """Send one request; a kept-alive connection the server closed meanwhile is reopened once."""
        hdrs = {"Accept": "application/json", "User-Agent": "vaultlink-cli", **headers}
        if self.host:
            hdrs["Host"] = self.host
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        for attempt in (0, 1):
            reused = self._conn is not None and self._conn.sock is not None
            conn = self._connect(timeout)
            try:
                conn.request(method, self._prefix + path, body=body, headers=hdrs)
                return conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt or not reused:
                    raise
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _unreachable(self, exc: BaseException) -> ServiceUnavailable:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return ServiceUnavailable(
                f"the server at {self.url} presented a certificate that does not verify ({exc.verify_message}) "
                f"against {self._ca_file or 'the system CAs'}; point VAULTLINK_CA_FILE at its deployment's "
                "ca.pem (in the server's data dir).")
        kind = "timed out" if isinstance(exc, socket.timeout | TimeoutError) else exc.__class__.__name__
        return ServiceUnavailable(
            f"cannot reach the vaultlink server at {self.url} ({kind}); is `vaultlink serve` running?")

    def _auth_headers(self, auth: bool) -> dict[str, str]:
        if not auth:
            return {}
        if not self.api_key:
            raise Unauthenticated()
        return {"Authorization": f"Bearer {self.api_key}"}

    @staticmethod
    def _error(status: int, raw: bytes) -> VaultlinkError:
        try:
            body = jsonlib.loads(raw)
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return from_dict(body["error"], status)
        if status == 401:
            return InvalidApiKey()
        return VaultlinkError(f"the server answered HTTP {status}: {raw[:200].decode(errors='replace')}")

    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
        auth: bool = True,
    ) -> Any:
        headers = self._auth_headers(auth)
        path = _ARN_WITH_SLASH.sub(r"\1", path)  # a vnet's or endpoint's ARN: its id is the path segment
        body = None if json is None else jsonlib.dumps(json).encode()
        try:
            resp = self._send(method, path + query_string(params), body, headers, self.timeout)
            raw = resp.read(_MAX_BODY + 1)
        except _TRANSPORT_ERRORS as exc:
            raise self._unreachable(exc) from None
        if len(raw) > _MAX_BODY:
            self.close()
            raise VaultlinkError(f"the server's answer is larger than {_MAX_BODY} bytes; ask for a smaller page.")
        if resp.will_close:
            self.close()
        if resp.status >= 400:
            raise self._error(resp.status, raw)
        try:
            return jsonlib.loads(raw) if raw else None
        except ValueError:
            return None

    def stream_lines(self, path: str, **params: Any) -> Iterator[Any]:
        """GET a stream of JSON lines (blank lines are keep-alives); ends when the server ends it.

        The read timeout (30 s) is longer than the server's keep-alive interval, so a silent stream is
        a broken one."""
        headers = self._auth_headers(True)
        try:
            resp = self._send("GET", path + query_string(params), None, headers, 30.0)
            if resp.status >= 400:
                raise self._error(resp.status, resp.read(1024 * 1024))
            while True:
                line = resp.readline(1024 * 1024)
                if not line:
                    break
                if line.strip():
                    yield jsonlib.loads(line)
        except _TRANSPORT_ERRORS as exc:
            raise ServiceUnavailable(f"the stream from {self.url} broke ({exc.__class__.__name__}).") from None
        finally:
            self.close()

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def get_all(self, path: str, by: str, page: int = 1000, **params: Any) -> list[dict[str, Any]]:
        """Every item of a listing the server pages by ``(by, id)`` (``limit`` and ``after``), a page at a time."""
        out: list[dict[str, Any]] = []
        after = None
        for _ in range(100_000):  # bounded by the listing: a short page is its last
            rows = self.get(path, **params, limit=page, after=after)
            out += rows
            if len(rows) < page:
                break
            after = cursor_after(rows[-1], by)
        return out

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body if body is not None else {})

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)
