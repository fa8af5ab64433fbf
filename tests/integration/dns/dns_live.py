"""The small world and the real-client helpers of the dns integration tests.

- vnet1 127.10.0.0/16 is linked to the vault zone and the blob zone;
- everything in 127.0.0.0/16 is the internet (public address 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import dataclass

import pytest

from vaultlink.dns import names as N
from vaultlink.dns.model import DnsView, PrivateZone, Vnet, VnetLink, make_record_set
from vaultlink.dns.responder import Responder
from vaultlink.dns.server import DnsServer

VM = "127.10.1.5"
INTERNET = "127.0.0.1"
V1 = N.vault_public_name("v1", "ge")
V1_PL = N.vault_privatelink_name("v1", "ge")


def world(v1_ip: str = "127.10.1.4") -> DnsView:
    vz, bz = N.vault_privatelink_zone("ge"), N.blob_privatelink_zone()
    big = [f"127.10.9.{i}" for i in range(1, 61)]
    zones = [
        PrivateZone.create(
            vz,
            [make_record_set(vz, "v1", "A", [v1_ip], 10), make_record_set(vz, "big", "A", big, 10)],
            [VnetLink("vnet1")],
        ),
        PrivateZone.create(
            bz, [make_record_set(bz, "acct1", "A", ["127.10.1.6"], 10)], [VnetLink("vnet1", True)]
        ),
    ]
    return DnsView.create(
        public_address="127.0.0.1",
        zones=zones,
        vnets=[Vnet.create("vnet1", ["127.10.0.0/16"])],
        public_names={
            V1: V1_PL,
            N.vault_public_name("big", "ge"): N.vault_privatelink_name("big", "ge"),
            N.blob_public_name("acct1"): N.blob_privatelink_name("acct1"),
        },
    )


@dataclass
class Running:
    server: DnsServer
    responder: Responder
    loop: asyncio.AbstractEventLoop

    @property
    def port(self) -> int:
        return self.server.port


def need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is missing: apt-get install -y {package}")
    return path


def dig(port: int, name: str, *args: str, source: str = VM, server: str = "127.0.0.1") -> str:
    """Run real dig from ``source`` (bounded: 2 s per try, 1 retry)."""
    cmd = [
        need("dig", "bind9-dnsutils"),
        "-b",
        source,
        f"@{server}",
        "-p",
        str(port),
        name,
        *args,
        "+time=2",
        "+tries=2",
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False).stdout


def short(port: int, name: str, *args: str, source: str = VM, server: str = "127.0.0.1") -> list[str]:
    return dig(port, name, "+short", *args, source=source, server=server).split()
