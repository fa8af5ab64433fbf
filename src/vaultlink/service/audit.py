"""The audit sink: callers emit events without waiting; a thread writes them in batches.

Nothing is dropped: the queue is unbounded in count but each flush writes
everything pending in one transaction, so under load batches just grow.
``flush()`` makes every event emitted so far visible to queries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from vaultlink.ports import MetadataStore

log = logging.getLogger("vaultlink.audit")


class AuditSink:
    def __init__(self, store: MetadataStore, interval: float = 0.05, max_batch: int = 5000) -> None:
        self._store = store
        self._pending: deque[dict[str, Any]] = deque()
        self._cond = threading.Condition()
        self._interval = interval
        self._max_batch = max_batch
        self._stop = False
        self._written = 0
        self._emitted = 0
        self._thread: threading.Thread | None = None
        self.failed = 0  # events that could not be stored at all (logged)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
            self._thread.start()

    def emit(self, event: dict[str, Any]) -> None:
        event.setdefault("time", time.time())
        with self._cond:
            self._pending.append(event)
            self._emitted += 1
            if self._thread is None:
                self._write_pending_locked()
            elif len(self._pending) >= self._max_batch:
                self._cond.notify_all()

    def _write_pending_locked(self) -> None:
        batch = list(self._pending)
        self._pending.clear()
        if batch:
            self._store.append_audit(batch)
            self._written += len(batch)
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._pending and not self._stop:
                    self._cond.wait(self._interval)
                batch = list(self._pending)
                self._pending.clear()
                stop = self._stop
            if batch:
                try:
                    self._store.append_audit(batch)
                except Exception:
                    # One bad event must not hold back the others: write them one by one,
                    # retrying a failing event a few times (a busy store), then reporting it.
                    self._write_one_by_one(batch)
                with self._cond:
                    self._written += len(batch)
                    self._cond.notify_all()
            if stop and not self._pending:
                return

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
            target = self._emitted
            if self._thread is None:
                self._write_pending_locked()
                return
            self._cond.notify_all()
            while self._written < target and time.monotonic() < deadline:
                self._cond.wait(0.01)

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        with self._cond:
            self._write_pending_locked()
