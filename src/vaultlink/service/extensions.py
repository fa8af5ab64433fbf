"""Wires optional capabilities (networks, endpoints, DNS, data plane) into a Service.

Each capability module exposes ``install(svc)``; this is the one list of them.
"""

from __future__ import annotations

import importlib

from vaultlink.service.core import Service

CAPABILITIES: tuple[str, ...] = (
    "vaultlink.service.endpoints",  # first: refuses deleting a vault that has endpoints
    "vaultlink.service.dataplane",
    "vaultlink.service.dns",
)


def install(svc: Service) -> None:
    for name in CAPABILITIES:
        mod = importlib.import_module(name)
        mod.install(svc)
