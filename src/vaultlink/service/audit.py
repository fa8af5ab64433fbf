"""The audit sink: callers emit events without waiting; a thread writes them in batches.

Bounds, so that no flood can grow the audit faster than a limit:

- a flood of identical refusals (same source address, code and action) is audited as counted
  summaries: the first refusal of each second in full, the rest of that second as one event with
  ``"summary": true`` and its ``count``;
- at most ``max_pending`` events wait for the writer; beyond that new events are dropped, counted
  (``dropped``) and logged;
- the store keeps ``retention_seconds`` of events and at most ``max_events`` (``trim_audit`` every
  ``trim_every`` seconds; ``trimmed`` counts what went).

``summarized``, ``dropped`` and ``trimmed`` are exported as metrics. ``flush()`` makes every event
emitted so far (and the summaries of past seconds) visible to queries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any, Protocol

from vaultlink.errors import ServiceUnavailable, StorageFull, VaultlinkError
from vaultlink.ports import MetadataStore

log = logging.getLogger("vaultlink.audit")
MAX_PENDING = 200_000
SUMMARY_KEYS = ("plane", "endpoint", "vault", "vnet", "account_id", "principal", "host", "status", "action")


class AuditWriter(Protocol):
    """Where batches go: the metadata store itself, or a process of its own (``runtime/audit_worker.py``)."""

    def append_audit(self, events: list[dict[str, Any]]) -> None: ...

    def trim_audit(self, before_time: float, max_events: int) -> int: ...


class AuditSink:
    def __init__(
        self,
        store: MetadataStore,
        interval: float = 0.05,
        max_batch: int = 5000,
        *,
        writer: AuditWriter | None = None,
        max_pending: int = MAX_PENDING,
        retention_seconds: float = 90 * 86400.0,
        max_events: int = 5_000_000,
        trim_every: float = 60.0,
    ) -> None:
        self._store: AuditWriter = writer if writer is not None else store
        self._writer = writer
        self._pending: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()  # taken directly on the request path (a C-level ``with``)
        self._cond = threading.Condition(self._lock)
        self._interval = interval
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._retention = retention_seconds
        self._max_events = max_events
        self._trim_every = trim_every
        self._next_trim = time.monotonic() + trim_every
        self._stop = False
        self._written = 0
        self._emitted = 0
        self._thread: threading.Thread | None = None
        self._floods: dict[tuple[str, str, str, int], tuple[int, dict[str, Any]]] = {}
        self._away = False  # the store was unavailable at the last write
        self.failed = 0  # events that could not be stored at all (logged)
        self.summarized = 0  # refusals folded into summary events
        self.dropped = 0  # events dropped because the writer fell too far behind
        self.trimmed = 0  # events removed by retention

    def start(self) -> None:
        start = getattr(self._writer, "start", None)
        if start is not None:
            start()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
            self._thread.start()

    def emit(self, event: dict[str, Any]) -> None:
        if "time" not in event:
            event["time"] = time.time()
        with self._lock:
            if event.get("decision") == "denied" and event.get("code") and event.get("source_ip"):
                key = (str(event["source_ip"]), str(event["code"]), str(event.get("action")),
                       int(float(event["time"])))
                seen = self._floods.get(key)
                if seen is not None:  # the same refusal again this second: counted, not stored
                    self._floods[key] = (seen[0] + 1, seen[1])
                    self.summarized += 1
                    return
                self._floods[key] = (0, {k: event.get(k) for k in SUMMARY_KEYS})
            if len(self._pending) >= self._max_pending:
                self.dropped += 1
                if self.dropped % 10_000 == 1:
                    log.error("audit: the writer is %d events behind; dropped %d events so far",
                              len(self._pending), self.dropped)
                return
            self._pending.append(event)
            self._emitted += 1
            if self._thread is None:
                self._write_pending_locked()
            elif len(self._pending) >= self._max_batch:
                self._cond.notify_all()

    def _summaries_locked(self, now: float, everything: bool = False) -> None:
        """Queue one summary per (source, code, second) of past seconds that saw repeats."""
        sec = int(now)
        for key in [k for k in self._floods if everything or k[3] < sec]:
            count, base = self._floods.pop(key)
            if count:
                src, code, _action, second = key
                self._pending.append({
                    **{k: v for k, v in base.items() if v is not None},
                    "summary": True, "source_ip": src, "code": code, "decision": "denied",
                    "count": count, "time": second + 0.999,
                    "message": f"{count} more refusal(s) with code {code} from {src} in this second, summarised",
                })
                self._emitted += 1
        if len(self._floods) > 100_000:  # a bound on keys held, whatever the sources
            self._summaries_locked(now, everything=True)

    def _write_pending_locked(self, summaries: bool = False) -> None:
        if summaries:
            self._summaries_locked(time.time())
        while batch := self._take_locked():
            self._store.append_audit(batch)
            self._written += len(batch)
            self._cond.notify_all()

    def _take_locked(self) -> list[dict[str, Any]]:
        """The next batch: at most ``max_batch`` events, oldest first (a bound on what one write carries)."""
        pending = self._pending
        if len(pending) <= self._max_batch:
            batch = list(pending)
            pending.clear()
            return batch
        return [pending.popleft() for _ in range(self._max_batch)]

    def _trim(self) -> None:
        now = time.monotonic()
        if now < self._next_trim:
            return
        self._next_trim = now + self._trim_every
        try:
            n = self._store.trim_audit(time.time() - self._retention, self._max_events)
        except Exception as exc:  # retention must never stop the writer
            log.error("audit: retention failed: %s", exc)
            return
        if n:
            self.trimmed += n
            log.info("audit: retention removed %d events (older than %.0f days or beyond %d events)",
                     n, self._retention / 86400, self._max_events)

    def _run(self) -> None:
        while True:
            with self._cond:
                # one batch per interval (or as soon as a whole batch waits, or a flush asks): a writer that
                # took every few events as they came would wake, and take the interpreter lock from the
                # request path, thousands of times a second
                if len(self._pending) < self._max_batch and not self._stop:
                    self._cond.wait(self._interval)
                self._summaries_locked(time.time())
                batch = self._take_locked()
                stop = self._stop
            if batch:
                try:
                    self._store.append_audit(batch)
                except (ServiceUnavailable, StorageFull) as exc:
                    # The store is away (PostgreSQL restarting) or full: the events wait, in order, within
                    # ``max_pending``, and go in when it is back or has room; nothing is lost to an outage.
                    if self._hold(batch, exc, stop):
                        continue
                    self._write_one_by_one(batch)
                except Exception:
                    # One bad event must not hold back the others: write them one by one,
                    # retrying a failing event a few times (a busy store), then reporting it.
                    self._write_one_by_one(batch)
                with self._cond:
                    if self._away:
                        log.warning("audit: the store is back; the events held meanwhile are stored")
                    self._away = False
                    self._written += len(batch)
                    self._cond.notify_all()
            self._trim()
            if stop and not self._pending:
                return

    def _hold(self, batch: list[dict[str, Any]], exc: VaultlinkError, stopping: bool) -> bool:
        """Put ``batch`` back at the head of the queue and wait a little; False when stopping (no waiting)."""
        if stopping:
            return False
        with self._cond:
            self._pending.extendleft(reversed(batch))
            if not self._away:
                log.warning("audit: %s; %d events wait for it", exc, len(self._pending))
            self._away = True
            self._cond.wait(min(5.0, max(self._interval, 1.0)))
        return True

    def _write_one_by_one(self, batch: list[dict[str, Any]]) -> None:
        for ev in batch:
            for attempt in range(3):
                try:
                    self._store.append_audit([ev])
                    break
                except Exception as exc:
                    if attempt == 2:
                        self.failed += 1
                        log.error("audit event could not be stored (%s): %r", exc, ev)
                    else:
                        time.sleep(self._interval)

    def flush(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            self._summaries_locked(time.time())
            target = self._emitted
            if self._thread is None:
                self._write_pending_locked(summaries=True)
                return
            self._cond.notify_all()
            while self._written < target and time.monotonic() < deadline:
                self._cond.wait(0.01)

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._summaries_locked(time.time(), everything=True)
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        try:
            with self._cond:
                self._write_pending_locked(summaries=True)
        finally:
            close = getattr(self._writer, "close", None)
            if close is not None:
                close()
