"""The CLI's HTTP client: finds the server and key, turns error bodies into errors."""

from __future__ import annotations

from typing import Any

import httpx

from vaultlink.config import client_settings
from vaultlink.errors import InvalidApiKey, ServiceUnavailable, Unauthenticated, VaultlinkError, from_dict

_GLOBAL: dict[str, str | None] = {"url": None, "api_key": None, "data_dir": None, "profile": None}


def set_globals(url: str | None, api_key: str | None, data_dir: str | None, profile: str | None) -> None:
    _GLOBAL.update(url=url, api_key=api_key, data_dir=data_dir, profile=profile)


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
        self._http = httpx.Client(base_url=self.url, timeout=timeout, trust_env=False)

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

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body if body is not None else {})

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)
