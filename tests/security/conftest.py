"""The hostile tier's world: one real ``vaultlink serve`` with a private vault, two registered machines
with a backup each, a Reader, a service endpoint, another tenant; helpers that send crafted requests
from a machine's address and check what an attack must leave behind: a refusal with its stable code,
its audit event, and stored data untouched."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import Server, raw_connection, start_server, stop_server
from tests.e2e.test_data_path import vm
from tests.e2e.test_private_backup import Vm, make_data, private_vault

D = "vaultlink.internal"
VM_A, VM_B = "127.10.1.10", "127.10.1.11"
APP_VM = "127.20.1.5"


@dataclass
class World:
    s: Server
    tmp: Path
    vault: dict[str, Any]
    creds: dict[str, Any]  # the vault credentials file
    a: dict[str, Any]  # machine A's agent state (container id, credential, names)
    b: dict[str, Any]
    pe_ip: str
    se: dict[str, Any]
    reader_key: str
    tenant_key: str

    @property
    def port(self) -> int:
        return int(self.s.info["api_port"])

    def blobs_digest(self) -> str:
        """One hash of every stored blob's name and bytes: "stored data untouched"."""
        h = hashlib.sha256()
        root = self.s.data_dir / "blobs"
        for p in sorted(root.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
        return h.hexdigest()

    def backup_host(self) -> str:
        return f"{self.vault['id']}.l1.backup.{D}"

    def blob_host(self, state: dict[str, Any]) -> str:
        return f"{state['write_account']}.blob.{D}"

    def send(
        self,
        source: str,
        host: str,
        headers: Sequence[tuple[bytes, bytes]] | dict[str, str],
        method: str = "GET",
        path: str = "/",
        content: bytes | None = None,
        ip: str | None = None,
    ) -> httpx.Response:
        hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers)
        hdrs = [(k.encode() if isinstance(k, str) else k, v.encode() if isinstance(v, str) else v) for k, v in hdrs]
        hdrs.append((b"host", host.encode()))
        with vm(source) as c:
            return c.request(method, f"https://{ip or self.pe_ip}:{self.port}{path}", headers=hdrs, content=content)

    def raw(
        self, source: str, host: str, headers: Sequence[tuple[bytes, bytes]], method: str = "GET", path: str = "/",
        ip: str | None = None,
    ) -> httpx.Response:
        """Send bytes no well-behaved client would (trailing spaces, odd bytes) over a plain socket."""
        lines = [f"{method} {path} HTTP/1.1".encode(), b"host: " + host.encode(), b"connection: close",
                 *(k + b": " + v for k, v in headers)]
        with raw_connection(ip or self.pe_ip, self.port, source) as sock:
            sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return httpx.Response(int(head.split()[1]), content=body)

    def audited(self, code: str, source: str, since: float) -> list[dict[str, Any]]:
        """Audit events with ``code`` from ``source`` since ``since`` (waits for the writer)."""
        deadline = time.monotonic() + 10
        with self.s.http() as c:
            while True:
                evs = [e for e in c.get("/audit", params={"code": code, "limit": 200}).json()
                       if e.get("source_ip") == source and float(e["time"]) >= since - 1]
                if evs or time.monotonic() > deadline:
                    return evs
                time.sleep(0.2)


def _state(vm_: Vm) -> dict[str, Any]:
    out: dict[str, Any] = json.loads((vm_.state / "state.json").read_text())
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("hostile")
    s = start_server(tmp / "data")
    try:
        yield build_world(s, tmp)
    finally:
        stop_server(s)


def build_world(s: Server, tmp: Path) -> World:
    _vid, creds_path = private_vault(s, tmp)
    dns = f"127.0.0.1:{s.info['dns_port']}"
    src = make_data(tmp / "src", 4)
    machines = []
    for name, ip in (("vm-a", VM_A), ("vm-b", VM_B)):
        m = Vm(s, tmp, name, ip)
        r = m.register(creds_path, dns)
        assert r.exit_code == 0, r.stderr
        m.ok("backup", str(src))
        machines.append(_state(m))
    s.ok("vnet", "create", "app-net", "--region", "local-1", "--address-space", "127.20.0.0/16",
         "--subnet", "a=127.20.1.0/24")
    se = s.ok("endpoint", "create", "--name", "api", "--service", "backup", "--region", "local-1",
              "--vnet", "app-net", "--subnet", "a", "--private-dns")
    reader = s.ok("principal", "create", "reader")
    s.ok("role", "assign", "reader", "Reader")
    tenant = s.ok("account", "create", "tenant-b")
    pe = s.ok("endpoint", "show", "pe1")
    return World(s, tmp, s.ok("vault", "show", "prod"), json.loads(creds_path.read_text()), machines[0],
                 machines[1], pe["ips"][0], se, reader["api_key"], tenant["owner_api_key"])
