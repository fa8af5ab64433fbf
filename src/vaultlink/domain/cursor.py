"""Listing cursors: where the next page of a listing ordered by ``(field, id)`` starts.

A cursor names the last record a page showed, as ``"{value!r}~{id}"`` (the value of the field the listing is
ordered by, then the record's id). The next page is what comes after it in that order, so a record added or removed
between two pages never makes the next one repeat or skip one, and each page reads only itself. The AWS listings
hand it out as ``NextToken``; the native API's listings take it as ``after``.
"""

from __future__ import annotations

import re
from typing import Any

from vaultlink.errors import InvalidInput

MAX_CHARS = 120
MAX_PAGE = 1_000  # the most records a page of a native listing holds (``limit``)
MAX_UNPAGED = 10_000  # a native listing without ``limit`` answers at most this many records
_CURSOR = re.compile(r"^(-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)~([A-Za-z0-9_-]{1,64})$")


def cursor_of(value: float, id: str) -> str:
    """The cursor after the record whose ordering field is ``value`` and id is ``id``."""
    return f"{float(value)!r}~{id}"


def cursor_after(record: dict[str, Any], by: str) -> str:
    """The cursor after ``record`` in a listing ordered by ``by``."""
    return cursor_of(float(record[by]), str(record["id"]))


def parse_cursor(token: object, field: str) -> tuple[float, str]:
    """``(value, id)`` of a cursor; InvalidInput (naming ``field``) for anything this service did not hand out."""
    m = _CURSOR.match(token) if isinstance(token, str) and len(token) <= MAX_CHARS else None
    if m is None:
        raise InvalidInput(f"{field} is not a cursor this service gave (it names the last item of a page as "
                           "TIME~ID).", field=field)
    return float(m.group(1)), m.group(2)


def page_request(limit: int | None, after: str | None) -> tuple[int, tuple[float, str] | None]:
    """How many records a native listing reads, and after which, for its ``limit`` and ``after``: without ``limit``
    one more than ``MAX_UNPAGED`` (``check_whole`` refuses that many)."""
    if limit is not None and not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1 to {MAX_PAGE}.", field="limit")
    if after is not None and limit is None:
        raise InvalidInput(f"after pages a listing: give limit too (at most {MAX_PAGE}).", field="after")
    start = parse_cursor(after, "after") if after is not None else None
    return (limit if limit is not None else MAX_UNPAGED + 1), start


def check_whole(limit: int | None, rows: list[Any], what: str) -> None:
    """A listing without ``limit`` that found more than ``MAX_UNPAGED`` records is refused, never cut short."""
    if limit is None and len(rows) > MAX_UNPAGED:
        raise InvalidInput(f"more than {MAX_UNPAGED} {what} match: page the listing with limit (at most {MAX_PAGE}) "
                           "and after (the cursor TIME~ID of the last item shown; the API's X-Next-After header "
                           "gives it); `vaultlink` pages by itself.", field="limit")
