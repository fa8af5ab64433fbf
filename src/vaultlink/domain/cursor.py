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
