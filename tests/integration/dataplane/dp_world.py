"""World for the data-plane integration tests: an in-process vault data plane: the real service
and route modules behind a small Host-header
dispatcher that stands in for the fabric's pipeline (it sets the ``DataContext``), served by uvicorn
on 127.0.0.1; agents reach it through a static resolver."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from vaultlink.agent.resolver import StaticResolver
from vaultlink.api.data_apps import build_data_apps
from vaultlink.bootstrap import build_service
from vaultlink.config import load_config
from vaultlink.dns import names as N
from vaultlink.errors import ContainerReregistrationRequired, Unauthenticated, VaultlinkError
from vaultlink.fabric.credentials import credential_of
from vaultlink.service.authn import authenticate_token
from vaultlink.service.core import Caller, Service
from vaultlink.service.dataplane import manage
from vaultlink.service.dataplane.context import DataContext
from vaultlink.service.identity import authenticate, bootstrap
from vaultlink.service.vaults import create_vault

PASS = "correct horse battery staple"


class Dispatcher:
    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.apps = build_data_apps(svc)

    def _target(self, host: str) -> tuple[str, str, str | None]:
        p = N.parse_name(host, self.svc.config.domain)
        if p is None:
            raise VaultlinkError(f"unknown host {host}")
        with self.svc.store.transaction() as txn:
            if p.kind == "vault":
                return "backup", str(p.vault_id), None
            rec = txn.require("storage_account", str(p.account))
            return str(p.kind), rec["vault_id"], str(p.account)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        from vaultlink.fabric.asgi import send_error

        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode().split(":")[0]
        try:
            service, vault_id, account = self._target(host)
            token = credential_of(scope["headers"])
            if not token:
                raise Unauthenticated()
            caller = authenticate_token(self.svc, token)
            if caller.reregistration_required and scope["path"] != "/containers/register":
                raise ContainerReregistrationRequired()
        except VaultlinkError as err:
            await send_error(send, err)
            return
        scope.setdefault("state", {})["dp"] = DataContext(
            service=service, host=host, vault_id=vault_id, storage_account=account, region="local-1",  # type: ignore[arg-type]
            endpoint_id=None, vnet_id=None, source_ip=scope["client"][0], caller=caller, action="?", resource="*",
        )
        await self.apps[service](scope, receive, send)


@dataclass
class DataPlane:
    svc: Service
    owner: Caller
    vault: dict[str, Any]
    port: int
    tmp: Path

    @property
    def resolver(self) -> StaticResolver:
        return StaticResolver({"*": "127.0.0.1"})

    def credentials(self, valid_hours: float = 24.0) -> str:
        import json

        doc = manage.vault_credentials(self.svc, self.owner, self.vault["id"], self.port, valid_hours)
        path = self.tmp / f"creds-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(doc))
        return str(path)

    def blob_files(self) -> list[Path]:
        return sorted(p for p in (self.tmp / "data" / "blobs").rglob("*") if p.is_file())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_dataplane(tmp: Path, **cfg: Any) -> Iterator[DataPlane]:
    config = load_config(data_dir=str(tmp / "data"), **cfg)
    svc = build_service(config)
    _acct, token = bootstrap(svc) or ({}, "")
    owner = authenticate(svc, token)
    vault = create_vault(svc, owner, "vault1", "local-1")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(Dispatcher(svc), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off", access_log=False))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield DataPlane(svc, owner, vault, port, tmp)
    finally:
        server.should_exit = True
        th.join(timeout=10)
        svc.store.close()


