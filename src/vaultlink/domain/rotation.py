"""A credential replaced in two steps (a machine's ``vlc_…``, a gateway appliance's ``vlgw_…``): pure rules.

The service issues the **next** credential beside the **current** one and keeps only hashes. The holder saves
the next one before it first uses it; that first use makes it current and the old one **retired**. A retired
credential still serves ``GRACE`` seconds (requests already on their way), then is refused: a copy of it (someone
who read the holder's state file) stops working, and a holder killed half-way always keeps one that works.
"""

from __future__ import annotations

import hmac
from typing import Any

GRACE = 300.0  # seconds a replaced credential still works for requests sent before the switch
NEXT, RETIRED = "next_hash", "retired_hash"


def which(rec: Any, digest: str, current: str) -> str | None:
    """The field of ``rec`` whose hash ``digest`` is: ``current`` (the record's field for the current one),
    ``NEXT`` or ``RETIRED``; None when it is none of them."""
    return next((k for k in (current, NEXT, RETIRED)
                 if isinstance(rec.get(k), str) and rec[k] and hmac.compare_digest(rec[k], digest)), None)


def works_until(rec: Any, found: str, now: float) -> float | None:
    """Until when the credential ``found`` (``which``) works: 0.0 for ever (current or next), the end of the grace
    for a retired one, None when that has passed."""
    if found != RETIRED:
        return 0.0
    ends = float(rec.get("rotated") or 0.0) + GRACE
    return ends if now < ends else None


def promote(rec: Any, current: str, now: float) -> None:
    """The next credential's first use: it becomes current, the current one retired."""
    rec.update({RETIRED: rec[current], current: rec[NEXT], NEXT: None, "rotated": now})
