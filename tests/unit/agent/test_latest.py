"""``latest`` and ``latest~N`` name this machine's newest completed recovery points (``agent restore latest``)."""

from __future__ import annotations

import pytest

from vaultlink.agent.browse import latest_point
from vaultlink.errors import NotFound


def test_latest_names_the_newest_completed_point() -> None:
    points = [{"id": "rp-a", "time": 1, "status": "Completed"}, {"id": "rp-c", "time": 3, "status": "SoftDeleted"},
              {"id": "rp-b", "time": 2, "status": "Completed"}]
    asked: list[int] = []

    def lister() -> list[dict[str, object]]:
        asked.append(1)
        return points  # type: ignore[return-value]

    assert latest_point("rp-x", lister) == "rp-x" and not asked, "an id is used as it is, without a listing"
    assert latest_point("latest", lister) == "rp-b" and latest_point("latest~1", lister) == "rp-a"
    for bad in ("latest~2", "latest~9999"):
        with pytest.raises(NotFound, match="has 2 completed"):
            latest_point(bad, lister)
