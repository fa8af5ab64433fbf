"""Token buckets per principal (pure; the caller passes the clock)."""

from __future__ import annotations


class Throttle:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}

    def empty(self, key: str, now: float) -> bool:
        """Is ``key``'s bucket out of tokens (without taking one)?"""
        if self.rate <= 0 or key not in self._buckets:
            return False
        tokens, last = self._buckets[key]
        return min(self.burst, tokens + (now - last) * self.rate) < 1.0

    def allow(self, key: str, now: float) -> bool:
        """Take one token for ``key``; False when the bucket is empty."""
        if self.rate <= 0:
            return True
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > 100_000:
            self._buckets.clear()
        return True
