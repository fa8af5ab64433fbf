"""Prometheus metrics for the data plane: requests by endpoint and decision, latency histograms."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

MAX_SERIES = 100_000  # (endpoint, decision) pairs whose series are kept at hand


def _reader(obj: Any, attr: str) -> Any:
    def read() -> float:
        return float(getattr(obj, attr))

    return read


class Metrics:
    def __init__(self, audit: Any = None) -> None:
        self.registry = CollectorRegistry()
        if audit is not None:  # what the audit sink summarised, dropped or removed by retention
            for name, attr, doc in (
                ("vaultlink_audit_summarized_events", "summarized", "Refusals folded into summary events"),
                ("vaultlink_audit_dropped_events", "dropped", "Audit events dropped: the writer fell behind"),
                ("vaultlink_audit_trimmed_events", "trimmed", "Audit events removed by retention"),
                ("vaultlink_audit_failed_events", "failed", "Audit events the store refused"),
            ):
                Gauge(name, doc, registry=self.registry).set_function(_reader(audit, attr))
        self.requests = Counter(
            "vaultlink_requests",
            "Data-plane requests by endpoint and decision",
            ["endpoint", "decision"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "vaultlink_request_seconds",
            "Data-plane request latency",
            ["endpoint"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self._series: dict[tuple[str | None, str], tuple[Any, Any]] = {}

    def observe(self, endpoint: str | None, decision: str, seconds: float) -> None:
        """Count a request (the labelled series are looked up once per endpoint and decision, not per request)."""
        key = (endpoint, decision)
        series = self._series.get(key)
        if series is None:
            ep = endpoint or "public"
            if len(self._series) >= MAX_SERIES:
                self._series.clear()
            series = self._series[key] = (self.requests.labels(ep, decision), self.latency.labels(ep))
        series[0].inc()
        series[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
