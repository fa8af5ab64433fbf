"""AWS list pages (``page_of``): the pages of a listing give every item once, in order; a token this service did not
issue is refused (before, ``NextToken: "-5"`` answered the listing's last five items)."""

from __future__ import annotations

import pytest

from vaultlink import errors as E
from vaultlink.compat.aws.backup_api import MAX_PAGE, cursor_from, page_of


def test_pages_give_every_item_once_in_order() -> None:
    items = [{"n": i} for i in range(23)]
    seen, token, pages = [], None, 0
    while pages < 100:
        page, token = page_of(items, {"MaxResults": 5, **({"NextToken": token} if token else {})})
        seen += page
        pages += 1
        if token is None:
            break
    assert seen == items and pages == 5
    assert page_of(items, {})[1] is None and len(page_of([{}] * (MAX_PAGE + 1), {})[0]) == MAX_PAGE


@pytest.mark.parametrize("token", ["-5", "abc", "1e3", " 5", "9" * 13, "\uff15"])
def test_a_token_not_issued_here_is_refused(token: str) -> None:
    with pytest.raises(E.InvalidInput, match="NextToken"):
        page_of([{"n": 1}] * 10, {"NextToken": token})


@pytest.mark.parametrize("token", ["12", "1.5~", "~j1", "1.5~j1~x", "nan~j1", "1.5~j 1", "1" * 200 + "~j1"])
def test_a_cursor_not_issued_here_is_refused(token: str) -> None:
    with pytest.raises(E.InvalidInput, match="NextToken"):
        cursor_from({"NextToken": token}, 0.0)


def test_a_cursor_starts_no_earlier_than_its_window() -> None:
    assert cursor_from({}, 5.0) == (5.0, "") and cursor_from({"NextToken": "7.25~j1"}, 5.0) == (7.25, "j1")
    assert cursor_from({"NextToken": "1.5e+2~rp-1"}, 5.0) == (150.0, "rp-1")
    assert cursor_from({"NextToken": "3.0~j9"}, 5.0) == (5.0, ""), "a page of a window that moved on starts at it"
