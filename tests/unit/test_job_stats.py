"""The stats an agent sends with a backup's end: what it could not read is a count the job keeps (an agent sends
the first 100 paths and the total), and a count that is not one is refused."""

from __future__ import annotations

import pytest

from vaultlink.errors import InvalidInput
from vaultlink.service.dataplane.jobs import _clean_stats


def test_the_job_keeps_how_many_paths_the_backup_could_not_read() -> None:
    first = [{"path": f"/src/f{i}", "error": "Permission denied"} for i in range(100)]
    assert _clean_stats({"files": 3, "errors": first, "error_count": 2500})["errors"] == 2500
    assert _clean_stats({"files": 3, "errors": first[:2]})["errors"] == 2  # an agent of before: the list only
    assert "errors" not in _clean_stats({"files": 3})


@pytest.mark.parametrize("bad", [-1, True, "2", 1.5])
def test_a_count_that_is_not_one_is_refused(bad: object) -> None:
    with pytest.raises(InvalidInput) as exc:
        _clean_stats({"files": 3, "error_count": bad})
    assert exc.value.field == "stats.error_count"
