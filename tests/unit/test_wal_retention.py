"""Which WAL a database's remaining points need (service/wal_retention.needed_from)."""

from __future__ import annotations

from vaultlink.service.wal_retention import needed_from


def test_the_oldest_point_decides_and_an_unknown_one_keeps_everything() -> None:
    a, b = "000000010000000000000005", "000000010000000000000009"
    points = [
        {"paths": ["postgres://main"], "wal_from": b},
        {"paths": ["postgres://main"], "wal_from": a},
        {"paths": ["postgres://other"], "wal_from": b},
        {"paths": ["postgres://other"], "wal_from": None},  # from a standby, or an older agent
        {"paths": ["/srv/files"], "wal_from": None},  # a file backup: not a database
    ]
    assert needed_from(points) == {"main": a}
    assert needed_from([]) == {}
