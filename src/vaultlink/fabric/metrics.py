"""Prometheus metrics for the data plane: requests by endpoint and decision, latency histograms."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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

    def observe(self, endpoint: str | None, decision: str, seconds: float) -> None:
        ep = endpoint or "public"
        self.requests.labels(ep, decision).inc()
        self.latency.labels(ep).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
