"""A running server with one vault, one vnet and one Approved private endpoint, for the fabric tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import Server, start_server, stop_server


def vm(source_ip: str, timeout: float = 15) -> httpx.Client:
    """Raw requests from a machine's address. The listeners speak TLS only; these crafted requests do not
    check the certificate (``tests/e2e/test_tls.py`` checks every listener's against the CA)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source_ip, verify=False), trust_env=False,
                        timeout=timeout)


@dataclass
class Fab:
    s: Server
    vault: dict[str, Any]
    endpoint: dict[str, Any]

    @property
    def port(self) -> int:
        return int(self.s.info["api_port"])

    @property
    def ip(self) -> str:
        return str(self.endpoint["ips"][0])

    @property
    def host(self) -> str:
        return f"{self.vault['id']}.privatelink.l1.backup.vaultlink.internal"

    def headers(self) -> dict[str, str]:
        return {"Host": self.host, "Authorization": f"Bearer {self.s.owner_key}"}

    def url(self, path: str = "/") -> str:
        return f"https://{self.ip}:{self.port}{path}"


def setup_fabric(s: Server, vnet_octet: int = 60) -> Fab:
    with s.http() as c:
        v = c.post("/vaults", json={"name": f"fv{vnet_octet}", "region": "local-1"}).json()
        r = c.post("/vnets", json={"name": f"fn{vnet_octet}", "region": "local-1",
                                   "address_spaces": [f"127.{vnet_octet}.0.0/16"],
                                   "subnets": [{"name": "s", "cidr": f"127.{vnet_octet}.1.0/24"}]})
        assert r.status_code == 201, r.text
        r = c.post("/endpoints", json={"name": f"fe{vnet_octet}", "region": "local-1", "vnet": f"fn{vnet_octet}",
                                       "subnet": "s", "vault": v["id"], "group_id": "AzureBackup"})
        assert r.status_code == 201, r.text
        return Fab(s, v, r.json())


def start_with_config(tmp_path: Path, text: str) -> Server:
    cfg = tmp_path / "vaultlink.toml"
    cfg.write_text(text)
    return start_server(tmp_path / "data", ("--config", str(cfg)))


@pytest.fixture(scope="module")
def fab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fab]:
    s = start_server(tmp_path_factory.mktemp("fab") / "data")
    try:
        yield setup_fabric(s)
    finally:
        stop_server(s)
