"""The admission cache: a request the checks admitted (DESIGN.md §5, steps 1 to 10), remembered until anything
changes, so that the same request again skips the checks that would decide it the same way.

"The same request" is everything a check reads (:func:`admission_key`): the listener's address and routing
domain, the source address, the Host, method and path, the logical port, TLS or not, and the very bytes of
every header a check reads (``checks.HEADERS_READ``: the credential, the container). Everything else a
decision depends on is the tag: the network view (replaced whole on every change of an endpoint, vnet,
vault, security group, policy or connection state) and the service's change generation (bumped on every
committed change: a key revoked, a role or identity policy changed, a container re-registered). A change
while a request was being checked is never remembered as the new state's answer (:meth:`put`).

Never remembered (the pipeline decides, ``pipeline.Fabric``): refusals, the regional service (its handlers
ask the endpoint policy again for each resource), anonymous callers (their address's bucket pays for every
request), expiring bearer tokens, and policies that read the clock. Still taken on every request: the
credential's throttle token (step 7); and a request from an address whose anonymous bucket is empty runs
every check, as it would without the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from vaultlink.fabric.checks import HEADERS_READ, Facts

MAX_ADMITTED = 4096  # requests remembered per view and generation; more and it starts over


class Admitted(NamedTuple):
    app: Any  # the data-plane app the request goes to
    context: Any  # the ``DataContext`` its handler receives (immutable)
    audit: dict[str, Any]  # the audit event's fields as the checks left them (a copy; its time set per request)


def admission_key(f: Facts) -> tuple[Any, ...]:
    """Everything the checks read of a request (not its arrival time)."""
    return (f.local_ip, f.domain, f.source_ip, f.host, f.method, f.path, f.port, f.secure,
            tuple([(k, v) for k, v in f.headers if k.lower() in HEADERS_READ]))


class AdmissionCache:
    def __init__(self, generation: Callable[[], int], limit: int = MAX_ADMITTED) -> None:
        self._generation = generation
        self._limit = limit
        self._view: object | None = None
        self._gen = -1
        self._entries: dict[tuple[Any, ...], Admitted] = {}
        self.hits = 0  # requests admitted from here (``vaultlink_admission_hits`` in /metrics)

    def lookup(self, view: object, key: tuple[Any, ...]) -> tuple[Admitted | None, int]:
        """The request admitted under this view and generation, if any; and the generation read now (for
        :meth:`put`)."""
        gen = self._generation()
        if view is not self._view or gen != self._gen:
            self._entries = {}
            self._view, self._gen = view, gen
            return None, gen
        return self._entries.get(key), gen

    def put(self, view: object, gen: int, key: tuple[Any, ...], admitted: Admitted) -> None:
        """Remember what the checks decided, unless anything changed since :meth:`lookup` read ``gen``."""
        if view is not self._view or gen != self._gen or self._generation() != gen:
            return
        if len(self._entries) >= self._limit:
            self._entries = {}
        self._entries[key] = admitted

    def __len__(self) -> int:
        return len(self._entries)
