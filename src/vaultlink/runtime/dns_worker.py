"""The DNS responder's UDP side in a process of its own (``dns_udp_worker = true``, the default).

One Python process cannot answer UDP queries as fast as dnsmasq while its event loop also serves HTTP:
every query would pay the loop's per-datagram overhead and share the GIL with the data plane. So
``vaultlink serve`` binds the UDP socket itself (so a taken port is refused at start, as before) and
hands it to one worker process whose main thread is a plain ``recvfrom`` / ``answer`` / ``sendto``
loop. TCP stays on the service's loop. ``dig`` and the agent see one server on one address and port.

The worker is ``python -m vaultlink.runtime.dns_worker UDP_FD PIPE_FD``, started with only those two
descriptors: a fresh interpreter that imports the responder and nothing of the service or the CLI (no
``multiprocessing`` spawn, which would re-import the program and start a resource tracker). It gets
every new view over a pipe and acknowledges it once it serves it (a view is sent as what changed since the one the
worker serves: :class:`Update`); the service's
``DnsChanged`` handler waits for the acknowledgement (at most :data:`UPDATE_TIMEOUT`), so a record is
answered by the time the change that made it returns, as with the in-loop responder. The worker swaps
whole responders (one reference assignment), so a query is answered entirely from one view. It exits
when the pipe closes (the service stopped or died: even ``kill -9`` of the service ends it), and the
service stops it by its PID at shutdown.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from typing import Any

from vaultlink.dns.model import DnsView, PrivateZone, RecordSet, VnetLink
from vaultlink.dns.resolve import CompiledView
from vaultlink.dns.responder import Responder

log = logging.getLogger(__name__)
UPDATE_TIMEOUT = 10.0
MAX_DATAGRAM = 4096


class _Current:
    """The responder the loop uses (its reply cache and its answer); replaced whole on an update. The loop
    may take a cached reply from the old responder and, on a miss, ask the new one: either way one view
    answers a query entirely."""

    __slots__ = ("replies", "responder", "slow")

    def __init__(self, responder: Responder) -> None:
        self.set(responder)

    def set(self, responder: Responder) -> None:
        self.replies = responder.udp_replies
        self.slow = responder.answer
        self.responder = responder


@dataclass(frozen=True)
class ZoneDelta:
    """A zone changed at a few names (an endpoint created): the position of the base's zone it replaces, the zone
    without its record sets, and each record set as the position of the base zone's very same one, or a new one.
    The worker's copy then holds the record sets of the zone it indexed, so it indexes again only the names
    that changed (``ZoneIndex.patched``), and the pipe carries what changed."""

    base: int
    zone: PrivateZone  # its ``records`` left empty
    records: tuple[int | RecordSet, ...]


@dataclass(frozen=True)
class Update:
    """A view as what changed since ``base`` (the generation of the view the worker serves; None: sent whole).
    The worker rebuilds it over its own copy of that view (:func:`apply`), so an unchanged zone is again the very
    object its compiled view indexed (reused, not re-indexed), and a change costs what it changed to send."""

    base: int | None
    view: DnsView  # with ``base``: its zones and public names left empty
    zones: tuple[int | PrivateZone | ZoneDelta, ...] = ()  # the base's zone at that position, or a new zone
    added: dict[str, str] = field(default_factory=dict)  # public names added or changed
    removed: tuple[str, ...] = ()  # public names gone


class StaleBase(Exception):
    """An update made for a view other than the one the worker serves: the service sends the whole view."""


def update_for(view: DnsView, base: DnsView | None) -> Update:
    """What a worker serving ``base`` (None: nothing known) needs to serve ``view``."""
    if base is None:
        return Update(None, view)
    at = {id(z): i for i, z in enumerate(base.zones)}
    by_key = {(z.name, z.links): i for i, z in enumerate(base.zones)}
    zones = tuple(i if (i := at.get(id(z))) is not None and base.zones[i] is z else _delta(z, base.zones, by_key)
                  for z in view.zones)
    names, before = view.public_names, base.public_names
    if names is before:  # no vault changed (the service hands the views the very same names)
        return Update(base.generation, replace(view, zones=(), public_names={}), zones, {}, ())
    return Update(base.generation, replace(view, zones=(), public_names={}), zones,
                  dict(names.items() - before.items()), tuple(before.keys() - names.keys()))


def _delta(zone: PrivateZone, zones: tuple[PrivateZone, ...],
           by_key: dict[tuple[str, tuple[VnetLink, ...]], int]) -> PrivateZone | ZoneDelta:
    """``zone`` as a :class:`ZoneDelta` over the base's zone of the same name and links, when it keeps most of
    that zone's record sets (the very objects); else whole."""
    i = by_key.get((zone.name, zone.links))
    if i is None:
        return zone
    pos = {id(rs): j for j, rs in enumerate(zones[i].records)}  # ids of live objects: the base zone holds them
    records = tuple(pos.get(id(rs), rs) for rs in zone.records)
    if sum(1 for r in records if isinstance(r, int)) * 2 < len(records):
        return zone
    return ZoneDelta(i, replace(zone, records=()), records)


def _zone(z: int | PrivateZone | ZoneDelta, serving: DnsView) -> PrivateZone:
    if isinstance(z, int):
        return serving.zones[z]
    if isinstance(z, ZoneDelta):
        was = serving.zones[z.base].records
        return replace(z.zone, records=tuple(was[r] if isinstance(r, int) else r for r in z.records))
    return z


def apply(update: Update, serving: DnsView) -> DnsView:
    """The view ``update`` stands for, over ``serving`` (``StaleBase`` if it was made for another)."""
    if update.base is None:
        return update.view
    if serving.generation != update.base:
        raise StaleBase(f"a change to view {update.base}, but this worker serves view {serving.generation}")
    zones = tuple(_zone(z, serving) for z in update.zones)
    names = dict(serving.public_names)
    names.update(update.added)
    for name in update.removed:
        del names[name]
    return replace(update.view, zones=zones, public_names=names)


def _take_updates(conn: Connection, current: _Current) -> None:
    while True:
        try:
            update = conn.recv()
        except (EOFError, OSError):
            os._exit(0)  # the service is gone
        if update is None:
            os._exit(0)
        try:
            view = apply(update, current.responder.compiled.view)
            current.set(Responder(CompiledView(view, current.responder.compiled)))
            conn.send(("ok", view.generation))
        except StaleBase as exc:
            conn.send(("stale", str(exc)))
        except Exception as exc:  # a view the responder refuses: keep serving the last good one
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def worker_main(sock: socket.socket, conn: Connection) -> None:
    """The worker process: take the first view, then answer UDP queries on ``sock`` until the service goes
    away."""
    try:
        update = conn.recv()
    except (EOFError, OSError):
        os._exit(0)
    if not isinstance(update, Update) or update.base is not None:
        os._exit(0)
    view = update.view
    current = _Current(Responder(view))
    conn.send(("ok", view.generation))
    threading.Thread(target=_take_updates, args=(conn, current), daemon=True, name="dns-updates").start()
    sock.setblocking(True)
    recvfrom, sendto = sock.recvfrom, sock.sendto
    while True:  # the hot loop: no call, object or context manager that a repeated query does not need
        try:
            data, addr = recvfrom(MAX_DATAGRAM)
            hit = current.replies.get((addr[0], data[2:]))
            if hit is not None:
                sendto(data[:2] + hit, addr)
                continue
            reply = current.slow(data, addr[0], "udp")
            if reply is not None:
                sendto(reply, addr)
        except OSError:  # a failed receive, or a client that vanished (ICMP unreachable)
            continue


def main(argv: list[str]) -> None:
    udp_fd, pipe_fd = int(argv[0]), int(argv[1])
    worker_main(socket.socket(fileno=udp_fd), Connection(pipe_fd))


class UdpWorker:
    """The service's handle on the worker process."""

    def __init__(self, sock: socket.socket, view: DnsView) -> None:
        ours, theirs = socket.socketpair()
        udp_fd, pipe_fd = sock.fileno(), theirs.fileno()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vaultlink.runtime.dns_worker", str(udp_fd), str(pipe_fd)],
            pass_fds=(udp_fd, pipe_fd), stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        self._lock = threading.Lock()
        self._serves: DnsView | None = None  # the view the worker acknowledged last (what updates are made against)
        if not self.update(view):
            self.stop()
            raise OSError("the DNS UDP worker did not start")

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def update(self, view: DnsView, meanwhile: Callable[[], object] | None = None) -> bool:
        """Hand the worker ``view`` and wait until it serves it; False (logged) if it did not. ``meanwhile`` runs
        while the worker takes it (the service compiles its own copy then: the two processes work at once)."""
        with self._lock:
            status, detail = self._post(view, self._serves)
            try:
                if meanwhile is not None:
                    meanwhile()
            finally:
                if status == "sent":
                    status, detail = self._answer(view)
            if status == "stale":  # the worker serves another view than we think: send it whole
                status, detail = self._post(view, None)
                if status == "sent":
                    status, detail = self._answer(view)
            self._serves = view if status == "ok" else self._serves if status == "error" else None
        if status not in ("ok", "gone", "timeout"):
            log.error("dns: the UDP worker refused view %s: %s", view.generation, detail)
        return bool(status == "ok")

    def _post(self, view: DnsView, base: DnsView | None) -> tuple[str, Any]:
        try:
            self._conn.send(update_for(view, base))
        except (EOFError, OSError) as exc:
            log.error("dns: the UDP worker is gone (%s)", exc)
            return "gone", None
        return "sent", None

    def _answer(self, view: DnsView) -> tuple[str, Any]:
        try:
            deadline = time.monotonic() + UPDATE_TIMEOUT
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not self._conn.poll(left):
                    log.error("dns: the UDP worker did not take view %s within %.0f s", view.generation,
                              UPDATE_TIMEOUT)
                    return "timeout", None
                status, detail = self._conn.recv()
                if status != "ok" or detail == view.generation:
                    return str(status), detail
                # the late answer to an update that timed out: this one's is still to come
        except (EOFError, OSError) as exc:
            log.error("dns: the UDP worker is gone (%s)", exc)
            return "gone", None

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(None)
        try:
            self.process.wait(2.0)
        except subprocess.TimeoutExpired:
            self.process.terminate()  # our own child, by its PID
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(2.0)
        with contextlib.suppress(OSError):
            self._conn.close()


if __name__ == "__main__":
    # run as the package's module, not as ``__main__``: the updates the service pickles name its classes there
    from vaultlink.runtime import dns_worker

    dns_worker.main(sys.argv[1:])
