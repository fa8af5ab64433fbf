"""Host mode: vnets are real subnets the server is attached to; endpoint IPs are real addresses.

When an endpoint is created its IPs are added (as /32, so no route changes) to the interface whose
subnet holds them (``host_interface`` for IPs no interface's subnet holds) and removed when it is
deleted; ARP answers for them, so machines on that subnet reach the endpoint. What the service added is
listed in ``<data dir>/host-addresses.json``: a restart (even after a crash) removes those no longer
wanted and never touches an address it did not add. With ``host_manage_addresses = false`` the addresses
are managed elsewhere (pre-provisioned, keepalived, cloud-init): listeners bind with ``IP_FREEBIND`` and
the service needs no privilege. Source classification, peering, security groups, approvals and
policies are the pipeline's, as in loopback mode.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import socket
import threading
from pathlib import Path
from typing import Any

from vaultlink.config import Config
from vaultlink.durable import write_atomic
from vaultlink.errors import ServiceUnavailable
from vaultlink.fabric import nsutil
from vaultlink.fabric.modes import bind_error
from vaultlink.fabric.view import NetworkView

log = logging.getLogger("vaultlink.fabric")


class HostMode:
    name = "host"
    dns_port = 0

    def __init__(self, config: Config) -> None:
        self.manage = config.host_manage_addresses
        self.default_interface = config.host_interface
        self.state_path = Path(config.data_dir) / "host-addresses.json"
        self._added: dict[str, str] = {}  # ip -> interface name, added by this service
        self.shared = config.shared_ports
        self._lock = threading.Lock()

    def preflight(self) -> None:
        if not self.manage:
            return
        if not nsutil.has_capability(nsutil.CAP_NET_ADMIN):
            raise ServiceUnavailable(
                "fabric = \"host\" adds each private endpoint's IP to a network interface and needs CAP_NET_ADMIN: "
                "run `vaultlink serve` as root, or from systemd with AmbientCapabilities=CAP_NET_ADMIN "
                "(contrib/vaultlink-host.service), or pre-provision the endpoint addresses yourself and set "
                "host_manage_addresses = false in the config file.",
                field="fabric", missing=["CAP_NET_ADMIN"],
            )
        try:
            loaded = json.loads(self.state_path.read_text())
            self._added = {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            self._added = {}

    def _ipr(self) -> Any:
        from pyroute2 import IPRoute

        return IPRoute()

    def _save(self) -> None:
        write_atomic(self.state_path, json.dumps(self._added, indent=1, sort_keys=True).encode("utf-8"))

    def apply(self, view: NetworkView) -> None:
        if not self.manage:
            return
        wanted = {ip for (_domain, ip) in view.by_ip}
        with self._lock, self._ipr() as ipr:
            names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
            present: dict[str, int] = {}
            subnets: list[tuple[ipaddress.IPv4Network, int]] = []
            for a in ipr.get_addr(family=socket.AF_INET):
                ip, plen = a.get_attr("IFA_ADDRESS"), a["prefixlen"]
                present[ip] = a["index"]
                if plen < 32:
                    subnets.append((ipaddress.IPv4Network(f"{ip}/{plen}", strict=False), a["index"]))
            subnets.sort(key=lambda s: -s[0].prefixlen)
            for ip in sorted(wanted):
                if ip in present:
                    continue  # ours from before, or pre-provisioned: left as it is
                index = next((i for net, i in subnets if ipaddress.IPv4Address(ip) in net), None)
                if index is None and self.default_interface:
                    found = ipr.link_lookup(ifname=self.default_interface)
                    index = found[0] if found else None
                if index is None:
                    log.error("host mode: no interface is on a subnet holding %s and host_interface is not set; "
                              "attach the server to that subnet or set host_interface", ip)
                    continue
                ipr.addr("add", index=index, address=ip, prefixlen=32)
                self._added[ip] = names.get(index, str(index))
                log.info("host mode: added %s to %s", ip, self._added[ip])
            for ip in sorted(set(self._added) - wanted):
                self._remove(ipr, ip, present)
            self._save()

    def _remove(self, ipr: Any, ip: str, present: dict[str, int]) -> None:
        name = self._added.pop(ip)
        index = present.get(ip)
        if index is not None:
            with contextlib.suppress(Exception):
                ipr.addr("del", index=index, address=ip, prefixlen=32)
                log.info("host mode: removed %s from %s", ip, name)

    def listen(self, domain: str, ip: str, port: int, kind: str) -> socket.socket:
        try:
            return nsutil.bound_socket(kind, ip, port, freebind=not self.manage, shared=self.shared)
        except OSError as exc:
            raise bind_error(ip, port, exc) from None

    def public_listeners(self) -> list[tuple[str, str]]:
        return []

    def vnet_dns(self, view: NetworkView) -> dict[str, str]:
        return {}

    def describe(self) -> dict[str, Any]:
        return {"mode": self.name, "manage_addresses": self.manage, "interface": self.default_interface or None}

    def close(self) -> None:
        if not self.manage:
            return
        with self._lock, self._ipr() as ipr:
            present = {a.get_attr("IFA_ADDRESS"): a["index"] for a in ipr.get_addr(family=socket.AF_INET)}
            for ip in sorted(self._added):
                self._remove(ipr, ip, present)
            self._save()
