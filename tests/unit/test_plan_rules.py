"""Backup-plan rules (``domain/plans.py``): schedules in both forms, time zones, windows, due times."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from vaultlink.domain import plans as P
from vaultlink.errors import InvalidInput, InvalidType, VaultlinkError


@pytest.mark.parametrize(("text", "want"), [
    ("0 5 * * *", "0 5 * * *"),
    ("cron(0 5 ? * * *)", "0 5 * * *"),
    ("cron(30 2 ? * 2 *)", "30 2 * * 1"),  # AWS counts SUN=1: 2 is Monday
    ("cron(0 3 ? * 2-6 *)", "0 3 * * 1-5"),
    ("cron(0 0 1 * ? *)", "0 0 1 * *"),
    ("cron(0/15 * * * ? *)", "0/15 * * * *"),
])
def test_schedules(text: str, want: str) -> None:
    assert P.cron_expression(text) == want


@pytest.mark.parametrize(("text", "err"), [
    ("", InvalidType), (5, InvalidType), ("0 5 * *", InvalidInput), ("cron(0 5 ? * *)", InvalidInput),
    ("cron(0 5 ? * * 2030)", InvalidInput), ("61 * * * *", InvalidInput), ("0 25 * * *", InvalidInput),
])
def test_bad_schedules(text: Any, err: type[VaultlinkError]) -> None:
    with pytest.raises(err):
        P.cron_expression(text)


def rule(**kw: Any) -> P.Rule:
    return P.parse_rule({"name": "daily", "schedule": "cron(0 5 ? * * *)", **kw}, "v1")


def test_rule_defaults_and_bad_fields() -> None:
    r = rule()
    assert (r["timezone"], r["start_window_minutes"], r["completion_window_minutes"], r["delete_after_days"]) == (
        "UTC", 60, 7 * 24 * 60, None)
    for kw in ({"timezone": "Mars/Olympus"}, {"start_window_minutes": 0}, {"delete_after_days": 0},
               {"start_window_minutes": 120, "completion_window_minutes": 60}, {"name": "has space"},
               {"cron": "x"}):
        with pytest.raises(InvalidInput):
            rule(**kw)


def test_due_times_follow_the_rule_s_time_zone_across_dst() -> None:
    r = rule(timezone="Europe/Paris")
    paris = ZoneInfo("Europe/Paris")
    start = datetime(2026, 3, 27, 12, 0, tzinfo=paris).timestamp()  # DST starts on 29 March
    end = datetime(2026, 3, 31, 12, 0, tzinfo=paris).timestamp()
    hours = [datetime.fromtimestamp(t, paris).hour for t in P.due_times(r, start, end)]
    assert hours == [5, 5, 5, 5]  # 05:00 local every day, before and after the change
    utc = [datetime.fromtimestamp(t, ZoneInfo("UTC")).hour for t in P.due_times(r, start, end)]
    assert utc == [4, 3, 3, 3]  # 29 March 05:00 is already summer time


def test_a_long_outage_yields_only_the_latest_runs() -> None:
    r = P.parse_rule({"name": "m", "schedule": "* * * * *"}, "v1")
    times, skipped = P.latest_due(r, 0.0, 3 * 3600.0)
    assert len(times) == P.MAX_DUE_PER_SCAN and skipped == 180 - P.MAX_DUE_PER_SCAN and times[-1] == 3 * 3600.0


def test_selections() -> None:
    assert P.parse_selection({"name": "docs", "container": "vm-a", "paths": ["/home"]})["paths"] == ["/home"]
    for bad in ({"name": "docs", "container": "vm-a", "paths": ["relative"]},
                {"name": "docs", "container": "", "paths": ["/x"]}, {"name": "docs", "paths": ["/x"], "x": 1}):
        with pytest.raises(InvalidInput):
            P.parse_selection(bad)


def test_selections_may_leave_out_paths() -> None:
    sel = P.parse_selection({"name": "home", "container": "vm-a", "paths": ["/home"],
                             "exclude": ["*.tmp", "/home/*/.cache"], "one_file_system": True})
    assert sel["exclude"] == ["*.tmp", "/home/*/.cache"] and sel["one_file_system"] is True
    assert "exclude" not in P.parse_selection({"name": "h", "container": "vm-a", "paths": ["/home"]})
    for bad, field in (({"exclude": "*.tmp"}, "selections.exclude"), ({"exclude": [""]}, "selections.exclude"),
                       ({"exclude": ["/"]}, "selections.exclude"), ({"exclude": ["a\0b"]}, "selections.exclude"),
                       ({"exclude": ["x"] * 1001}, "selections.exclude"),
                       ({"one_file_system": "yes"}, "selections.one_file_system")):
        with pytest.raises(InvalidInput) as exc:
            P.parse_selection({"name": "h", "container": "vm-a", "paths": ["/home"], **bad})
        assert exc.value.field == field


def test_tag_selections() -> None:
    sel = P.parse_selection({"name": "prod", "tags": {"env": "prod"}, "paths": ["/srv"]})
    assert P.selects(sel, "c1", "vm-a", {"env": "prod", "team": "x"})
    assert not P.selects(sel, "c1", "vm-a", {"env": "dev"}) and not P.selects(sel, "c1", "vm-a", {})
    by_name = P.parse_selection({"name": "one", "container": "vm-a", "paths": ["/srv"]})
    assert P.selects(by_name, "c1", "vm-a", {}) and P.selects(by_name, "vm-a", None, {})
    for bad in ({"name": "x", "tags": {}, "paths": ["/srv"]},
                {"name": "x", "tags": {"env": 1}, "paths": ["/srv"]},
                {"name": "x", "tags": {"env": "prod"}, "container": "vm-a", "paths": ["/srv"]},
                {"name": "x", "paths": ["/srv"]}):
        with pytest.raises(InvalidInput):
            P.parse_selection(bad)


def test_copy_rules() -> None:
    r = rule(copy_to=[{"vault": "dr", "delete_after_days": 30}, {"vault": "arn:aws:backup:x:1:backup-vault:y"}])
    assert r["copy_to"] == [{"vault": "dr", "delete_after_days": 30},
                            {"vault": "arn:aws:backup:x:1:backup-vault:y", "delete_after_days": None}]
    for bad in ([{"vault": 1}], [{"vault": "dr", "delete_after_days": 0}], [{"vault": "dr", "x": 1}],
                [{"vault": "dr"}] * 6, "dr"):
        with pytest.raises(InvalidInput):
            rule(copy_to=bad)
