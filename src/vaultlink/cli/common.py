"""Helpers every CLI group uses: output format, tables, error exits.

Conventions:
- every command takes ``--output/-o`` (``table`` default, or ``json``);
- success prints the result (JSON: stable keys, one document);
- failure prints ``error: <Code>: <message>`` to stderr (JSON: ``{"error": {...}}``
  to stdout) and exits with the error's ``exit_code``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer

from vaultlink.errors import InvalidInput, LocalIOError, MalformedJSON, NotFound, VaultlinkError


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


OutputOpt = Annotated[
    OutputFormat,
    typer.Option("--output", "-o", help="Output format: table (for people) or json (stable keys)."),
]


# Keys that hold times (epoch seconds in the API): printed as ISO 8601, local time in tables and
# UTC with a ``Z`` in JSON.
TIME_KEYS = frozenset({
    "time", "created", "expires", "registered", "start", "end", "started", "finished", "updated",
    "last_backup", "last_seen", "deleted", "approved", "rotated", "credential_issued",
})


def iso_time(value: float, utc: bool) -> str:
    if utc:
        return datetime.fromtimestamp(value, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return datetime.fromtimestamp(value).astimezone().isoformat(timespec="seconds")


def with_iso_times(data: Any, utc: bool) -> Any:
    """``data`` with every time key's epoch number replaced by its ISO 8601 text (recursively)."""
    if isinstance(data, list):
        return [with_iso_times(x, utc) for x in data]
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if k in TIME_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool) and v > 1e8:
                out[k] = iso_time(float(v), utc)
            else:
                out[k] = with_iso_times(v, utc)
        return out
    return data


def emit(
    data: Any, output: OutputFormat, columns: Sequence[str] | None = None, title: str | None = None
) -> None:
    """Print ``data`` (a dict or a list of dicts) as JSON or as a table, times as ISO 8601."""
    data = with_iso_times(data, utc=output == OutputFormat.json)
    if output == OutputFormat.json:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
        return
    # rich (29 ms of imports) only for a table: an `-o json` call (archive_command, scripts) starts without it
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)
    if isinstance(data, list):
        cols = list(columns or (sorted(data[0].keys()) if data else []))
        table = Table(title=title)
        for c in cols:
            table.add_column(c)
        for row in data:
            table.add_row(*[_cell(row.get(c)) for c in cols])
        console.print(table)
        if not data:
            console.print("(none)")
    elif isinstance(data, dict):
        table = Table(show_header=False, title=title)
        table.add_column("field", style="bold")
        table.add_column("value")
        keys = list(columns) if columns else list(data.keys())
        for k in keys:
            table.add_row(k, _cell(data.get(k)))
        console.print(table)
    else:
        console.print(str(data))


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def fail(err: VaultlinkError, output: OutputFormat) -> None:
    """Print an error the house way and exit with its exit code."""
    if output == OutputFormat.json:
        sys.stdout.write(json.dumps({"error": err.to_dict()}, indent=2, sort_keys=True) + "\n")
    else:
        where = f" (field: {err.field})" if err.field else ""
        sys.stderr.write(f"error: {err.code}: {err.message}{where}\n")
        problems = err.details.get("problems") if err.details else None
        if isinstance(problems, list):
            for p in problems:
                sys.stderr.write(f"  - {p if isinstance(p, str) else json.dumps(p, sort_keys=True)}\n")
    raise typer.Exit(err.exit_code)


@contextmanager
def handled(output: OutputFormat) -> Iterator[None]:
    """``with handled(output): ...`` turns a VaultlinkError into the house exit, and so a file or directory of
    this machine that could not be read or written (an ``OSError`` naming a path: a socket's has none) as
    ``LocalIOError``, never a traceback."""
    try:
        yield
    except VaultlinkError as err:
        fail(err, output)
    except OSError as exc:
        if exc.filename is None:
            raise
        fail(LocalIOError.of(exc), output)


def parse_tags(tag: list[str] | None) -> dict[str, str] | None:
    """``--tag KEY=VALUE`` options (repeatable) as a dict; None when none were given."""
    if not tag:
        return None
    return {k: v for k, _, v in (t.partition("=") for t in tag)}


def read_json_file(path: str, what: str = "file") -> Any:
    """Read JSON from a path (``-`` for stdin), translating errors to codes."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
    except FileNotFoundError:
        raise NotFound(f"{what} {path!r} does not exist; check the path.", field=what) from None
    except OSError as exc:
        raise NotFound(f"cannot read {what} {path!r}: {exc.strerror}", field=what) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedJSON(
            f"{what} {path!r} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).",
            field=what,
        ) from None


def days_or_none(text: str, field: str) -> int | None:
    """A whole number of days from the command line, or ``none`` (no limit)."""
    if text.strip().lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"{field} must be a whole number of days or 'none', not {text!r}.", field=field) from None
