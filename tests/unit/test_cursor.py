"""Listing cursors (``domain/cursor.py``) and the CLI's walk of a paged listing (``Client.get_all``)."""

from __future__ import annotations

from typing import Any

import pytest

from vaultlink.cli.client import Client
from vaultlink.domain.cursor import cursor_after, cursor_of, parse_cursor
from vaultlink.errors import InvalidInput


def test_a_cursor_names_the_last_record_exactly() -> None:
    for value in (1796639790.6163554, 0.1, -3.0, 1e-07, 12.0):
        assert parse_cursor(cursor_of(value, "j0a1-b_2"), "after") == (value, "j0a1-b_2")
    assert cursor_after({"id": "rp-1", "time": 5}, "time") == "5.0~rp-1"
    for bad in ("", "40", "-5", "1.0~", "~x", "1.0~a/b", "1.0~a~b", "x~y", "1.0~" + "a" * 65, 3, None,
                "1" * 100 + "~a" * 20):
        with pytest.raises(InvalidInput) as err:
            parse_cursor(bad, "NextToken")
        assert err.value.field == "NextToken"


def test_the_cli_walks_every_page_of_a_listing() -> None:
    records = [{"id": f"j{i:05d}", "created": float(i // 7)} for i in range(2345)]
    asked: list[dict[str, Any]] = []

    def get(path: str, **params: Any) -> list[dict[str, Any]]:
        asked.append(params)
        at = parse_cursor(params["after"], "after") if params["after"] else None
        rest = [r for r in records if at is None or (r["created"], r["id"]) > at]
        return rest[:params["limit"]]

    client = Client.__new__(Client)
    client.get = get  # type: ignore[method-assign]
    assert client.get_all("/vaults/v/jobs", "created", status="Completed") == records
    assert len(asked) == 3 and all(p["status"] == "Completed" and p["limit"] == 1000 for p in asked)
    asked.clear()
    records = records[:2000]  # a last page that is full: one more (empty) answer ends it
    assert client.get_all("/vaults/v/jobs", "created") == records and len(asked) == 3
