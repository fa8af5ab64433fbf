"""Netns mode: each vnet is a Linux network namespace with an address space of its own.

Layout, for a vnet V with first address space ``B/n`` (``<p>`` is ``netns_prefix``):

- namespace ``<p><vnet id>`` mounted in ``netns_dir`` (so ``ip netns exec`` and ``vaultlink vnet exec``
  find it); on its ``lo``: ``B+1`` (the VMs' source address), ``B+2`` (the vnet's DNS address, answered on
  ``netns_dns_port`` by the service's responder) and every endpoint IP of V, each endpoint IP with a local
  route whose preferred source is ``B+1``, so a VM (any process in the namespace) reaching its endpoint is
  seen as ``B+1``, not as the endpoint itself;
- ``<netns_etc_dir>/<p><vnet id>/resolv.conf`` naming ``B+2``;
- the internet: namespace ``<p>internet`` holding ``netns_public_address`` (where the public endpoint listens
  too), joined to each vnet by a veth pair on a /30 of ``100.64.0.0/10`` (vnet side ``inet0``); a vnet's
  default route leaves through it with the /30 address as source, so the internet never needs a route
  into overlapping vnet ranges and sees a vnet's VMs by that address, as a cloud's NAT would;
- a peering: a veth pair between the two namespaces, with on-link routes to the other's address spaces
  (preferred source ``B+1``); not transitive, since no namespace forwards.

So the kernel enforces reachability (no route, no packet) before the pipeline does. Everything is created
from the view at start and on each change, and removed at stop; a crash leaves named namespaces that the
next start removes (every name with the prefix in ``netns_dir``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import shutil
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaultlink.config import Config
from vaultlink.domain.networks import TRANSIT, vnet_service_addresses
from vaultlink.errors import ServiceUnavailable
from vaultlink.fabric import nsutil
from vaultlink.fabric.modes import INTERNET, bind_error
from vaultlink.fabric.view import NetworkView, VnetView

log = logging.getLogger("vaultlink.fabric")

LO = 1  # the loopback interface's index in every namespace
SCOPE_LINK = 253
SCOPE_HOST = 254
RT_TABLE_LOCAL = 255
EEXIST = 17
MAX_SLOTS = TRANSIT.num_addresses // 4


@dataclass
class _Vnet:
    slot: int
    path: Path
    vm: str
    dns: str
    addresses: set[str] = field(default_factory=set)  # endpoint IPs on lo


def _ignore_exists(fn: Any, *args: Any, **kwargs: Any) -> None:
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        fn(*args, **kwargs)
    except NetlinkError as exc:
        if exc.code != EEXIST:
            raise


class NetnsMode:
    name = "netns"

    def __init__(self, config: Config) -> None:
        self.dir = Path(config.netns_dir)
        self.etc = Path(config.netns_etc_dir)
        self.prefix = config.netns_prefix
        self.public = config.netns_public_address
        self.dns_port = config.netns_dns_port
        self.internet = self.dir / f"{self.prefix}internet"
        self._vnets: dict[str, _Vnet] = {}
        self._links: set[tuple[str, str]] = set()  # peered vnet ids, (smaller, larger)
        self._lock = threading.Lock()

    # --- life -----------------------------------------------------------------------------------
    def preflight(self) -> None:
        missing = [n for n, bit in (("CAP_SYS_ADMIN", nsutil.CAP_SYS_ADMIN), ("CAP_NET_ADMIN", nsutil.CAP_NET_ADMIN))
                   if not nsutil.has_capability(bit)]
        if missing:
            raise ServiceUnavailable(
                f"fabric = \"netns\" creates a network namespace per vnet and needs {' and '.join(missing)}: run "
                "`vaultlink serve` as root, or from systemd with AmbientCapabilities=CAP_SYS_ADMIN CAP_NET_ADMIN "
                "CAP_NET_BIND_SERVICE (contrib/vaultlink-netns.service); fabric = \"loopback\" needs no privilege.",
                field="fabric", missing=missing,
            )
        try:
            import pyroute2  # noqa: F401
        except ImportError:
            raise ServiceUnavailable(
                "fabric = \"netns\" needs pyroute2 (a dependency of vaultlink): reinstall vaultlink with pip.",
                field="fabric",
            ) from None
        with self._lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            nsutil.share_dir(self.dir)
            self._cleanup()
            nsutil.create(self.internet)
            with nsutil.entered(self.internet), self._ipr() as ipr:
                ipr.link("set", index=LO, state="up")
                ipr.addr("add", index=LO, address=self.public, prefixlen=32)
            self._resolv(self.internet.name, self.public, "the internet: the public DNS")

    def close(self) -> None:
        with self._lock:
            for vid in list(self._vnets):
                self._drop(vid)
            self._links.clear()
            nsutil.remove(self.internet)
            shutil.rmtree(self.etc / self.internet.name, ignore_errors=True)

    def _cleanup(self) -> None:
        """Remove what a previous run with the same prefix left (a crash, a kill -9)."""
        for p in sorted(self.dir.glob(f"{self.prefix}*")):
            log.warning("netns: removing namespace %s left by an earlier run", p.name)
            nsutil.remove(p)
        if self.etc.is_dir():
            for p in self.etc.glob(f"{self.prefix}*"):
                shutil.rmtree(p, ignore_errors=True)

    @staticmethod
    def _ipr() -> Any:
        from pyroute2 import IPRoute

        return IPRoute()

    # --- the view -> the machine ----------------------------------------------------------------
    def apply(self, view: NetworkView) -> None:
        with self._lock:
            wanted = view.vnets
            links = {(a, b) for a, v in wanted.items() for b in v.peers if a < b and b in wanted}
            for pair in self._links - links:
                self._unlink(*pair)
            for vid in set(self._vnets) - set(wanted):
                self._drop(vid)
            for v in wanted.values():
                if v.id not in self._vnets:
                    try:
                        self._add(v)
                    except Exception:
                        log.exception("netns: cannot build vnet %s", v.id)
            ips: dict[str, set[str]] = {vid: set() for vid in wanted}
            for ep in view.endpoints.values():
                if ep.vnet_id in ips:
                    ips[ep.vnet_id].update(ep.ips)
            for vid, want in ips.items():
                if vid in self._vnets:
                    self._addresses(vid, want)
            for pair in sorted(links):
                if pair[0] in self._vnets and pair[1] in self._vnets:
                    self._link(wanted[pair[0]], wanted[pair[1]])

    def _free_slot(self) -> int:
        used = {v.slot for v in self._vnets.values()}
        for slot in range(MAX_SLOTS):
            if slot not in used:
                return slot
        raise ServiceUnavailable("netns mode: no free link to the internet namespace (too many vnets).")

    def _add(self, v: VnetView) -> None:
        slot = self._free_slot()
        name = f"{self.prefix}{v.id}"
        path = self.dir / name
        if path.exists():
            nsutil.remove(path)
        nsutil.create(path)
        vm, dns = vnet_service_addresses([str(n) for n in v.networks])
        base = int(TRANSIT.network_address) + 4 * slot
        gw, mine = str(ipaddress.IPv4Address(base + 1)), str(ipaddress.IPv4Address(base + 2))
        outside = f"{self.prefix}i{slot:x}"
        try:
            with nsutil.entered(path), self._ipr() as ipr:
                ipr.link("set", index=LO, state="up")
                for addr in (vm, dns):
                    _ignore_exists(ipr.addr, "add", index=LO, address=addr, prefixlen=32)
                fd = os.open(self.internet, os.O_RDONLY)
                try:
                    ipr.link("add", ifname="inet0", kind="veth", peer={"ifname": outside, "net_ns_fd": fd})
                finally:
                    os.close(fd)
                idx = ipr.link_lookup(ifname="inet0")[0]
                ipr.addr("add", index=idx, address=mine, prefixlen=30)
                ipr.link("set", index=idx, state="up")
                ipr.route("replace", dst="0.0.0.0/0", gateway=gw, prefsrc=mine)
            with nsutil.entered(self.internet), self._ipr() as ipr:
                idx = ipr.link_lookup(ifname=outside)[0]
                ipr.addr("add", index=idx, address=gw, prefixlen=30)
                ipr.link("set", index=idx, state="up")
        except Exception:
            nsutil.remove(path)
            raise
        self._resolv(name, dns, f"vnet {v.id}: its own DNS address")
        self._vnets[v.id] = _Vnet(slot, path, vm, dns)

    def _resolv(self, name: str, server: str, what: str) -> None:
        etc = self.etc / name
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(f"# {what}, answered by vaultlink\nnameserver {server}\n"
                                         "options timeout:2 attempts:2\n")

    def _drop(self, vid: str) -> None:
        st = self._vnets.pop(vid, None)
        if st is None:
            return
        nsutil.remove(st.path)  # its veths (to the internet, to peers) go with it
        shutil.rmtree(self.etc / st.path.name, ignore_errors=True)
        self._links = {p for p in self._links if vid not in p}

    def _addresses(self, vid: str, want: set[str]) -> None:
        st = self._vnets[vid]
        want = want - {st.vm, st.dns}
        if want == st.addresses:
            return
        with nsutil.entered(st.path), self._ipr() as ipr:
            for ip in sorted(want - st.addresses):
                _ignore_exists(ipr.addr, "add", index=LO, address=ip, prefixlen=32)
                # the VMs of this namespace reach it from B+1, not from the endpoint's own address
                ipr.route("replace", table=RT_TABLE_LOCAL, type="local", dst=ip, dst_len=32, oif=LO,
                          prefsrc=st.vm, scope=SCOPE_HOST, proto=2)
                st.addresses.add(ip)
            for ip in sorted(st.addresses - want):
                with contextlib.suppress(Exception):
                    ipr.addr("del", index=LO, address=ip, prefixlen=32)
                st.addresses.discard(ip)

    def _link(self, a: VnetView, b: VnetView) -> None:
        sa, sb = self._vnets[a.id], self._vnets[b.id]
        if (a.id, b.id) not in self._links:
            with nsutil.entered(sa.path), self._ipr() as ipr:
                fd = os.open(sb.path, os.O_RDONLY)
                try:
                    ipr.link("add", ifname=f"p{sb.slot:x}", kind="veth",
                             peer={"ifname": f"p{sa.slot:x}", "net_ns_fd": fd})
                finally:
                    os.close(fd)
            self._links.add((a.id, b.id))
        for here, there, other in ((sa, sb, b), (sb, sa, a)):  # routes again: address spaces may have grown
            with nsutil.entered(here.path), self._ipr() as ipr:
                idx = ipr.link_lookup(ifname=f"p{there.slot:x}")[0]
                ipr.link("set", index=idx, state="up")
                for net in other.networks:
                    ipr.route("replace", dst=str(net), oif=idx, prefsrc=here.vm, scope=SCOPE_LINK)

    def _unlink(self, a: str, b: str) -> None:
        self._links.discard((a, b))
        sa, sb = self._vnets.get(a), self._vnets.get(b)
        if sa is None or sb is None:
            return
        with nsutil.entered(sa.path), self._ipr() as ipr:
            found = ipr.link_lookup(ifname=f"p{sb.slot:x}")
            if found:
                ipr.link("del", index=found[0])  # its routes and the other end go with it

    # --- sockets --------------------------------------------------------------------------------
    def namespace_of(self, domain: str) -> Path | None:
        if domain == "":
            return None
        if domain == INTERNET:
            return self.internet
        st = self._vnets.get(domain)
        if st is None:
            raise ServiceUnavailable(f"netns mode: vnet {domain} has no namespace (see the service's log).")
        return st.path

    def listen(self, domain: str, ip: str, port: int, kind: str) -> socket.socket:
        with self._lock:
            path = self.namespace_of(domain)
        try:
            with nsutil.entered(path):
                return nsutil.bound_socket(kind, ip, port)
        except OSError as exc:
            raise bind_error(ip, port, exc, f" in namespace {path.name if path else 'of the service'}") from None

    def public_listeners(self) -> list[tuple[str, str]]:
        return [(INTERNET, self.public)]

    def vnet_dns(self, view: NetworkView) -> dict[str, str]:
        with self._lock:
            out = {v.routing_domain: self._vnets[v.id].dns for v in view.vnets.values() if v.id in self._vnets}
        out[INTERNET] = self.public
        return out

    def describe(self) -> dict[str, Any]:
        return {"mode": self.name, "netns_dir": str(self.dir), "netns_etc_dir": str(self.etc),
                "netns_prefix": self.prefix, "internet_namespace": self.internet.name,
                "internet_address": self.public, "dns_port": self.dns_port}
