"""The data plane's Prometheus metrics: counted as plain numbers, rendered in Prometheus's text format."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from vaultlink.fabric import metrics as M


def samples(m: M.Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(m.render().decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_requests_are_counted_by_endpoint_and_decision_with_cumulative_latency_buckets() -> None:
    m = M.Metrics()
    for ep, decision, secs in (("pe-1", "allowed", 0.0005), ("pe-1", "allowed", 0.0007), ("pe-1", "denied", 0.3),
                               (None, "allowed", 20.0)):
        m.observe(ep, decision, secs)
    got = samples(m)
    assert got[("vaultlink_requests_total", (("decision", "allowed"), ("endpoint", "pe-1")))] == 2
    assert got[("vaultlink_requests_total", (("decision", "denied"), ("endpoint", "pe-1")))] == 1
    assert got[("vaultlink_requests_total", (("decision", "allowed"), ("endpoint", "public")))] == 1

    def bucket(ep: str, le: str) -> float:
        return got[("vaultlink_request_seconds_bucket", (("endpoint", ep), ("le", le)))]

    assert bucket("pe-1", "0.0005") == 1  # a bound is "less than or equal"
    assert bucket("pe-1", "0.001") == 2 and bucket("pe-1", "0.25") == 2 and bucket("pe-1", "0.5") == 3
    assert bucket("pe-1", "+Inf") == 3 and bucket("public", "10.0") == 0 and bucket("public", "+Inf") == 1
    assert got[("vaultlink_request_seconds_count", (("endpoint", "pe-1"),))] == 3
    assert abs(got[("vaultlink_request_seconds_sum", (("endpoint", "pe-1"),))] - 0.3012) < 1e-9


def test_series_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(M, "MAX_SERIES", 3)
    m = M.Metrics()
    for i in range(10):
        m.observe(f"pe-{i}", "allowed", 0.001)
    assert len(m.counts) == 4 and m.counts[("other", "allowed")] == 7
    assert sum(samples(m)[k] for k in samples(m) if k[0] == "vaultlink_requests_total") == 10


def test_audit_counters_are_exported() -> None:
    class Sink:
        summarized, dropped, trimmed, failed = 4, 0, 2, 1

    got = samples(M.Metrics(Sink()))
    assert got[("vaultlink_audit_summarized_events", ())] == 4 and got[("vaultlink_audit_failed_events", ())] == 1
