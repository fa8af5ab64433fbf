"""``vaultlink audit``: the audit log."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer

from vaultlink.cli.client import Client
from vaultlink.cli.common import OutputFormat, OutputOpt, emit, handled

app = typer.Typer(help="The audit log: one event per decision.", no_args_is_help=True)
COLUMNS = (
    "seq",
    "time",
    "plane",
    "principal",
    "action",
    "target",
    "endpoint",
    "source_ip",
    "decision",
    "code",
)


def _parse_time(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    from datetime import datetime

    from vaultlink.errors import InvalidInput

    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise InvalidInput(f"time {text!r}: use epoch seconds or ISO 8601 (2026-11-23T10:00:00)") from None


def _fmt(ev: dict[str, Any]) -> dict[str, Any]:
    out = dict(ev)
    out["time"] = (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(ev["time"])) + f".{int(ev['time'] % 1 * 1000):03d}"
    )
    return out


@app.command("list")
def list_(
    vault: Annotated[str | None, typer.Option("--vault")] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint")] = None,
    principal: Annotated[str | None, typer.Option("--principal", help="Principal ARN")] = None,
    decision: Annotated[str | None, typer.Option("--decision", help="allowed or denied")] = None,
    code: Annotated[str | None, typer.Option("--code", help="Error code, e.g. AccessDenied")] = None,
    action: Annotated[str | None, typer.Option("--action")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Epoch seconds or ISO time")] = None,
    until: Annotated[str | None, typer.Option("--until")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 100,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep streaming new events.")] = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """List audit events, filtered; --follow streams new ones (one JSON line each with -o json)."""
    with handled(output):
        client = Client()
        params = {
            "vault": vault,
            "endpoint": endpoint,
            "principal": principal,
            "decision": decision,
            "code": code,
            "action": action,
            "since": _parse_time(since),
            "until": _parse_time(until),
        }
        events = client.get("/audit", limit=limit, **params)
        if not follow:
            emit(events if output == OutputFormat.json else [_fmt(e) for e in events], output, COLUMNS)
            return
        after = 0
        for ev in events:
            _print_line(ev, output)
            after = max(after, ev["seq"])
        try:
            while True:
                time.sleep(0.5)
                for ev in client.get("/audit", limit=1000, after=after, **params):
                    _print_line(ev, output)
                    after = max(after, ev["seq"])
        except KeyboardInterrupt:
            return


def _print_line(ev: dict[str, Any], output: OutputFormat) -> None:
    if output == OutputFormat.json:
        sys.stdout.write(json.dumps(ev, sort_keys=True) + "\n")
    else:
        e = _fmt(ev)
        sys.stdout.write(
            " ".join(str(e.get(c, "-") if e.get(c) is not None else "-") for c in COLUMNS) + "\n"
        )
    sys.stdout.flush()
