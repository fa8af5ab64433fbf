"""Prometheus metrics for the data plane: requests by endpoint and decision, latency histograms.

Every request is counted, so counting is plain arithmetic on the event loop (a dict entry and a bucket
list per series); ``prometheus_client`` renders the numbers only when ``/metrics`` is read (a collector),
instead of taking a lock three times per request in its own counters.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

MAX_SERIES = 100_000  # (endpoint, decision) pairs kept; beyond, new ones are counted as endpoint "other"
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_LE = [floatToGoString(b) for b in BUCKETS] + ["+Inf"]


def _reader(obj: Any, attr: str) -> Any:
    def read() -> float:
        return float(getattr(obj, attr))

    return read


class Metrics:
    def __init__(self, audit: Any = None, admission: Any = None) -> None:
        self.registry = CollectorRegistry()
        if admission is not None:  # how often the checks' remembered answer was used (``fabric/admission.py``)
            Gauge("vaultlink_admission_hits", "Data-plane requests admitted from the admission cache (its checks "
                  "remembered; the throttle still counted)", registry=self.registry).set_function(
                      _reader(admission, "hits"))
            Gauge("vaultlink_admission_entries", "Admitted requests remembered now (emptied on any change)",
                  registry=self.registry).set_function(lambda: float(len(admission)))
        if audit is not None:  # what the audit sink summarised, dropped or removed by retention
            for name, attr, doc in (
                ("vaultlink_audit_summarized_events", "summarized", "Refusals folded into summary events"),
                ("vaultlink_audit_dropped_events", "dropped", "Audit events dropped: the writer fell behind"),
                ("vaultlink_audit_trimmed_events", "trimmed", "Audit events removed by retention"),
                ("vaultlink_audit_failed_events", "failed", "Audit events the store refused"),
            ):
                Gauge(name, doc, registry=self.registry).set_function(_reader(audit, attr))
        self.counts: dict[tuple[str, str], int] = {}  # (endpoint, decision) -> requests
        self.latency: dict[str, tuple[list[int], list[float]]] = {}  # endpoint -> (bucket counts, [sum])
        self.registry.register(_Collector(self))

    def observe(self, endpoint: str | None, decision: str, seconds: float) -> None:
        """Count a request and its latency."""
        key = (endpoint or "public", decision)
        counts = self.counts
        n = counts.get(key)
        if n is None and len(counts) >= MAX_SERIES:
            key = ("other", decision)
            n = counts.get(key)
        counts[key] = (n or 0) + 1
        hist = self.latency.get(key[0])
        if hist is None:
            hist = self.latency[key[0]] = ([0] * (len(BUCKETS) + 1), [0.0])
        hist[0][bisect_left(BUCKETS, seconds)] += 1
        hist[1][0] += seconds

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Collector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("vaultlink_requests", "Data-plane requests by endpoint and decision",
                                       labels=["endpoint", "decision"])
        for (endpoint, decision), n in list(self._m.counts.items()):
            requests.add_metric([endpoint, decision], n)
        yield requests
        latency = HistogramMetricFamily("vaultlink_request_seconds", "Data-plane request latency", labels=["endpoint"])
        for endpoint, (buckets, total) in list(self._m.latency.items()):
            latency.add_metric([endpoint], list(zip(_LE, accumulate(list(buckets)), strict=True)), sum_value=total[0])
        yield latency
