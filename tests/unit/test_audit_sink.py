"""The audit sink's bounds: flood summaries, a pending bound, retention (security issue F)."""

from __future__ import annotations

import time

from vaultlink.adapters.memstore import MemoryStore
from vaultlink.errors import StorageFull
from vaultlink.service.audit import AuditSink


def refusal(t: float, src: str = "127.10.1.5", code: str = "Unauthenticated") -> dict[str, object]:
    return {"time": t, "source_ip": src, "code": code, "decision": "denied", "action": "backup:GetBackupData",
            "plane": "data"}


def test_a_flood_of_identical_refusals_becomes_counted_summaries() -> None:
    store = MemoryStore()
    sink = AuditSink(store)  # no writer thread: writes on emit/flush
    for i in range(1000):
        sink.emit(refusal(1000.0 + i / 500))  # two seconds' worth
    sink.emit(refusal(1000.5, code="AccessDenied"))
    sink.emit(refusal(1000.5, src="127.10.1.6"))
    sink.close()
    evs = store.query_audit({})
    assert len(evs) <= 8
    assert sum(int(e.get("count", 1)) for e in evs if e["code"] == "Unauthenticated"
               and e["source_ip"] == "127.10.1.5") == 1000
    assert [e for e in evs if e.get("summary")] and all(e["action"] == "backup:GetBackupData" for e in evs)
    assert sink.summarized == 998


def test_pending_is_bounded_and_counted() -> None:
    store = MemoryStore()
    sink = AuditSink(store, max_pending=10)
    sink._thread = object()  # type: ignore[assignment]  # a writer that never runs
    for i in range(50):
        sink.emit({"time": 1.0 + i, "action": "a", "decision": "allowed"})
    assert sink.dropped == 40
    sink._thread = None


def test_retention_trims_and_counts() -> None:
    store = MemoryStore()
    store.append_audit([{"time": 1.0, "action": "old", "decision": "allowed"}])
    sink = AuditSink(store, retention_seconds=60.0, max_events=100, trim_every=0.0)
    sink._trim()
    assert store.query_audit({}) == [] and sink.trimmed == 1


def test_events_wait_while_the_store_is_full_and_are_written_once_it_has_room() -> None:
    """``StorageFull`` holds the batch as an outage does (before, each event was tried three times and lost)."""
    store = MemoryStore()

    class Full:
        refusals = 0
        until = time.monotonic() + 1.5  # full for a while: longer than a few quick retries

        def append_audit(self, events: list[dict[str, object]]) -> None:
            if time.monotonic() < self.until:
                self.refusals += 1
                raise StorageFull("the metadata store is full")
            store.append_audit(events)

        def trim_audit(self, before_time: float, max_events: int) -> int:
            return 0

    writer = Full()
    sink = AuditSink(store, interval=0.01, writer=writer)
    sink.start()
    try:
        for i in range(5):
            sink.emit({"time": 1.0 + i, "action": "vault.create", "decision": "denied", "code": "StorageFull"})
        sink.flush(timeout=20)
    finally:
        sink.close()
    assert writer.refusals >= 1 and len(store.query_audit({})) == 5 and sink.failed == 0
