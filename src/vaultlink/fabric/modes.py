"""How vnets and endpoints exist on the machine: one interface, three implementations (DESIGN.md §3).

- ``loopback`` (default, no privilege): vnets are ranges of 127.0.0.0/8 on one machine; an endpoint IP is
  a socket bound to a loopback address.
- ``host`` (``mode_host.py``): vnets are real subnets the server is attached to; endpoint IPs are real
  addresses added to (and removed from) the right interface over netlink.
- ``netns`` (``mode_netns.py``): each vnet is a network namespace; address spaces may overlap across vnets.

The pipeline, the DNS view, the checks and the audit never ask which one runs: they see a
``NetworkView`` whose addresses carry a routing domain ("" everywhere but in netns mode). A mode is
driven by ``fabric.listeners.ListenerManager``, always from worker threads (namespaces are per thread).
"""

from __future__ import annotations

import errno
import socket
from typing import Any, Protocol

from vaultlink.errors import ServiceUnavailable
from vaultlink.fabric.nsutil import bound_socket
from vaultlink.fabric.view import NetworkView

INTERNET = "@internet"  # the routing domain of netns mode's internet namespace (no vnet lives there)


class NetworkMode(Protocol):
    name: str

    def preflight(self) -> None:
        """At start: privileges and leftovers of a crash; raises ``ServiceUnavailable`` saying how to fix."""

    def apply(self, view: NetworkView) -> None:
        """Bring the machine in line with ``view`` (namespaces, links, routes, addresses)."""

    def listen(self, domain: str, ip: str, port: int, kind: str) -> socket.socket:
        """A socket bound to ``ip:port`` in routing domain ``domain`` (``kind``: tcp or udp)."""

    def public_listeners(self) -> list[tuple[str, str]]:
        """(domain, address) pairs where the public endpoint also listens (beyond ``public_address``)."""

    def vnet_dns(self, view: NetworkView) -> dict[str, str]:
        """Per-vnet DNS addresses (domain -> address, on :attr:`dns_port`)."""

    dns_port: int

    def describe(self) -> dict[str, Any]:
        """What the banner, ``/healthz`` and ``server.json`` show."""

    def close(self) -> None:
        """Remove what :meth:`apply` made."""


def bind_error(ip: str, port: int, exc: OSError, hint: str = "") -> ServiceUnavailable:
    why = "it is taken" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
    return ServiceUnavailable(f"cannot listen on {ip}:{port} ({why}){hint}.", field="fabric")


class LoopbackMode:
    """Every vnet in 127.0.0.0/8 of this machine: nothing to build, a socket per endpoint IP."""

    name = "loopback"
    dns_port = 0

    def __init__(self, shared_ports: bool = False) -> None:
        self.shared = shared_ports

    def preflight(self) -> None:
        return None

    def apply(self, view: NetworkView) -> None:
        return None

    def listen(self, domain: str, ip: str, port: int, kind: str) -> socket.socket:
        try:
            return bound_socket(kind, ip, port, shared=self.shared)
        except OSError as exc:
            raise bind_error(ip, port, exc, "; stop what uses it or choose another api_port") from None

    def public_listeners(self) -> list[tuple[str, str]]:
        return []

    def vnet_dns(self, view: NetworkView) -> dict[str, str]:
        return {}

    def describe(self) -> dict[str, Any]:
        return {"mode": self.name}

    def close(self) -> None:
        return None
