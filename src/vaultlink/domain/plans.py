"""Backup plans (AWS Backup terms), pure: rules with a cron schedule in a time zone, a start window, a
completion window and a lifecycle; selections that assign protected items (a machine and its paths).

Schedules are standard five-field cron (``0 5 * * *``) or AWS's ``cron(0 5 ? * * *)`` (minutes, hours,
day of month, month, day of week 1-7 = SUN-SAT, year ``*``). Due times come from ``due_times``; the
scheduler (``service/scheduler.py``) turns each into a job on the machine's queue, or, when the start
window has already passed, into an ``EXPIRED`` job.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from vaultlink.data.tree import check_patterns
from vaultlink.errors import InvalidInput, InvalidType

MAX_RULES = 20
MAX_SELECTIONS = 100
MAX_DUE_PER_SCAN = 10  # a long outage queues (or expires) at most this many runs per rule
DEFAULT_START_WINDOW = 60  # minutes (AWS: at least 60)
DEFAULT_COMPLETION_WINDOW = 7 * 24 * 60  # minutes (AWS's default: 7 days)


class Rule(TypedDict):
    name: str
    vault: str  # the target vault's id
    schedule: str  # five-field cron, as given or translated from AWS's form
    timezone: str
    start_window_minutes: int
    completion_window_minutes: int
    delete_after_days: int | None
    copy_to: list[dict[str, Any]]  # [{"vault": id, "delete_after_days": N | None}]: copies of every new point


class Selection(TypedDict, total=False):
    name: str
    container: str  # a machine of the rule's vault: id or hostname; or
    tags: dict[str, str]  # every machine of the rule's vault carrying all these tags
    paths: list[str]
    exclude: list[str]  # what the agent leaves out (`agent backup --exclude`)
    one_file_system: bool  # `agent backup --one-file-system`


_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,50}$")
_AWS = re.compile(r"^cron\((.*)\)$")


def cron_expression(text: object) -> str:
    """A five-field cron expression from ``text`` (five fields, or AWS's ``cron(…)`` with six)."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidType("schedule must be a cron expression such as 'cron(0 5 ? * * *)'.", field="schedule")
    m = _AWS.match(text.strip())
    fields = (m.group(1) if m else text).split()
    if m:
        if len(fields) != 6 or fields[5] not in ("*", "?"):
            raise InvalidInput("an AWS schedule has six fields and year '*': cron(MIN HOUR DOM MON DOW *).",
                               field="schedule")
        dow = re.sub(r"\d+", lambda d: str(int(d.group()) - 1), fields[4])  # AWS counts SUN=1
        fields = [*fields[:4], dow]
    if len(fields) != 5:
        raise InvalidInput("schedule must have five fields (MIN HOUR DOM MON DOW) or be cron(… 6 fields …).",
                           field="schedule")
    expr = " ".join(f.replace("?", "*") for f in fields)
    try:
        CronSim(expr, datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC")))
    except (CronSimError, ValueError) as exc:
        raise InvalidInput(f"schedule {text!r} is not a valid cron expression: {exc}.", field="schedule") from None
    return expr


def aws_schedule(expr: str) -> str:
    """AWS's ``cron(…)`` form of a five-field expression (``cron_expression``'s inverse): SUN=1, a ``?`` in the
    day-of-month or day-of-week field, year ``*``."""
    minute, hour, dom, month, dow = expr.split()
    if dow == "*":
        dow = "?"
    else:
        dow = re.sub(r"\d+", lambda d: str(int(d.group()) % 7 + 1), dow)
        dom = "?" if dom == "*" else dom
    return f"cron({minute} {hour} {dom} {month} {dow} *)"


def _zone(name: object) -> str:
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"timezone {name!r} is not a known time zone (e.g. UTC, Europe/Paris).",
                           field="timezone") from None
    return str(name)


def _minutes(value: object, field: str, default: int, low: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 100 * 24 * 60:
        raise InvalidInput(f"{field} must be a whole number of minutes, at least {low}.", field=field)
    return value


def _name(value: object, field: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidInput(f"{field} must be 1-50 letters, digits or _.:-", field=field)
    return value


def parse_rule(raw: Any, vault_id: str) -> Rule:
    if not isinstance(raw, dict):
        raise InvalidType("each rule must be an object.", field="rules")
    unknown = set(raw) - {"name", "vault", "schedule", "timezone", "start_window_minutes",
                          "completion_window_minutes", "delete_after_days", "copy_to"}
    if unknown:
        raise InvalidInput(f"unknown rule field {sorted(unknown)[0]!r}.", field=f"rules.{sorted(unknown)[0]}")
    start = _minutes(raw.get("start_window_minutes"), "start_window_minutes", DEFAULT_START_WINDOW, 1)
    complete = _minutes(raw.get("completion_window_minutes"), "completion_window_minutes",
                        DEFAULT_COMPLETION_WINDOW, 1)
    if complete < start:
        raise InvalidInput("completion_window_minutes must be at least start_window_minutes.",
                           field="completion_window_minutes")
    days = raw.get("delete_after_days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 36500):
        raise InvalidInput("delete_after_days must be a whole number of days (1-36500).", field="delete_after_days")
    return {"name": _name(raw.get("name"), "rules.name"), "vault": vault_id,
            "schedule": cron_expression(raw.get("schedule")), "timezone": _zone(raw.get("timezone", "UTC")),
            "start_window_minutes": start, "completion_window_minutes": complete, "delete_after_days": days,
            "copy_to": _copy_to(raw.get("copy_to", []))}


def _copy_to(raw: Any) -> list[dict[str, Any]]:
    """A rule's copy actions, vaults as given (the service resolves and authorizes them)."""
    if not isinstance(raw, list) or len(raw) > 5:
        raise InvalidInput("copy_to is a list of at most 5 {vault, delete_after_days}.", field="rules.copy_to")
    out = []
    for c in raw:
        if not isinstance(c, dict) or set(c) - {"vault", "delete_after_days"} or not isinstance(c.get("vault"), str):
            raise InvalidInput("each copy_to entry is {vault, delete_after_days}.", field="rules.copy_to")
        days = c.get("delete_after_days")
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 36500):
            raise InvalidInput("copy_to delete_after_days must be 1-36500.", field="rules.copy_to.delete_after_days")
        out.append({"vault": c["vault"], "delete_after_days": days})
    return out


def check_tags(tags: Any, field: str = "tags") -> dict[str, str]:
    if (not isinstance(tags, dict) or len(tags) > 50
            or not all(isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 128 and len(v) <= 256
                       for k, v in tags.items())):
        raise InvalidInput(f"{field} must be an object of at most 50 string keys to string values.", field=field)
    return dict(tags)


def parse_selection(raw: Any) -> Selection:
    if not isinstance(raw, dict) or set(raw) - {"name", "container", "tags", "paths", "exclude", "one_file_system"}:
        raise InvalidInput("each selection is {name, container or tags, paths, and optionally exclude and "
                           "one_file_system}.", field="selections")
    paths = raw.get("paths")
    if (not isinstance(paths, list) or not paths or len(paths) > 100
            or not all(isinstance(p, str) and p.startswith("/") and len(p) <= 4096 for p in paths)):
        raise InvalidInput("selection paths must be 1-100 absolute paths.", field="selections.paths")
    out: Selection = {"name": _name(raw.get("name"), "selections.name"), "paths": list(paths)}
    if "exclude" in raw:
        out["exclude"] = check_patterns(raw["exclude"], "selections.exclude")
    if "one_file_system" in raw:
        if not isinstance(raw["one_file_system"], bool):
            raise InvalidInput("one_file_system is true or false.", field="selections.one_file_system")
        out["one_file_system"] = raw["one_file_system"]
    if ("container" in raw) == ("tags" in raw):
        raise InvalidInput("a selection names one machine (container) or machines by tags, not both or neither.",
                           field="selections")
    if "tags" in raw:
        out["tags"] = check_tags(raw["tags"], "selections.tags")
        if not out["tags"]:
            raise InvalidInput("a tag selection needs at least one tag.", field="selections.tags")
        return out
    container = raw.get("container")
    if not isinstance(container, str) or not 1 <= len(container) <= 255:
        raise InvalidInput("selection container must be a machine's id or hostname.", field="selections.container")
    out["container"] = container
    return out


def selects(sel: Selection, machine_id: str, hostname: str | None, tags: dict[str, str]) -> bool:
    """Does ``sel`` choose this machine?"""
    if "tags" in sel:
        return all(tags.get(k) == v for k, v in sel["tags"].items())
    return sel.get("container") in (machine_id, hostname)


def due_times(rule: Rule, after: float, until: float) -> Iterator[float]:
    """The rule's run times in ``(after, until]``, as epoch seconds, in its time zone's calendar."""
    start = datetime.fromtimestamp(after, ZoneInfo(rule["timezone"]))
    for n, when in enumerate(CronSim(rule["schedule"], start)):
        t = when.timestamp()
        if t > until or n > 100_000:
            return
        if t > after:
            yield t


def latest_due(rule: Rule, after: float, until: float) -> tuple[list[float], int]:
    """The last ``MAX_DUE_PER_SCAN`` due times in ``(after, until]`` and how many earlier ones were skipped."""
    times: list[float] = []
    skipped = 0
    for t in due_times(rule, after, until):
        times.append(t)
        if len(times) > MAX_DUE_PER_SCAN:
            times.pop(0)
            skipped += 1
    return times, skipped
