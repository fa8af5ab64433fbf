"""The change feed between servers on one PostgreSQL (issue #18): ``NOTIFY`` out, ``LISTEN`` in.

Every change event (``service/events.Changed``) this server fires after a commit is sent as
``pg_notify(channel, {"from": server, "type": name, "fields": {...}})``; a thread of each server holds a
``LISTEN`` session and fires the events of other servers on its own bus, marked as remote
(``Service.remote``), so the listeners, the DNS responder and the caches follow within the notification's
delay. Service rules that write (the automatic DNS records) run only on the server that made the change.
When the session drops (a restart of PostgreSQL, ``pg_terminate_backend``), the thread reconnects with
backoff and then fires every change event once: a notification missed in the gap cannot leave this
server stale. The channel is derived from the metadata URL, so deployments (and test schemas) sharing
one database never hear each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import secrets
import threading
import time
from typing import Any

from sqlalchemy import text

from vaultlink.service.core import Service
from vaultlink.service.events import (
    Changed,
    ContainersChanged,
    DnsChanged,
    EndpointsChanged,
    KeysChanged,
    RegistrationLinksChanged,
    RolesChanged,
    VaultsChanged,
)

log = logging.getLogger("vaultlink.feed")
KINDS: dict[str, type[Changed]] = {k.__name__: k for k in (
    EndpointsChanged, VaultsChanged, DnsChanged, KeysChanged, RolesChanged, ContainersChanged,
    RegistrationLinksChanged)}
MAX_PAYLOAD = 7000  # PostgreSQL refuses NOTIFY payloads of 8000 bytes or more


def channel_for(url: str) -> str:
    return "vaultlink_" + hashlib.sha256(url.encode()).hexdigest()[:16]


class PgChangeFeed:
    def __init__(self, svc: Service, engine: Any, url: str) -> None:
        self.svc = svc
        self.engine = engine
        self.channel = channel_for(url)
        self.server = secrets.token_hex(6)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        self.resyncs = 0

    # --- out ------------------------------------------------------------------------------------
    def publish(self, event: Changed) -> None:
        """A change event of this server (subscribed to every kind): tell the others."""
        if self.svc.remote:
            return  # delivered by the feed: it came from another server
        payload = json.dumps({"from": self.server, "type": type(event).__name__,
                              "fields": dataclasses.asdict(event)}, separators=(",", ":"))
        if len(payload) > MAX_PAYLOAD:
            payload = json.dumps({"from": self.server, "type": type(event).__name__, "fields": {}})
        try:
            with self.engine.begin() as conn:
                conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": self.channel, "p": payload})
        except Exception:  # the change is committed; the others catch up at their next resync
            log.exception("feed: could not notify the other servers of %s", type(event).__name__)

    # --- in -------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="change-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        backoff = 0.2
        first = True
        while not self._stop.is_set():
            try:
                raw = self.engine.raw_connection()
                conn = raw.driver_connection
                raw.detach()  # a session of its own, never returned to the pool
                conn.autocommit = True
                conn.execute(f"SET application_name = 'vaultlink-feed-{self.server}'")
                conn.execute(f'LISTEN "{self.channel}"')
            except Exception as exc:
                log.warning("feed: cannot listen on PostgreSQL (%s); retrying in %.1f s", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.2
            self.connected.set()
            if not first:
                self._resync()  # whatever was notified while we were away
            first = False
            try:
                while not self._stop.is_set():
                    for note in conn.notifies(timeout=1.0):
                        self._deliver(note.payload)
            except Exception as exc:
                if not self._stop.is_set():
                    log.warning("feed: the LISTEN session ended (%s); reconnecting", exc)
            finally:
                self.connected.clear()
                with contextlib.suppress(Exception):
                    conn.close()

    def _deliver(self, payload: str) -> None:
        try:
            msg = json.loads(payload)
            if msg.get("from") == self.server:
                return
            kind = KINDS.get(str(msg.get("type")))
            if kind is None:
                return
            fields = {f.name: msg.get("fields", {}).get(f.name) for f in dataclasses.fields(kind)
                      if f.name in (msg.get("fields") or {})}
            event = kind(**fields)
        except (ValueError, TypeError, AttributeError):
            log.warning("feed: ignored a malformed notification")
            return
        self._fire(event)

    def _fire(self, event: Changed) -> None:
        try:
            self.svc.fire_remote(event)
        except Exception:
            log.exception("feed: applying %s failed", type(event).__name__)

    def _resync(self) -> None:
        self.resyncs += 1
        log.warning("feed: resynchronizing after a reconnect (changes made meanwhile are applied now)")
        for kind in KINDS.values():
            self._fire(kind())
            time.sleep(0)


def attach(runtime: Any) -> PgChangeFeed:
    """Send this server's change events to the others and apply theirs (a start and a stop hook)."""
    svc = runtime.svc
    feed = PgChangeFeed(svc, svc.store.engine, svc.config.effective_metadata_url)
    for kind in KINDS.values():
        svc.on(kind, feed.publish)

    async def start(_runtime: Any) -> None:
        feed.start()

    async def stop(_runtime: Any) -> None:
        await asyncio.to_thread(feed.stop)

    runtime.start_hooks.append(start)
    runtime.stop_hooks.append(stop)
    runtime.feed = feed
    return feed
