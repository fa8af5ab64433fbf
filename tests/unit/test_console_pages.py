"""The console's pure parts: which wizard tab a problem belongs on (with the CLI's words), the API body the
wizard's fields make, the charts' numbers, and that every value is escaped."""

from __future__ import annotations

import pytest

from vaultlink.api import console_html as H
from vaultlink.api import console_html_audit as A
from vaultlink.api.console_audit import per_day
from vaultlink.api.console_wizard import body_of, problems_by_tab
from vaultlink.domain.endpoints import Problem, raise_problems
from vaultlink.errors import AccessDenied, NotFound, RegionMismatch, SubnetFull, VaultlinkError


def test_each_problem_goes_to_the_tab_of_its_field_in_the_clis_words() -> None:
    with pytest.raises(VaultlinkError) as got:
        raise_problems([Problem(RegionMismatch, "region", "an AzureBackup endpoint must be in local-1."),
                        Problem(SubnetFull, "subnet", "subnet s has 0 free address(es)."),
                        Problem(NotFound, "vnet", "virtual network 'x' does not exist.")])
    by_tab = problems_by_tab(got.value)
    assert by_tab == {"basics": ["RegionMismatch: an AzureBackup endpoint must be in local-1."],
                      "network": ["SubnetFull: subnet s has 0 free address(es).",
                                  "NotFound: virtual network 'x' does not exist."]}
    # a refusal that is not a list of problems (no rights on the vnet) is shown at Review + create
    assert problems_by_tab(AccessDenied("no network.write on net1.")) == {
        "review": ["AccessDenied: no network.write on net1."]}


def test_the_wizard_makes_the_clis_body() -> None:
    body = body_of({"name": "pe", "region": "local-1", "vault": "v", "group_id": "AzureBackup", "vnet": "n",
                    "subnet": "s", "dns_integration": "no", "tag_key_1": " env ", "tag_value_1": "prod",
                    "tag_key_2": "", "tag_value_2": "ignored"})
    assert body == {"name": "pe", "region": "local-1", "vault": "v", "group_id": "AzureBackup", "vnet": "n",
                    "subnet": "s", "dns_integration": False, "tags": {"env": "prod"}}
    assert body_of({})["dns_integration"] is True and body_of({})["vault"] is None


def test_charts_count_per_day_and_keep_their_numbers_readable() -> None:
    days = ["2026-11-29", "2026-11-30"]
    t29, t30 = 1_795_953_600.0, 1_796_040_000.0  # noon UTC on each day
    assert per_day(days, [(t29, 5.0), (t30, 1.0), (t30, 2.0), (t29 - 86400 * 3, 100.0)]) == [5.0, 3.0]
    svg = A.bars("Decisions <per day>", days, [("allowed", [5.0, 3.0]), ("denied", [0.0, 1.0])], str)
    assert "<svg" in svg and "Decisions &lt;per day&gt;" in svg and "<script" not in svg
    assert "<td data-label=\"denied\">1.0</td>" in svg, "the same numbers as a table"


def test_every_value_is_escaped() -> None:
    evil = '<script>alert(1)</script>"'
    page = H.page(evil, H.table((evil,), [(H.e(evil),)]), user=evil, csrf=evil, flash=evil)
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_a_vault_page_says_when_it_shows_the_first_page_of_machines() -> None:
    from vaultlink.api import console_html_backup as B

    machines = [{"id": f"c{i}", "hostname": f"vm{i}"} for i in range(B.MAX_SHOWN)]
    page = B.backup("prod", [], 0, 0, [], machines, [], [], {})
    assert "The first 1,000 machines" in page and "vaultlink container list prod" in page
    assert "The first" not in B.backup("prod", [], 0, 0, [], machines[:3], [], [], {})
    items = [{"id": f"i{i}"} for i in range(B.MAX_SHOWN)]
    assert "The first 1,000 items" in B.backup("prod", [], 0, 0, [], [], items, [], {})
