"""Listeners exist exactly while their endpoints exist: opened on creation, closed on deletion,
rebuilt from the store at start-up. Also refreshes the pipeline's view on every change, and has the
network mode (``modes.py``: loopback, host, netns) bring the machine in line with it first: namespaces,
links and addresses before the listeners that need them, and each vnet's DNS listener (netns mode).

The view is built in a worker thread, never on the event loop: a topology change does not pause other
requests. The request that made the change waits (at most 10 s) until its listeners are open, so
``endpoint create`` returns only once the endpoint answers. Changes that arrive while a rebuild runs
are covered by the next one (one rebuild per burst, not one per change)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vaultlink.config import Config
from vaultlink.dns.server import DnsServer
from vaultlink.errors import VaultlinkError
from vaultlink.fabric.build import Memo, build_view
from vaultlink.fabric.mode_host import HostMode
from vaultlink.fabric.mode_netns import NetnsMode
from vaultlink.fabric.modes import LoopbackMode, NetworkMode
from vaultlink.fabric.pipeline import Fabric, FrontEnd
from vaultlink.fabric.protocol import install as install_protocol
from vaultlink.fabric.view import EndpointView, NetworkView
from vaultlink.service.events import EndpointsChanged, VaultsChanged

log = logging.getLogger("vaultlink.fabric")


def open_mode(config: Config) -> NetworkMode:
    """The configured network mode (host and netns import pyroute2 only when they run)."""
    if config.fabric == "host":
        return HostMode(config)
    if config.fabric == "netns":
        return NetnsMode(config)
    return LoopbackMode(config.shared_ports)


@dataclass(frozen=True)
class ListenerPlan:
    """What a new view changes: API-port listeners (domain, ip) and gateway ports (domain, ip, port)."""

    api_remove: list[tuple[str, str]]
    api_add: list[tuple[str, str]]
    gateway_remove: list[tuple[str, str, int]]
    gateway_add: list[tuple[str, str, int]]


class ListenerManager:
    def __init__(self, runtime: Any, fabric: Fabric) -> None:
        self.runtime = runtime
        self.fabric = fabric
        self.svc = fabric.svc
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._synced = -1  # the service generation the current view was built from
        self._memo = Memo()  # what each unchanged record gave the last view
        self.mode: NetworkMode = open_mode(self.svc.config)
        self.dns_servers: dict[tuple[str, str], DnsServer] = {}  # (domain, address): a vnet's DNS address
        # what this manager has open: API-port listeners (domain, ip) and gateway ports (domain, ip, port); a
        # plan compares the view with these sets (C-speed set differences, not a walk over every listener)
        self._api_open: set[tuple[str, str]] = set()
        self._gateway_open: set[tuple[str, str, int]] = set()
        # (the builder's addresses token, ``build.Memo.addresses``, and the public listeners) that the open sets are
        # exactly what they want: a plan made from the same has nothing to do (no sets made); None after a failed open
        self._settled: tuple[Any, ...] | None = None
        self._planned: tuple[Any, ...] | None = None  # what the last plan was made from

    async def start(self, runtime: Any) -> None:
        self.loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.mode.preflight)
        info = getattr(runtime, "extra_info", None)
        if isinstance(info, dict):
            info["fabric"] = self.mode.describe()
            # where a backup-gateway endpoint's ports listen (what `vaultlink gateway health` probes)
            info["gateway_ports"] = {"443": self.runtime.port,
                                     **{str(p): at for at, p in self.fabric.gateway_ports.items()}}
        # Vaults, vnets and endpoints make the view; keys and roles only bump svc.generation,
        # which the pipeline's caches already compare against.
        self.svc.on(EndpointsChanged, self._changed)
        self.svc.on(VaultsChanged, self._changed)
        await self.sync()

    async def stop(self, runtime: Any) -> None:
        async with self._lock:
            for server in self.dns_servers.values():
                await server.stop()
            self.dns_servers.clear()
            for domain, host, port in list(self.runtime.listeners):
                if domain:
                    await self.runtime.remove_listener(host, port, domain)
            await asyncio.to_thread(self.mode.close)

    def _changed(self, _event: object = None) -> None:
        """Called from whichever thread committed a change: rebuild the view and the listeners."""
        loop = self.loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(self.sync())
        else:
            fut = asyncio.run_coroutine_threadsafe(self.sync(), loop)
            # Wait so that an endpoint's listener is open when its creation call returns.
            with contextlib.suppress(Exception):
                fut.result(timeout=10)

    async def sync(self) -> None:
        asked = self.svc.generation  # read before the lock: a rebuild that starts later covers this change
        async with self._lock:
            if self._synced >= asked:
                return
            generation = self.svc.generation
            # built and compared in a worker thread: the loop only opens and closes what changed
            view, plan = await asyncio.to_thread(self._plan, generation)
            self.fabric.view = view
            self._synced = generation
            port = self.runtime.port
            for domain, ip in plan.api_remove:  # closed before the mode removes their address
                await self.runtime.remove_listener(ip, port, domain)
                self._api_open.discard((domain, ip))
            await self._sync_dns(view, removals_only=True)
            try:
                await asyncio.to_thread(self.mode.apply, view)
            except Exception:  # keep serving what exists; the next change tries again
                log.exception("fabric: the %s mode could not apply the change", self.mode.name)
            failed = False
            for domain, ip in plan.api_add:
                if await self._listen(domain, ip, port, "cannot open listener for %s: %s", ip):
                    self._api_open.add((domain, ip))
                else:
                    failed = True
            # a backup-gateway endpoint listens on every port its security group must allow (443 is the API
            # port; the others at ``config.gateway_offset``): the same pipeline, checked for that port
            for domain, ip, p in plan.gateway_remove:
                await self.runtime.remove_listener(ip, p, domain)
                self._gateway_open.discard((domain, ip, p))
            for domain, ip, p in plan.gateway_add:
                if await self._listen(domain, ip, p, "cannot open the gateway port %d of %s: %s", p, ip):
                    self._gateway_open.add((domain, ip, p))
                else:
                    failed = True
            self._settled = None if failed else self._planned  # a failed open: the next plan tries it again
            await self._sync_dns(view)

    def _plan(self, generation: int) -> tuple[NetworkView, ListenerPlan]:
        """The new view, and what it opens and closes against what is open (run under ``_lock``: the sets it
        reads change only in ``sync``, which also says afterwards whether what is open is what the plan's inputs
        want: ``_settled``). A listener that failed to open is not in them: the next plan retries."""
        view = build_view(self.svc, generation, self._memo)
        public = self.mode.public_listeners()
        inputs = self._planned = (self._memo.addresses, public)
        settled, moved = self._settled, self._memo.moved
        if settled == inputs:  # (the builder's token compared by identity: no set made)
            return view, ListenerPlan([], [], [], [])  # the addresses the open listeners are: nothing to do
        if settled is not None and settled[1] == public and moved is not None and moved[0] is settled[0] \
                and moved[1] is inputs[0]:
            return view, self._moves(view, moved[2], moved[3])  # one change from what is open: its views only
        wanted = set(view.by_ip)
        wanted.update(public)
        wanted.discard(("", self.svc.config.public_address))  # the runtime's own listener
        have, gw_have = self._api_open, self._gateway_open
        gw_wanted = {(domain, ip, p) for (domain, ip) in view.gateway_ips for p in self.fabric.gateway_ports}
        return view, ListenerPlan(sorted(have - wanted), sorted(wanted - have), sorted(gw_have - gw_wanted),
                                  sorted(gw_wanted - gw_have))

    def _moves(self, view: NetworkView, gone: list[EndpointView], came: list[EndpointView]) -> ListenerPlan:
        """The plan when what is open is what the last views wanted and the new views differ from them by the
        endpoints ``gone`` and ``came`` (``build.Memo.moved``): the same plan as comparing every address, made from
        their addresses only."""
        own = ("", self.svc.config.public_address)  # the runtime's own listener
        ports = self.fabric.gateway_ports
        out = [(v.domain, ip) for v in gone for ip in v.ips]
        into = [(v.domain, ip) for v in came for ip in v.ips]
        remove = {k for k in out if k not in view.by_ip and k in self._api_open}
        add = {k for k in into if k in view.by_ip and k != own and k not in self._api_open}
        gw_remove = {(*k, p) for k in out for p in ports if k not in view.gateway_ips} & self._gateway_open
        gw_add = {(*k, p) for k in into if k in view.gateway_ips for p in ports} - self._gateway_open
        return ListenerPlan(sorted(remove), sorted(add), sorted(gw_remove), sorted(gw_add))

    async def _listen(self, domain: str, ip: str, port: int, failure: str, *args: Any) -> bool:
        """Open a listener on ``ip:port`` in ``domain``; False (logged) if it could not."""
        try:
            sock = await asyncio.to_thread(self.mode.listen, domain, ip, port, "tcp")
            await self.runtime.add_listener(ip, port, domain, sock)
        except VaultlinkError as exc:
            log.error(failure, *args, exc.message)
            return False
        return True

    async def _sync_dns(self, view: NetworkView, removals_only: bool = False) -> None:
        """Netns mode: the responder also answers on each vnet's DNS address, inside its namespace."""
        dns = getattr(self.runtime, "dns", None)
        responder = getattr(dns, "responder", None)
        wanted = set(self.mode.vnet_dns(view).items()) if responder is not None else set()
        for key in sorted(set(self.dns_servers) - wanted):
            await self.dns_servers.pop(key).stop()
        if removals_only or responder is None:
            return
        port = self.mode.dns_port
        for domain, ip in sorted(wanted - set(self.dns_servers)):
            try:
                udp = await asyncio.to_thread(self.mode.listen, domain, ip, port, "udp")
                tcp = await asyncio.to_thread(self.mode.listen, domain, ip, port, "tcp")
            except VaultlinkError as exc:
                log.error("cannot open the DNS listener of %s: %s", domain, exc.message)
                continue
            server = DnsServer(responder, ip, port, domain=domain, sockets=(udp, tcp))
            await server.start()
            self.dns_servers[(domain, ip)] = server


def attach(runtime: Any, data_apps: dict[str, Any], fronts: Sequence[FrontEnd] = ()) -> Fabric:
    """Put the fabric in front of the runtime's app (the management app), the data-plane apps and the
    compatibility front ends, and manage endpoint listeners."""
    fabric = Fabric(runtime.svc, runtime.app, data_apps, fronts)
    runtime.set_app(fabric)
    install_protocol(runtime.uv_config)
    manager = ListenerManager(runtime, fabric)
    runtime.start_hooks.append(manager.start)
    runtime.stop_hooks.append(manager.stop)
    runtime.fabric = fabric
    return fabric
